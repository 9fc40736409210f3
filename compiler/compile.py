"""`convflow compile`: model file -> artifact directory.

load (qonnx clean-up) -> lower to the integer IR -> the passes of PASSES, in order -> choose folding -> the dataflow
plan -> estimate -> write manifest.json, weights.npz, source.onnx (the cleaned source model, for the qonnx backend),
hls/ and rtl/ (both printed from the one plan) and gpu/ (the exact ONNX export).
The artifact is written into a staging folder beside the target and moved into place only when complete
(hw/safe_output.py: nothing half-written is left, and nothing convflow did not write is deleted).
"""
from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import numpy as np

from convflow.compiler.dataflow.folding import DEFAULT_MARGIN, ecp5_budget, fold
from convflow.compiler.emit.hls import write_hls_project
from convflow.compiler.emit.onnx import write_onnx
from convflow.compiler.emit.rtl import write_rtl
from convflow.compiler.frontend.load import file_hash, load_model
from convflow.compiler.frontend.lower import lower
from convflow.compiler.ir.graph import Graph
from convflow.compiler.ir.serialize import FORMAT_VERSION, MANIFEST, WEIGHTS, graph_to_dict, tensor_to_dict
from convflow.compiler.passes.absorb_into_accumulator import absorb_into_accumulator
from convflow.compiler.passes.dequantize_output import dequantize_output
from convflow.compiler.passes.flip_decreasing_channels import flip_decreasing_channels
from convflow.compiler.passes.fold_pads import fold_pads
from convflow.compiler.passes.infer_bitwidths import infer_bitwidths
from convflow.compiler.passes.requantize_to_thresholds import requantize_to_thresholds
from convflow.hw import VERSION
from convflow.hw.errors import FoldingError, UnsupportedOp
from convflow.hw.flows.vitis import DEFAULT_PART
from convflow.hw.integrity import hash_tree
from convflow.hw.safe_output import ARTIFACT, OutputTarget

# The passes from the lowered graph to the integer IR an artifact holds, in order (each: graph -> graph).
PASSES = (
    absorb_into_accumulator,     # exact float ops after a layer -> its integer bias and accumulator scale
    flip_decreasing_channels,    # decreasing float paths -> negated channels
    requantize_to_thresholds,    # every Requantize -> Threshold or Shift
    dequantize_output,           # float ops after the last layer -> the output's scale and offset (host)
    fold_pads,                   # a Pad before a window -> that window's padding
    infer_bitwidths,             # every computed tensor -> the smallest type holding its range
)


def import_model(source, name: str | None = None, float_input=None) -> tuple:
    """Model file (or onnx.ModelProto, or Keras model object) -> (integer IR graph with bit widths, no folding yet;
    the cleaned QONNX model it came from).  The name defaults to the file's stem, or a Keras model's own name."""
    model = load_model(source)
    name = name or (Path(source).stem if isinstance(source, (str, Path)) else getattr(source, "name", None)
                    or "model")
    graph = lower(model, name, float_input)
    for compile_pass in PASSES:
        graph = compile_pass(graph)
    if isinstance(source, (str, Path)):
        graph.meta["source_path"] = Path(source).name     # named in generated files' banners
    return graph, model


def emit_sources(graph: Graph, out_dir, plan, part: str = DEFAULT_PART, keys=("hls", "rtl", "gpu")) -> tuple:
    """Print ``plan`` (None: it could not be built; the last note says why) into out_dir/hls and out_dir/rtl, and
    the integer IR as an exact ONNX graph into out_dir/gpu (what the gpu backend runs).  Returns ({key: folder},
    {key: why not}) -- one backend not covering a layer does not stop the others: the artifact records why, and
    that backend's Session raises the message."""
    printers = {"hls": lambda folder: write_hls_project(graph, folder, part=part, model_name=graph.name, plan=plan),
                "rtl": lambda folder: write_rtl(graph, folder, model_name=graph.name, plan=plan),
                "gpu": lambda folder: write_onnx(graph, folder, model_name=graph.name)}
    sources, unavailable = {}, {}
    for key in keys:
        if plan is None and key != "gpu":
            unavailable[key] = graph.meta["notes"][-1]
            continue
        try:
            printers[key](Path(out_dir) / key)
            sources[key] = key
        except UnsupportedOp as exc:
            shutil.rmtree(Path(out_dir) / key, ignore_errors=True)
            unavailable[key] = str(exc)
            graph.meta["notes"].append(f"no {key} sources: {exc}")
    return sources, unavailable


def layer_table(graph: Graph, estimate: dict | None) -> list:
    per_layer = {row["name"]: row for row in (estimate or {}).get("layers", [])}
    rows = []
    for node in graph.nodes:
        out = graph.tensors[node.output]
        row = {"name": node.name, "op": node.op, "inputs": [graph.tensors[i].name for i in node.inputs],
               "output_shape": list(out.shape), "output_type": str(out.dtype)}
        if node.has_mvu:
            row["folding"] = {"pe": node.pe, "simd": node.simd}
        if node.name in per_layer:
            row["estimate"] = per_layer[node.name]
        rows.append(row)
    return rows


def compile_model(source, out_dir, *, name: str | None = None, target_cycles: int | None = None,
                  target_fps: float | None = None, clock_mhz: float | None = None, board: str | None = None,
                  device: str | None = None, fit_margin=DEFAULT_MARGIN, input_pace: float | None = None,
                  folding: dict | None = None, part: str = DEFAULT_PART, float_input=None,
                  emit_hls: bool = True, emit_rtl: bool = True, dataset: str | None = None,
                  force: bool = False) -> Path:
    """Compile ``source`` into the artifact directory ``out_dir``.  Returns its path.  An existing artifact there
    is replaced atomically; any other non-empty folder is refused unless ``force`` (hw/safe_output.py).

    The folding (dataflow/folding.py): ``board`` (hw/boards) or ``device`` (a bare ECP5 part) folds the design to
    fit ``fit_margin`` of the part's resources (a fraction, or "0.9,LUT4=0.75": folding.parse_margin), board top
    included, at the highest frame rate it reaches;
    ``target_fps`` (at ``clock_mhz``, default 100) or ``target_cycles`` folds it as cheaply as meets the target
    (and, with a board or device, checks that it fits: DesignDoesNotFit); with none of these the layers are folded
    for the input interface's pace, ``input_pace`` elements per cycle (default 1).  ``folding`` maps layer names
    to (pe, simd) kept as given.  ``dataset`` names the bundled data set the model was trained on (run/verify then
    default to its test split)."""
    out_dir = Path(out_dir)
    graph, source_onnx = import_model(source, name, float_input)
    if input_pace is not None:
        graph.meta["input_pace"] = float(input_pace)
    notes = graph.meta.setdefault("notes", [])
    budget = None
    if board or device:
        t = graph.input_tensor
        budget = ecp5_budget(board=board, device=device, margin=fit_margin,
                             frame=(int(np.prod(t.shape)), t.dtype.bits))
    try:
        chosen = fold(graph, target_cycles=target_cycles, target_fps=target_fps, clock_mhz=clock_mhz,
                      budget=budget, overrides=folding)
        plan, estimate = chosen.plan, chosen.estimate
        graph.meta["target_cycles"] = chosen.target_cycles
        notes.extend(chosen.notes)
    except FoldingError:
        raise
    except UnsupportedOp as exc:          # an op with no hardware stage: the artifact still runs on the reference
        chosen, plan, estimate = None, None, None
        notes.append(f"no hardware plan: {exc}")
    keys = [key for key, wanted in (("hls", emit_hls), ("rtl", emit_rtl), ("gpu", True)) if wanted]

    output = OutputTarget(out_dir, ARTIFACT, inputs=[source] if isinstance(source, (str, Path)) else [], force=force)
    staging = output.stage()
    try:
        source_onnx.save(str(staging / "source.onnx"))
        sources, unavailable = emit_sources(graph, staging, plan, part, keys)
        sources["source_onnx"] = "source.onnx"
        desc, arrays = graph_to_dict(graph)
        np.savez(staging / WEIGHTS, **arrays)
        manifest = {
            "format_version": FORMAT_VERSION,
            "convflow_version": VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model": graph.name,
            "source": {"path": str(source) if isinstance(source, (str, Path)) else None,
                       "sha256": file_hash(Path(source)) if isinstance(source, (str, Path)) else None},
            "input": tensor_to_dict(graph.input_tensor),
            "output": tensor_to_dict(graph.output_tensor),
            "part": part,
            "dataset": dataset,
            "target_cycles": graph.meta.get("target_cycles"),
            "folding": chosen.to_dict() if chosen is not None else None,
            "layers": layer_table(graph, estimate),
            "estimate": estimate,
            "notes": notes,
            "weights": WEIGHTS,
            "sources": sources,
            "sources_unavailable": unavailable,
            "graph": desc,
            "files": hash_tree(staging),     # sha256 of every file written above: loaders check before use
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n")
        output.publish(staging)
    except BaseException as exc:
        raise output.abandon(staging, exc)
    return out_dir


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
