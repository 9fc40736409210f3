"""Fold to fit, measured: every zoo model and every ../shared/models file compiled with `--board ulx3s-85f` and no
other option, then simulated (rtlsim) and built into a bitstream (yosys, nextpnr-ecp5, ecppack), or the error that
says why no folding fits.  Prints a table and writes JSON.

Per model:
    fit          the folding search's choice: cycles/frame, the binding resource, the estimate (board top included)
    rtlsim       cycles/frame measured in Verilator, and measured / estimated (the target: within 5 %)
    placed       nextpnr's LUT4 / FF / MULT18X18D / EBR against the estimate (target: within 15 %) and the Fmax
    slowest stage  the stage whose slowest routed path sets the Fmax (report.json timing_by_stage)
    frames/s     Fmax / measured cycles per frame
    limit        the device's physical limit, M x Fmax / (multiply-accumulates per frame), with M the multipliers
                 the part could hold at this design's own price per multiplier: LUT4 of the part / (LUT4 of the
                 design's LUT-multiplier units / their multipliers), plus the part's MULT18X18D (x2 where the
                 design packs two products a DSP) when it uses DSPs; and frames/s / limit
    input bound  the input interface's own limit, (elements per cycle) x Fmax / (input elements per frame), and
                 frames/s / min(limit, input bound): a small model folded to its input's pace (cnn-digits: 64 pixels
                 at one a cycle) cannot use the part's multipliers however it is folded, so its share of the
                 physical limit is small by construction; this column says how close it is to what it can reach
    FINN         for CNV: (our frames/s per LUT4) / (FINN's CIFAR-10 CNV on a ZC706: 21,906 frames/s, 218k LUT6)

Run (bitstreams take minutes each on two cores; CNV much longer):
    .venv/bin/python benchmarks/fit_boards.py [--models cnn-digits,TFC] [--no-build] [--json OUT]
        [--artifact KEY=DIR]     use an artifact compiled (and built) elsewhere for KEY, e.g. a CNV folded with
                                 --fit-margin 0.92 when none fits the default margin
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from estimate_vs_yosys import placed_vs_estimate          # the script's folder: benchmarks/
from convflow.hw.flows.timing import stage_label

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
ZOO = ("cnn-digits", "mlp-mnist5k", "lenet-fmnist")
FINN_CNV = {"fps": 21906, "lut": 218000, "what": "FINN CIFAR-10 CNV on a ZC706 (218k LUT6)"}


def models(work: Path) -> dict:
    """key -> model file: the zoo (trained quickly, seed 0, into work/zoo) and every shared model file."""
    from convflow.models.train import train

    found = {}
    for name in ZOO:
        folder = work / "zoo" / name
        if not (folder / f"{name}.onnx").is_file():
            train(name, str(folder), quick=True, seed=0, progress=False)
        found[f"zoo/{name}"] = folder / f"{name}.onnx"
    for path in sorted(SHARED.rglob("*")):
        if path.suffix in (".onnx", ".json") and not path.name.endswith("_config.json"):
            found[f"shared/{path.relative_to(SHARED)}"] = path
    return found


def macs_per_frame(graph) -> tuple:
    """(multiply-accumulates per frame, multipliers of the folding) over the matrix-vector layers."""
    from convflow.compiler.dataflow.mvu import is_depthwise, mvu_shape

    macs = mults = 0
    for node in graph.mvu_nodes():
        pixels, kpos, cin, cout = mvu_shape(node, graph)
        macs += pixels * kpos * cin * cout
        mults += node.simd if is_depthwise(node) else node.pe * node.simd
    return macs, mults


def physical_limit(manifest: dict, graph, fmax: float) -> dict:
    from convflow.hw.flows.ecp5_board import part

    est = manifest["estimate"]
    avail = part(manifest["folding"]["budget"]["part"]).resources
    lut_mult_luts = lut_mults = 0
    dsp_products = 1
    uses_dsp = False
    for stage in est["stages"]:
        if stage["kind"] != "cf_mvu":
            continue
        node = next(n for n in graph.nodes if n.name == stage["node"])
        m = node.pe * node.simd
        if stage["dsp"]:
            uses_dsp = True
            dsp_products = max(dsp_products, 2 if node.mult == "dsp2" else 1)
        else:
            lut_mult_luts += stage["lut"]
            lut_mults += m
    macs, mults = macs_per_frame(graph)
    per_mult = lut_mult_luts / lut_mults if lut_mults else None
    capacity = (avail["LUT4"] / per_mult if per_mult else 0) + (avail["MULT18X18D"] * dsp_products if uses_dsp else 0)
    limit = capacity * fmax * 1e6 / macs if macs else None
    # the input interface delivers `pace` elements a cycle: no folding makes frames arrive faster than that
    pace = manifest["folding"].get("input_elements_per_cycle") or 1.0
    input_elements = int(np.prod(manifest["input"]["shape"]))
    input_bound = pace * fmax * 1e6 / input_elements
    return {"macs_per_frame": macs, "multipliers": mults, "lut4_per_lut_multiplier": per_mult,
            "multipliers_the_part_holds": round(capacity), "limit_fps": limit,
            "input_elements_per_cycle": pace, "input_bound_fps": input_bound}


def reusable(artifact: Path, model: Path, board: str, file_hash) -> bool:
    """An artifact from an earlier run of this benchmark, of the same model file folded for the same board and
    already built: measured as it is (its bitstream took minutes)."""
    try:
        manifest = json.loads((artifact / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    budget = (manifest.get("folding") or {}).get("budget") or {}
    return (manifest.get("source", {}).get("sha256") == file_hash(model) and budget.get("board") == board
            and (artifact / "bitstream" / "report.json").is_file())


def measure(key: str, path: Path, work: Path, board: str, build: bool, artifact: Path | None, frames: int) -> dict:
    from convflow.compiler.compile import compile_model
    from convflow.hw.errors import ConvflowError, DesignDoesNotFit
    from convflow.runtime import Session
    from convflow.runtime.artifact import Artifact

    from convflow.compiler.frontend.load import file_hash

    record = {"key": key, "board": board}
    t0 = time.monotonic()
    if artifact is None:
        artifact = work / "artifacts" / key.replace("/", "_")
        if not reusable(artifact, path, board, file_hash):
            try:
                compile_model(path, artifact, board=board, emit_hls=False)
            except DesignDoesNotFit as exc:
                return {**record, "status": "does not fit", "error": str(exc)}
            except ConvflowError as exc:
                return {**record, "status": "does not compile", "error": str(exc)}
            except Exception as exc:          # noqa: BLE001 - a frontend bug in one model: recorded, not fatal
                return {**record, "status": "does not compile", "error": f"{type(exc).__name__}: {exc}"}
    loaded = Artifact.load(artifact)
    manifest = loaded.manifest
    folding = manifest["folding"]
    record.update(status="fits", artifact=str(artifact), options=manifest.get("folding", {}).get("budget"),
                  cycles_estimated=folding["cycles_per_frame"], binding=folding["binding"],
                  bottleneck=folding["bottleneck"], used_percent=folding["used_percent"],
                  folding={r["name"]: [r["pe"], r["simd"]] for r in folding["layers"]}, compile_s=None)
    record["compile_s"] = round(time.monotonic() - t0, 1)
    # rtlsim: cycles per frame without back-pressure
    with Session(artifact, "rtlsim") as session:
        lo, hi = session.input_range
        x = np.random.default_rng(0).integers(lo, hi + 1, size=(frames, *session.input_tensor.shape))
        got = session.run(x)
        reference = Session(artifact, "reference").run(x)
        record["rtlsim_exact"] = bool(np.array_equal(got, reference))
        record["cycles_measured"] = session.stats["cycles_per_frame"]
    record["cycles_ratio"] = round(record["cycles_measured"] / record["cycles_estimated"], 4)
    report_path = artifact / "bitstream" / "report.json"
    if build and not report_path.is_file():
        from convflow.hw.flows.ecp5 import build as build_bitstream

        try:
            build_bitstream(artifact, board=board, clock_mhz=100)
        except ConvflowError as exc:
            record.update(status="build failed", error=str(exc))
            return record
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        fmax = report["clock"]["fmax_mhz"]
        record.update(status="built", fmax_mhz=fmax, build_s=report["times_s"].get("total"),
                      placed=placed_vs_estimate(manifest, report),
                      fps=fmax * 1e6 / record["cycles_measured"])
        stages = report.get("timing_by_stage") or [{}]          # (reports from before it have none)
        record["slowest_stage"] = {k: stages[0].get(k) for k in ("stage", "fmax_mhz", "logic_ns", "routing_ns")}
        record["limit"] = physical_limit(manifest, loaded.graph, fmax)
        if record["limit"]["limit_fps"]:
            record["limit"]["fraction"] = round(record["fps"] / record["limit"]["limit_fps"], 4)
        reachable = min(v for v in (record["limit"]["limit_fps"], record["limit"]["input_bound_fps"]) if v)
        record["limit"]["fraction_of_reachable"] = round(record["fps"] / reachable, 4)
        if "cnv" in key:
            ours = record["fps"] / record["placed"]["LUT4"]["placed"]
            record["finn"] = {**FINN_CNV, "our_fps_per_lut4": ours,
                              "ratio_fps_per_lut": round(ours / (FINN_CNV["fps"] / FINN_CNV["lut"]), 4)}
    return record


def print_table(records: list) -> None:
    head = (f"{'model':<42} {'status':<13} {'cyc est':>9} {'rtlsim':>9} {'ratio':>6} {'Fmax MHz':>9} "
            f"{'frames/s':>11} {'LUT4 est/pnr':>15} {'FF est/pnr':>13} {'DSP':>7} {'EBR':>8} {'limit':>7} "
            f"{'of bound':>8}  slowest stage")
    print(head)
    print("-" * len(head))
    for r in records:
        if r["status"] not in ("fits", "built"):
            print(f"{r['key']:<42} {r['status']:<13} {r['error'][:150]}")
            continue
        line = (f"{r['key']:<42} {r['status']:<13} {r['cycles_estimated']:>9,} {r['cycles_measured']:>9,.0f} "
                f"{r['cycles_ratio']:>6.3f}")
        if r["status"] == "built":
            p = r["placed"]
            line += (f" {r['fmax_mhz']:>9.1f} {r['fps']:>11,.0f} "
                     f"{p['LUT4']['estimate']:>7,}/{p['LUT4']['placed']:<7,} {p['FF']['estimate']:>6,}/"
                     f"{p['FF']['placed']:<6,} {p['MULT18X18D']['estimate']:>3}/{p['MULT18X18D']['placed']:<3} "
                     f"{p['EBR']['estimate']:>3}/{p['EBR']['placed']:<4} "
                     f"{100 * r['limit'].get('fraction', 0):>6.1f}% "
                     f"{100 * r['limit'].get('fraction_of_reachable', 0):>7.1f}%")
            slow = r.get("slowest_stage") or {}
            if slow.get("stage"):
                line += f"  {stage_label(slow['stage'])} ({slow['routing_ns']} ns routing)"
        print(line)
        if r.get("finn"):
            print(f"{'':<42} CNV: {r['fps']:,.0f} frames/s on {r['placed']['LUT4']['placed']:,} LUT4 = "
                  f"{r['finn']['our_fps_per_lut4']:.4f} frames/s per LUT4; FINN {FINN_CNV['fps']:,} frames/s on "
                  f"{FINN_CNV['lut']:,} LUT6 = {FINN_CNV['fps'] / FINN_CNV['lut']:.4f}: ratio "
                  f"{r['finn']['ratio_fps_per_lut']:.3f}")


def main(argv=None) -> int:
    from convflow.runtime.cli import quiet_third_parties

    quiet_third_parties()            # the quick zoo training's Keras warnings stay off the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--models", help="comma-separated substrings of the keys to measure (default: all)")
    parser.add_argument("--no-build", action="store_true", help="fit and simulate only")
    parser.add_argument("--artifact", action="append", default=[], help="KEY=DIR: an artifact compiled elsewhere")
    parser.add_argument("--frames", type=int, default=6, help="rtlsim frames per model")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench-fit")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench-fit" / "fit_boards.json")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.artifact)
    found = models(args.work)
    if args.models:
        wanted = args.models.split(",")
        found = {k: v for k, v in found.items() if any(w in k for w in wanted)}
    records = []
    for key, path in found.items():
        given = next((Path(d) for k, d in overrides.items() if k in key), None)
        print(f"measuring {key} ...", file=sys.stderr, flush=True)
        records.append(measure(key, path, args.work, args.board, not args.no_build, given, args.frames))
        if given is not None:
            records[-1]["note"] = f"artifact given: {given}"
        args.json.parent.mkdir(parents=True, exist_ok=True)           # after every model: a stop loses nothing
        args.json.write_text(json.dumps({"board": args.board, "records": records}, indent=1, default=float) + "\n")
    print_table(records)
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
