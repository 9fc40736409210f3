"""Graph <-> (JSON-able dict, named integer arrays), and the artifact's format facts.

The artifact stores the dict in manifest.json and the arrays in weights.npz (loaded with allow_pickle=False:
artifacts may come from someone else).  The compiler writes this format and the runtime reads it; both take the
constants below from here.
"""
from __future__ import annotations

import numpy as np

from .graph import NODE_TYPES, Graph, IntType, Tensor
from .floatops import InputQuantizer
from .host import HostInput, HostInterface, HostOutput, IntTap

# Artifacts of this version written before the host interface became a typed record kept it as keys of "meta";
# graph_from_dict still reads those (host_from_legacy_meta).
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"


def tensor_to_dict(t: Tensor) -> dict:
    d = {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": str(t.dtype),
        "scale": np.asarray(t.scale, dtype=np.float64).tolist(),
        "offset": np.asarray(t.offset, dtype=np.float64).tolist(),
    }
    if t.bipolar:
        d["bipolar"] = True
    return d


def tensor_from_dict(d: dict) -> Tensor:
    return Tensor(d["name"], tuple(d["shape"]), IntType.parse(d["dtype"]),
                  np.asarray(d["scale"], dtype=np.float64), np.asarray(d["offset"], dtype=np.float64),
                  bool(d.get("bipolar", False)))


def graph_to_dict(graph: Graph) -> tuple[dict, dict]:
    """Returns (description, arrays); array keys are '<node index>.<field>'."""
    arrays = {}
    layers = []
    for index, node in enumerate(graph.nodes):
        if NODE_TYPES.get(node.op) is not type(node):
            raise TypeError(f"layer {node.name!r}: {node.op} cannot be stored in an artifact (a compile pass should "
                            "have replaced it)")
        entry = {"index": index, "name": node.name, "op": node.op, "inputs": list(node.inputs),
                 "output": node.output, "params": node.params(), "arrays": {}}
        for field_name, value in node.arrays().items():
            key = f"{index}.{field_name}"
            arrays[key] = np.asarray(value, dtype=np.int64)
            entry["arrays"][field_name] = key
        layers.append(entry)
    desc = {
        "name": graph.name,
        "input": graph.input,
        "output": graph.output,
        "tensors": [tensor_to_dict(t) for t in graph.tensors.values()],
        "layers": layers,
        "host": graph.host.to_dict() if graph.host is not None else None,
        "meta": graph.meta,
    }
    return desc, arrays


def graph_from_dict(desc: dict, arrays) -> Graph:
    tensors = {d["name"]: tensor_from_dict(d) for d in desc["tensors"]}
    nodes = []
    for entry in desc["layers"]:
        cls = NODE_TYPES.get(entry["op"])
        if cls is None:
            raise ValueError(f"layer {entry['name']!r}: unknown op {entry['op']!r} (known: {sorted(NODE_TYPES)})")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["params"].items()}
        for field_name, key in entry["arrays"].items():
            kwargs[field_name] = np.asarray(arrays[key], dtype=np.int64)
        nodes.append(cls(name=entry["name"], inputs=list(entry["inputs"]), output=entry["output"], **kwargs))
    meta = dict(desc.get("meta", {}))
    host = HostInterface.from_dict(desc["host"]) if desc.get("host") else host_from_legacy_meta(meta)
    return Graph(desc["name"], tensors, nodes, desc["input"], desc["output"], meta, host)


def host_from_legacy_meta(meta: dict):
    """The host interface of an artifact written before it was a record of its own (None if there is none)."""
    if "input_quantizer" not in meta or "source_int_tap" not in meta:
        return None
    recipe = meta.get("source_to_ir", {})
    quantizer = InputQuantizer.from_dict(meta["input_quantizer"])
    host_in = HostInput(quantizer, tuple(meta.get("source_input_shape", recipe.get("onnx_shape", ()))),
                        tuple(recipe.get("onnx_shape", ())), recipe.get("perm"),
                        bool(meta.get("implicit_input_quantizer", False)))
    return HostInterface(host_in, HostOutput(meta.get("source_output", ""), IntTap.from_dict(meta["source_int_tap"])))
