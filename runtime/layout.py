"""Moving a batch between the source model's input layout (e.g. NCHW, or an image the model flattens) and the
IR's NHWC layout, from the graph's host interface record (ir/host.py).  A graph without one (built by hand) takes
NHWC batches only."""
from __future__ import annotations

import numpy as np


def source_shape(graph) -> tuple:
    host = graph.host.input if graph.host is not None else None
    return tuple(host.source_shape) if host is not None else tuple(graph.input_tensor.shape)


def _recipe(graph, x: np.ndarray) -> tuple:
    """(the quantiser's ONNX shape of one sample, its transpose to NHWC or None)."""
    if graph.host is None:
        return tuple(x.shape[1:]), None
    return tuple(graph.host.input.onnx_shape), graph.host.input.perm


def to_ir(graph, x: np.ndarray) -> np.ndarray:
    """(N, *source shape) or (N, *IR shape) -> (N, *IR shape)."""
    ir_shape = tuple(graph.input_tensor.shape)
    if x.shape[1:] == ir_shape:
        return x
    if x.shape[1:] != source_shape(graph):
        raise ValueError(f"input batch has per-sample shape {x.shape[1:]}; the model takes {source_shape(graph)} "
                         f"(source layout) or {ir_shape} (NHWC)")
    onnx_shape, perm = _recipe(graph, x)
    x = x.reshape((x.shape[0],) + onnx_shape)
    if perm:
        x = np.transpose(x, [0] + [p + 1 for p in perm])
    return x.reshape((x.shape[0],) + ir_shape)


def to_source(graph, x: np.ndarray) -> np.ndarray:
    """(N, *IR shape) -> (N, *source shape): the inverse of to_ir."""
    onnx_shape, perm = _recipe(graph, x)
    if perm:
        permuted = tuple(onnx_shape[p] for p in perm)
        x = x.reshape((x.shape[0],) + permuted)
        x = np.transpose(x, [0] + [int(i) + 1 for i in np.argsort(perm)])
    return x.reshape((x.shape[0],) + source_shape(graph))
