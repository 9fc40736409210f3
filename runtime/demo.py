"""`convflow demo`: the quick start's main job, one command end to end.

train a zoo model on its bundled data -> export QONNX -> compile (HLS + RTL + estimate) -> run the test split on
every backend that can run here -> build an ECP5 bitstream with the open tools -> print one table: accuracy,
bit-exactness per backend, cycles per frame (estimated and measured in RTL simulation), utilisation, Fmax.
Exits non-zero if any backend is not bit-exact with the reference.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

DEMO_BACKENDS = ("qonnx", "csim", "rtlsim", "device", "gpu")
DEMO_OPTIONS = {"device": {"port": "sim"}}      # the simulated board: the artifact's board top behind a pty


def _step(message: str) -> None:
    """A step line on stderr (stdout is for the summary); none under --quiet."""
    import sys

    from convflow.hw.console import is_quiet

    if not is_quiet():
        print(message, file=sys.stderr)


def _train(model: str, zoo_dir: Path, quick: bool) -> dict:
    record_path = zoo_dir / f"{model}.json"
    if record_path.is_file() and (zoo_dir / f"{model}.onnx").is_file():
        record = json.loads(record_path.read_text())
        if bool(record.get("quick")) == quick:
            _step(f"[1/5] train: reusing {zoo_dir} (delete it to retrain)")
            return record
    from convflow.hw.console import is_quiet
    from convflow.models.train import train

    _step(f"[1/5] train: {model}{' (quick)' if quick else ''}")
    return train(model, str(zoo_dir), quick=quick, seed=0, progress=not is_quiet())


def run_demo(model: str, out: Path, quick: bool = False, bitstream: bool = True, count: int | None = None,
             as_json: bool = False) -> int:
    from convflow.compiler.compile import compile_model
    from convflow.models.data import load_dataset
    from convflow.models.zoo import ZOO
    from convflow.runtime.backends import available_backends
    from convflow.runtime.session import Session
    from convflow.runtime.verify import verify

    out = Path(out)
    spec = ZOO[model]
    record = _train(model, out / "zoo" / model, quick)

    _step("[2/5] compile: QONNX -> integer IR -> HLS C++ + Verilog + ONNX + estimate")
    started = time.perf_counter()
    artifact = compile_model(out / "zoo" / model / f"{model}.onnx", out / "artifact", name=model,
                             dataset=spec.dataset)
    compile_s = time.perf_counter() - started

    _, _, x_test, y_test = load_dataset(spec.dataset)
    if count:
        x_test, y_test = x_test[:count], y_test[:count]
    backends = [b for b in DEMO_BACKENDS if b in available_backends()]
    _step(f"[3/5] run {len(x_test)} test images on reference, {', '.join(backends)}")
    expected, results = verify(artifact, x_test, backends, labels=y_test, options=DEMO_OPTIONS)

    report = None
    if bitstream:
        _step("[4/5] bitstream: yosys -> nextpnr-ecp5 -> ecppack (ULX3S 85F)")
        from convflow.hw.errors import ConvflowError
        from convflow.hw.flows.ecp5 import build

        try:
            report = build(artifact, board="ulx3s-85f")
        except ConvflowError as exc:
            _step(f"      bitstream failed: {exc}")
            report = {"error": str(exc)}
    else:
        _step("[4/5] bitstream: skipped (--no-bitstream)")

    _step("[5/5] summary")
    estimate = Session(artifact).artifact.manifest.get("estimate") or {}
    summary = {
        "model": model, "dataset": spec.dataset, "training": record,
        "backends": [{"backend": r.backend, "exact": r.exact, "accuracy": r.accuracy, "seconds": r.seconds,
                      "error": r.error, "differing_samples": r.differing_samples, "stats": r.stats}
                     for r in results],
        "estimate": {k: estimate.get(k) for k in ("cycles_per_frame", "totals", "bottleneck")},
        "bitstream": report}
    text = json.dumps(summary, indent=1, default=_plain)
    (out / "summary.json").write_text(text + "\n")
    print(text if as_json else summary_table(model, spec.dataset, record, results, estimate, report, compile_s))
    failed = [r.backend for r in results if not r.exact]
    if failed:
        import sys
        print(f"NOT bit-exact: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _plain(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


def summary_table(model, dataset, record, results, estimate, report, compile_s) -> str:
    lines = [f"model {model} on {dataset}: QKeras test accuracy {100 * record['test_accuracy']:.2f}% "
             f"({record.get('epochs')} epochs); compile {compile_s:.1f} s"]
    lines.append(f"{'backend':<10} {'bit-exact':<12} {'accuracy':>9} {'time/s':>8}  notes")
    for r in results:
        exact = "oracle" if r.backend == "reference" else ("yes" if r.exact else ("ERROR" if r.error else "NO"))
        acc = f"{100 * r.accuracy:.2f}%" if r.accuracy is not None else "-"
        note = r.error or ""
        if r.backend == "rtlsim" and r.exact:
            note = (f"{r.stats.get('cycles_per_frame', 0):.0f} cycles/frame measured, "
                    f"latency {r.stats.get('latency_cycles')} cycles")
        elif r.backend == "device" and r.exact:
            note = (f"simulated board over its UART: latency {r.stats.get('latency_cycles')} cycles on chip, "
                    f"{r.stats.get('link_frames_per_second', 0):.0f} frames/s through the link")
        elif r.backend == "gpu" and r.exact:
            note = (f"{r.stats.get('provider')}: {r.stats.get('latency_ms', 0):.3f} ms at batch 1, "
                    f"{r.stats.get('frames_per_second', 0):,.0f} frames/s at batch {r.stats.get('best_batch')}")
        elif r.backend != "reference" and not r.exact and not r.error:
            note = f"{r.differing_samples} inputs differ, first #{r.first_difference}"
        lines.append(f"{r.backend:<10} {exact:<12} {acc:>9} {r.seconds:>8.2f}  {note}")
    if estimate:
        t = estimate.get("totals", {})
        # the estimate prices the accelerator alone; the bitstream below adds the UART board top
        lines.append(f"estimate (accelerator, no tools run): {estimate.get('cycles_per_frame'):,} cycles/frame "
                     f"(bottleneck {estimate.get('bottleneck')}); ECP5 LUT4 {t.get('lut', 0):,.0f}, FF {t.get('ff', 0):,.0f}, "
                     f"MULT18X18D {t.get('dsp', 0):,.0f}, EBR {t.get('bram', 0):,.0f}")
    if report and "error" not in report:
        res = report["resources"]
        clock = report["clock"]
        fmax = clock.get("fmax_mhz")
        measured = [r.stats.get("cycles_per_frame") for r in results if r.backend == "rtlsim" and r.exact]
        cycles = (measured or [None])[0] or estimate.get("cycles_per_frame")
        fps = f", {fmax * 1e6 / cycles:,.0f} frames/s at Fmax" if fmax and cycles else ""
        lines.append(f"bitstream {report['device']} ({report['board']}): "
                     + ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in res.items() if k != "IO")
                     + f"; Fmax {fmax} MHz (clock {clock['design_mhz']} MHz){fps}; "
                     f"{report['times_s'].get('total')} s")
    elif report:
        lines.append(f"bitstream: {report['error']}")
    return "\n".join(lines)
