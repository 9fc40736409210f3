"""Moving a batch between the source model's input layout (e.g. NCHW, or an image the model flattens) and the
IR's NHWC layout, from what the frontend recorded in the graph's meta."""
from __future__ import annotations

import numpy as np


def source_shape(graph) -> tuple:
    return tuple(graph.meta.get("source_input_shape", graph.input_tensor.shape))


def to_ir(graph, x: np.ndarray) -> np.ndarray:
    """(N, *source shape) or (N, *IR shape) -> (N, *IR shape)."""
    ir_shape = tuple(graph.input_tensor.shape)
    if x.shape[1:] == ir_shape:
        return x
    if x.shape[1:] != source_shape(graph):
        raise ValueError(f"input batch has per-sample shape {x.shape[1:]}; the model takes {source_shape(graph)} "
                         f"(source layout) or {ir_shape} (NHWC)")
    recipe = graph.meta.get("source_to_ir", {})
    x = x.reshape((x.shape[0],) + tuple(recipe.get("onnx_shape", x.shape[1:])))
    if recipe.get("perm"):
        x = np.transpose(x, [0] + [p + 1 for p in recipe["perm"]])
    return x.reshape((x.shape[0],) + ir_shape)


def to_source(graph, x: np.ndarray) -> np.ndarray:
    """(N, *IR shape) -> (N, *source shape): the inverse of to_ir."""
    recipe = graph.meta.get("source_to_ir", {})
    onnx_shape = tuple(recipe.get("onnx_shape", x.shape[1:]))
    perm = recipe.get("perm")
    if perm:
        permuted = tuple(onnx_shape[p] for p in perm)
        x = x.reshape((x.shape[0],) + permuted)
        x = np.transpose(x, [0] + [int(i) + 1 for i in np.argsort(perm)])
    return x.reshape((x.shape[0],) + source_shape(graph))
