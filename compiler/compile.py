"""`convflow compile`: model file -> artifact directory.

load (qonnx clean-up) -> lower to the integer IR -> infer bit widths -> choose folding -> estimate -> write
manifest.json, weights.npz, source.onnx (the cleaned source model, for the qonnx backend), hls/ and rtl/.
The artifact is written into a staging folder beside the target and moved into place only when complete
(hw/safe_output.py: nothing half-written is left, and nothing convflow did not write is deleted).
"""
from __future__ import annotations

import datetime
import importlib
import json
import shutil
from pathlib import Path

import numpy as np

from convflow.compiler.frontend.load import file_hash, load_model
from convflow.compiler.frontend.lower import lower
from convflow.compiler.ir.graph import Graph
from convflow.compiler.ir.serialize import graph_to_dict, tensor_to_dict
from convflow.compiler.passes.choose_folding import choose_folding
from convflow.compiler.passes.infer_bitwidths import infer_bitwidths
from convflow.hw.errors import UnsupportedOp
from convflow.hw.integrity import hash_tree
from convflow.hw.safe_output import ARTIFACT, OutputTarget

FORMAT_VERSION = 1
CONVFLOW_VERSION = "0.1.0"
DEFAULT_PART = "xc7z020clg400-1"


def import_model(source, name: str | None = None, float_input=None) -> Graph:
    """Model file (or onnx.ModelProto) -> integer IR graph with bit widths (no folding yet)."""
    model = load_model(source)
    name = name or (Path(source).stem if isinstance(source, (str, Path)) else "model")
    graph = lower(model, name, float_input)
    graph = infer_bitwidths(graph)
    graph.meta["source_onnx"] = model
    if isinstance(source, (str, Path)):
        graph.meta["source_path"] = Path(source).name     # named in generated files' banners
    return graph


def _optional_emitter(module: str, function: str):
    """The emitter function, or None while that backend is not part of this build."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    return getattr(mod, function)


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
                  folding: dict | None = None, part: str = DEFAULT_PART, float_input=None,
                  emit_hls: bool = True, emit_rtl: bool = True, dataset: str | None = None,
                  force: bool = False) -> Path:
    """Compile ``source`` into the artifact directory ``out_dir``.  Returns its path.  An existing artifact there
    is replaced atomically; any other non-empty folder is refused unless ``force`` (hw/safe_output.py).
    ``dataset`` names the bundled data set the model was trained on (run/verify then default to its test split)."""
    out_dir = Path(out_dir)
    graph = import_model(source, name, float_input)
    source_onnx = graph.meta.pop("source_onnx")
    choose_folding(graph, target_cycles, folding)
    estimate_fn = _optional_emitter("convflow.compiler.estimate", "estimate")
    estimate = None
    if estimate_fn:
        try:
            estimate = estimate_fn(graph)
        except UnsupportedOp as exc:
            graph.meta.setdefault("notes", []).append(f"no cycle/resource estimate: {exc}")

    output = OutputTarget(out_dir, ARTIFACT, inputs=[source] if isinstance(source, (str, Path)) else [], force=force)
    staging = output.stage()
    try:
        sources = {"source_onnx": "source.onnx"}
        unavailable = {}
        source_onnx.save(str(staging / "source.onnx"))
        emitters = [("hls", emit_hls, "convflow.compiler.emit.hls", "write_hls_project", {"part": part}),
                    ("rtl", emit_rtl, "convflow.compiler.emit.rtl", "write_rtl", {})]
        for key, wanted, module, function, extra in emitters:
            emit = _optional_emitter(module, function) if wanted else None
            if emit is None:
                continue
            try:
                emit(graph, staging / key, model_name=graph.name, **extra)
                sources[key] = key
            except UnsupportedOp as exc:
                # one backend not covering a layer must not stop the others: the artifact says why, and
                # that backend's Session raises this message
                shutil.rmtree(staging / key, ignore_errors=True)
                unavailable[key] = str(exc)
                graph.meta.setdefault("notes", []).append(f"no {key} sources: {exc}")
        desc, arrays = graph_to_dict(graph)
        np.savez(staging / "weights.npz", **arrays)
        manifest = {
            "format_version": FORMAT_VERSION,
            "convflow_version": CONVFLOW_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model": graph.name,
            "source": {"path": str(source) if isinstance(source, (str, Path)) else None,
                       "sha256": file_hash(Path(source)) if isinstance(source, (str, Path)) else None},
            "input": tensor_to_dict(graph.input_tensor),
            "output": tensor_to_dict(graph.output_tensor),
            "part": part,
            "dataset": dataset,
            "target_cycles": graph.meta.get("target_cycles"),
            "layers": layer_table(graph, estimate),
            "estimate": estimate,
            "notes": graph.meta.get("notes", []),
            "weights": "weights.npz",
            "sources": sources,
            "sources_unavailable": unavailable,
            "graph": desc,
            "files": hash_tree(staging),     # sha256 of every file written above: loaders check before use
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n")
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
