"""Graph <-> (JSON-able dict, named integer arrays).  The artifact stores the dict in manifest.json and the
arrays in weights.npz (loaded with allow_pickle=False: artifacts may come from someone else)."""
from __future__ import annotations

import numpy as np

from .graph import NODE_TYPES, Graph, IntType, Tensor


def tensor_to_dict(t: Tensor) -> dict:
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": str(t.dtype),
        "scale": np.asarray(t.scale, dtype=np.float64).tolist(),
        "offset": np.asarray(t.offset, dtype=np.float64).tolist(),
    }


def tensor_from_dict(d: dict) -> Tensor:
    return Tensor(d["name"], tuple(d["shape"]), IntType.parse(d["dtype"]),
                  np.asarray(d["scale"], dtype=np.float64), np.asarray(d["offset"], dtype=np.float64))


def graph_to_dict(graph: Graph) -> tuple[dict, dict]:
    """Returns (description, arrays); array keys are '<node index>.<field>'."""
    arrays = {}
    layers = []
    for index, node in enumerate(graph.nodes):
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
    return Graph(desc["name"], tensors, nodes, desc["input"], desc["output"], dict(desc.get("meta", {})))
