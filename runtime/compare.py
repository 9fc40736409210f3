"""`convflow compare`: the same inputs through several backends, side by side -- accuracy, bit-exactness against the
reference (the count of differing outputs), latency and throughput per backend, and for the FPGA the frames per
second its measured cycles give at the achieved clock -- written as JSON, a PNG chart and a self-contained HTML
report (the chart embedded, per-layer cycles and resources of the estimate, the bitstream's utilisation).

    report = compare(artifact, x, ["reference", "csim", "rtlsim", "gpu"], labels=y)
    paths = write_report(report, "build/compare")

Latency is the wall-clock time of one input on this host (batch 1), throughput the frames per second of the whole
batch (the gpu backend reports its best batch size; the device backend its link, and the board's own cycle counts).
The "fpga" row is derived, not run: rtlsim's cycles per frame (steady state) and latency at the Fmax of
``bitstream/report.json`` (or, without a bitstream, at the estimate's clock, and said so).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from convflow.hw.console import progress

from .report_files import write_report_files
from .session import Session
from .verify import compare as count_differences

REPORT_VERSION = 1
TEMPLATE = "compare.html.j2"


@dataclass
class Row:
    backend: str
    samples: int
    exact: bool | None = None           # None for the reference itself
    differing_outputs: int = 0
    differing_samples: int = 0
    first_difference: int | None = None
    accuracy: float | None = None
    seconds: float | None = None        # the whole batch
    latency_ms: float | None = None     # one input, this host
    frames_per_second: float | None = None
    note: str = ""
    stats: dict = field(default_factory=dict)
    error: str | None = None


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _accuracy(outputs, labels):
    if labels is None or outputs.ndim != 2:
        return None
    return float(np.mean(outputs.argmax(axis=1) == np.asarray(labels)))


def _run_backend(artifact, name: str, x: np.ndarray, expected: np.ndarray, labels, options: dict) -> Row:
    row = Row(name, len(x))
    try:
        with Session(artifact, name, **options) as session:
            t0 = time.perf_counter()
            got = session.run(x)
            row.seconds = time.perf_counter() - t0
            stats = dict(session.stats)
            if name == "gpu" and stats.get("latency_ms") is not None:
                row.latency_ms, row.frames_per_second = stats["latency_ms"], stats["frames_per_second"]
            else:
                t1 = time.perf_counter()
                session.run(x[:1])
                row.latency_ms = 1e3 * (time.perf_counter() - t1)
                row.frames_per_second = len(x) / row.seconds if row.seconds > 0 else None
                stats = {**stats, **{k: v for k, v in session.stats.items() if k not in stats}}
    except Exception as exc:       # a backend that cannot run here is reported by name, with why
        row.error = f"{type(exc).__name__}: {exc}"
        return row
    row.stats = {k: v for k, v in stats.items() if np.isscalar(v) or isinstance(v, dict)}
    if name == "reference":
        row.accuracy = _accuracy(got, labels)
        return row
    row.differing_samples, row.differing_outputs, row.first_difference = count_differences(expected, got)
    row.exact = row.differing_outputs == 0
    row.accuracy = _accuracy(got, labels) if row.exact or np.issubdtype(got.dtype, np.integer) else None
    row.note = _note(name, stats)
    return row


def _note(name: str, stats: dict) -> str:
    if name == "rtlsim" and "cycles_per_frame" in stats:
        return f"{stats['cycles_per_frame']:.0f} cycles/frame, latency {stats.get('latency_cycles')} cycles"
    if name == "device" and "latency_cycles" in stats:
        clock = stats.get("clock_mhz")
        on_chip = f" ({stats['latency_cycles'] / clock:.1f} us at {clock:g} MHz)" if clock else ""
        return (f"on chip: latency {stats['latency_cycles']} cycles{on_chip}; link "
                f"{stats.get('link_frames_per_second', 0):.0f} frames/s, {stats.get('resent', 0)} resent")
    if name == "gpu" and "provider" in stats:
        return f"{stats['provider']}, best batch {stats.get('best_batch')}"
    return ""


def fpga_row(artifact, rtlsim: Row | None) -> Row | None:
    """Frames/s and latency implied by rtlsim's measured cycles at the bitstream's Fmax (or the estimate's clock)."""
    if rtlsim is None or rtlsim.error or "cycles_per_frame" not in rtlsim.stats:
        return None
    report = _bitstream_report(artifact)
    fmax = (report or {}).get("clock", {}).get("fmax_mhz")
    estimate = artifact.manifest.get("estimate") or {}
    mhz, source = (fmax, f"Fmax {fmax} MHz of bitstream/report.json ({report.get('device')})") if fmax else \
        (estimate.get("clock_mhz"), f"no bitstream yet: at the estimate's {estimate.get('clock_mhz')} MHz")
    if not mhz:
        return None
    cycles = float(rtlsim.stats["cycles_per_frame"])
    latency = rtlsim.stats.get("latency_cycles")
    return Row("fpga", rtlsim.samples, exact=rtlsim.exact, differing_outputs=rtlsim.differing_outputs,
               differing_samples=rtlsim.differing_samples, accuracy=rtlsim.accuracy,
               latency_ms=latency / (mhz * 1e3) if latency else None, frames_per_second=mhz * 1e6 / cycles,
               note=f"rtlsim cycles ({cycles:.0f}/frame) at {source}",
               stats={"clock_mhz": mhz, "cycles_per_frame": cycles, "from_bitstream": bool(fmax)})


def _bitstream_report(artifact) -> dict | None:
    path = Path(artifact.path) / "bitstream" / "report.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def compare(artifact, x: np.ndarray, backends: list, labels=None, options: dict | None = None,
            inputs_desc: str = "") -> dict:
    """Run ``x`` through ``backends`` (the reference always first); returns the report as a plain dict."""
    options = options or {}
    reference = Session(artifact, "reference")
    artifact = reference.artifact
    x = reference.quantize_input(x)
    expected = reference.run(x)
    names = ["reference"] + [b for b in backends if b != "reference"]
    bar = progress(names, desc="compare", unit="backend")
    rows = []
    for name in bar:
        bar.set_description(f"compare: {name}")
        rows.append(_run_backend(artifact, name, x, expected, labels, options.get(name, {})))
    fpga = fpga_row(artifact, next((r for r in rows if r.backend == "rtlsim"), None))
    if fpga:
        rows.append(fpga)
    manifest = artifact.manifest
    estimate = manifest.get("estimate") or {}
    layers = []
    for layer in manifest.get("layers", []):
        est = layer.get("estimate") or {}
        layers.append({"name": layer.get("name"), "op": layer.get("op"), "output_shape": layer.get("output_shape"),
                       "output_type": layer.get("output_type"), "folding": layer.get("folding"),
                       "cycles": est.get("cycles"), "lut": est.get("lut"), "ff": est.get("ff"),
                       "dsp": est.get("dsp"), "bram": est.get("bram")})
    bitstream = _bitstream_report(artifact)
    return _plain({
        "format_version": REPORT_VERSION,
        "model": manifest.get("model"), "artifact": str(artifact.path), "inputs": len(x),
        "inputs_desc": inputs_desc, "labels": labels is not None,
        "backends": [asdict(r) for r in rows],
        "layers": layers,
        "estimate": {k: estimate.get(k) for k in ("cycles_per_frame", "bottleneck", "clock_mhz", "totals")},
        "bitstream": {k: bitstream.get(k) for k in ("device", "board", "resources", "clock", "uart")}
        if bitstream else None,
    })


def mismatches(report: dict) -> list:
    """Backends that ran and are not bit-exact with the reference."""
    return [r["backend"] for r in report["backends"] if r["exact"] is False and r["backend"] != "fpga"]


def table(report: dict) -> str:
    """The terminal table: one line per backend, units on every number."""
    lines = [f"compare: {report['model']}, {report['inputs']} inputs ({report['inputs_desc']})",
             f"{'backend':<10} {'bit-exact':<22} {'accuracy':>9} {'latency':>12} {'throughput':>16}  notes"]
    for r in report["backends"]:
        if r["error"]:
            lines.append(f"{r['backend']:<10} {'ERROR':<22} {'-':>9} {'-':>12} {'-':>16}  {r['error']}")
            continue
        exact = ("oracle" if r["backend"] == "reference" else
                 "yes (0 differ)" if r["exact"] else f"NO ({r['differing_outputs']} outputs differ)")
        acc = f"{100 * r['accuracy']:.2f}%" if r["accuracy"] is not None else "-"
        lat = f"{r['latency_ms']:.3f} ms" if r["latency_ms"] is not None else "-"
        fps = f"{r['frames_per_second']:,.0f} frames/s" if r["frames_per_second"] else "-"
        lines.append(f"{r['backend']:<10} {exact:<22} {acc:>9} {lat:>12} {fps:>16}  {r['note']}")
    return "\n".join(lines)


def chart(report: dict, path: Path) -> Path:
    """PNG: throughput and latency per backend (log scales), bars coloured by bit-exactness."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["backends"] if not r["error"]]
    names = [r["backend"] for r in rows]
    colours = ["#4c72b0" if r["backend"] == "reference" else "#55a868" if r["exact"] else "#c44e52" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    for ax, key, label in ((axes[0], "frames_per_second", "throughput (frames/s)"),
                           (axes[1], "latency_ms", "latency, batch 1 (ms)")):
        values = [r[key] or 0 for r in rows]
        ax.bar(names, values, color=colours)
        if any(v > 0 for v in values):
            ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=30)
        for i, v in enumerate(values):
            if v:
                ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"{report['model']}: {report['inputs']} inputs (green: bit-exact, red: differs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def write_report(report: dict, out_dir) -> dict:
    """compare.json, compare.png and compare.html (self-contained: the PNG inline) into out_dir; returns paths."""
    return write_report_files(report, out_dir, "compare", chart, TEMPLATE, fmt=_fmt, pct=_pct)


def _fmt(value, digits: int = 3, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
