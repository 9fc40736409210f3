"""`convflow report ART`: what a compiled design is -- per layer its folding (PE, SIMD), cycles per frame and
estimated resources, the frame rate at the stated clock and the bottleneck, a picture of the dataflow graph, and,
where Vitis HLS has run csynth in the artifact's hls/ project, Vitis's own figures beside the estimate -- printed
as a table and written as report.json, report.png and a self-contained report.html.

    report = build_report(Artifact.load("build/art"))
    paths = write_report(report, "build/art/report")      # the default folder: the artifact's report/

The estimate's resources are ECP5 figures (compiler/estimate.py prices the RTL for the open ECP5 flow): LUT4, FF,
MULT18X18D ("DSP") and EBR (18 kbit block RAM); the Xilinx part named for the Vitis HLS project has other
primitives (LUT6, DSP48, BRAM_18K), which only csynth's report gives.

An artifact's files are hashed in its manifest (hw/integrity.py); report/ is not one of them (Artifact.load checks
the recorded files only, and hw/safe_output.py counts report/ as convflow's when a compile replaces the artifact),
so writing a report never breaks an artifact.  Each file is written through a temporary file and one rename.
"""
from __future__ import annotations

from pathlib import Path

from .compare import _fmt
from .report_files import write_report_files

REPORT_VERSION = 1
TEMPLATE = "report.html.j2"
REPORT_DIR = "report"          # inside the artifact, by default
# the estimate's resource keys -> the ECP5 primitive each counts
ECP5_NAMES = {"lut": "LUT4", "ff": "FF", "dsp": "MULT18X18D", "bram": "EBR"}
DEVICE_NOTE = ("resources are convflow's estimate for Lattice ECP5 (LUT4, FF, MULT18X18D as DSP, EBR = 18 kbit "
               "block RAM)")


def build_report(artifact) -> dict:
    """The report of a loaded Artifact as plain data (what report.json holds)."""
    from convflow.hw.flows.vitis import find_csynth, parse_csynth

    manifest = artifact.manifest
    est = manifest.get("estimate") or {}
    folding = manifest.get("folding") or {}
    clock = folding.get("clock_mhz") or est.get("clock_mhz")
    stage_node = {s.get("label"): s.get("node") for s in est.get("stages", [])}
    per_layer = {row["name"]: row for row in est.get("layers", [])}
    graph_nodes = {node.name: node for node in artifact.graph.nodes}
    layers = []
    for layer in manifest.get("layers", []):
        row = per_layer.get(layer["name"], {})
        node = graph_nodes.get(layer["name"])
        layers.append({"name": layer["name"], "op": layer["op"], "inputs": layer.get("inputs", []),
                       "output": node.output if node is not None else None,
                       "output_shape": layer.get("output_shape"), "output_type": layer.get("output_type"),
                       "pe": row.get("pe"), "simd": row.get("simd"), "cycles": row.get("cycles"),
                       **{k: row.get(k) for k in ECP5_NAMES}})
    bottleneck = est.get("bottleneck")
    slowest = max((r for r in layers if r["cycles"] is not None), key=lambda r: r["cycles"], default=None)
    part = manifest.get("part")
    vitis = None
    if "hls" in (manifest.get("sources") or {}):
        csynth = find_csynth(artifact.path / manifest["sources"]["hls"])
        vitis = parse_csynth(csynth) if csynth else None
    return {
        "format_version": REPORT_VERSION,
        "model": manifest.get("model"), "artifact": str(artifact.path),
        "input": {"name": artifact.graph.input, "shape": list(artifact.graph.input_tensor.shape),
                  "type": str(artifact.graph.input_tensor.dtype)},
        "layers": layers,
        "totals": est.get("totals"),
        "cycles_per_frame": est.get("cycles_per_frame"),
        "clock_mhz": clock,
        "fps": clock * 1e6 / est["cycles_per_frame"] if clock and est.get("cycles_per_frame") else None,
        "bottleneck": {"stage": bottleneck, "layer": stage_node.get(bottleneck),
                       "slowest_layer": slowest["name"] if slowest else None},
        "binding": folding.get("binding"),
        "device_family": "ECP5", "device_note": DEVICE_NOTE,
        "xilinx_part": part,
        "softmax": (artifact.graph.host.output.softmax if artifact.graph.host is not None else None),
        "notes": manifest.get("notes", []),
        "vitis": vitis,
    }


def table(report: dict) -> str:
    """The terminal table: units on every number, the device family named."""
    head = (f"{'layer':<28} {'op':<10} {'PE':>4} {'SIMD':>5} {'cycles/frame':>13} {'LUT4':>8} {'FF':>8} "
            f"{'DSP':>5} {'EBR':>5}")
    lines = [f"report: {report['model']} ({report['artifact']})", head, "-" * len(head)]
    for r in report["layers"]:
        cells = [_cell(r[k]) for k in ("lut", "ff", "dsp", "bram")]
        lines.append(f"{r['name'][:28]:<28} {r['op'][:10]:<10} {_cell(r['pe']):>4} {_cell(r['simd']):>5} "
                     f"{_cell(r['cycles']):>13} {cells[0]:>8} {cells[1]:>8} {cells[2]:>5} {cells[3]:>5}")
    totals = report.get("totals")
    if totals:
        lines.append(f"{'accelerator':<28} {'':<10} {'':>4} {'':>5} {_cell(report['cycles_per_frame']):>13} "
                     f"{_cell(totals['lut']):>8} {_cell(totals['ff']):>8} {_cell(totals['dsp']):>5} "
                     f"{_cell(totals['bram']):>5}")
    else:
        why = next((n for n in report["notes"] if n.startswith("no hardware plan")), "no estimate in the manifest")
        lines.append(f"no hardware estimate: {why} (the reference and gpu backends still run it)")
    lines.append(f"units: cycles per frame; {report['device_note']}; the Vitis HLS project targets Xilinx "
                 f"{report['xilinx_part']} (csynth gives its LUT/FF/DSP/BRAM_18K)")
    if report["fps"]:
        b = report["bottleneck"]
        where = f"stage {b['stage']}" + (f" of layer {b['layer']}" if b.get("layer") else "")
        lines.append(f"{report['cycles_per_frame']:,} cycles/frame = {report['fps']:,.0f} frames/s at "
                     f"{report['clock_mhz']:g} MHz; bottleneck: {where}" +
                     (f"; limited by {report['binding']}" if report.get("binding") else ""))
    if report.get("softmax"):
        lines.append(f"final softmax {report['softmax']!r} runs on the host (Session.predict applies it)")
    v = report.get("vitis")
    if v:
        res = ", ".join(f"{k} {_cell(n)}" for k, n in v["resources"].items() if n is not None)
        lat = v["latency_cycles"]
        lines.append(f"Vitis HLS csynth ({v['part'] or 'part ?'}): latency {_cell(lat[0])}..{_cell(lat[1])} "
                     f"cycles, interval {_cell(v['interval_cycles'][0])}..{_cell(v['interval_cycles'][1])} "
                     f"cycles, clock {_cell(v['estimated_clock_ns'])} ns estimated (target "
                     f"{_cell(v['target_clock_ns'])} ns); {res}")
    else:
        lines.append("Vitis HLS: csynth has not run in this artifact's hls/ project (`convflow build --flow vitis` "
                     "where vitis_hls is installed)")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}"
    return f"{int(value):,}"


def graph_picture(report: dict, path: Path) -> Path:
    """PNG of the dataflow graph: one box per layer (name, op, PE x SIMD, cycles/frame), arrows along the
    streams, layers placed by their depth from the input (branches side by side), the bottleneck layer red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    names = {r["name"]: i for i, r in enumerate(layers)}
    depth, column, placed, edges = {None: 0}, {}, {}, []
    for i, r in enumerate(layers):
        srcs = [_producer_of(t, layers[:i], names) for t in r["inputs"]]
        edges += [(j, i) for j in srcs]
        depth[i] = 1 + max(depth[j] for j in srcs) if srcs else 1
        column[i] = placed.get(depth[i], 0)
        placed[depth[i]] = column[i] + 1
    width = max(placed.values(), default=1)
    rows = max(depth.values()) + 1
    fig_h = max(3.0, 0.75 * rows)
    fig, ax = plt.subplots(figsize=(max(5.0, 3.2 * width), fig_h), dpi=100)
    pos = {None: ((width - 1) / 2, 0)}
    for i in range(len(layers)):
        offset = (width - placed[depth[i]]) / 2
        pos[i] = (column[i] + offset, -depth[i])
    slow = report["bottleneck"].get("layer") or report["bottleneck"].get("slowest_layer")
    for j, i in edges:
        (x0, y0), (x1, y1) = pos[j], pos[i]
        ax.annotate("", xy=(x1, y1 + 0.28), xytext=(x0, y0 - 0.28),
                    arrowprops=dict(arrowstyle="->", color="#555", lw=1.0))
    x0, y0 = pos[None]
    inp = report["input"]
    ax.text(x0, y0, f"input {inp['name']}\n{'x'.join(map(str, inp['shape']))} {inp['type']}", ha="center",
            va="center", fontsize=7, bbox=dict(boxstyle="round", fc="#eef3fb", ec="#4c72b0"))
    for i, r in enumerate(layers):
        fold = f" PE={r['pe']} SIMD={r['simd']}" if r["pe"] else ""
        cyc = f"\n{r['cycles']:,} cycles/frame" if r["cycles"] is not None else ""
        colour = ("#fbeaea", "#c44e52") if r["name"] == slow else ("#f4f4f4", "#777")
        ax.text(*pos[i], f"{r['name']}\n{r['op']}{fold}{cyc}", ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round", fc=colour[0], ec=colour[1]))
    ax.set_xlim(-0.7, width - 0.3)
    ax.set_ylim(-rows + 0.4, 0.6)
    ax.axis("off")
    fps = f", {report['fps']:,.0f} frames/s at {report['clock_mhz']:g} MHz" if report["fps"] else ""
    ax.set_title(f"{report['model']}: dataflow graph{fps} (red: bottleneck)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _producer_of(tensor: str, earlier: list, names: dict):
    """The index of the layer among ``earlier`` that writes ``tensor`` (None: the model input), from the layers'
    ``output`` tensor names."""
    for j in range(len(earlier) - 1, -1, -1):
        if earlier[j].get("output") == tensor:
            return j
    return None


def write_report(report: dict, out_dir) -> dict:
    """report.json, report.png and report.html (self-contained: the picture inline) into out_dir; their paths."""
    return write_report_files(report, out_dir, "report", graph_picture, TEMPLATE, fmt=_fmt, cell=_cell)
