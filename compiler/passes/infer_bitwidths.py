"""Accumulator and intermediate bit widths, derived from operand ranges, never guessed.

Walks the graph in order with the integer range [lo, hi] of every tensor (per channel where it matters) and gives
each tensor that an op computes the smallest IntType that holds it.  Quantiser outputs (Threshold, Shift) keep
the type the source model declared.  A Threshold's input type also covers its thresholds, so the comparators
of the hardware need no second width.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import (Add, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Shift, SumPool,
                                        Threshold)
from convflow.hw.errors import ModelError

MAX_ACC_BITS = 48


def mvu_range(weights_matrix: np.ndarray, bias: np.ndarray, in_lo: int, in_hi: int, pad_value: int = 0):
    """Per output channel [lo, hi] of bias + sum_i x_i * w_i with every x_i in [in_lo, in_hi]."""
    w = weights_matrix.astype(np.int64)
    lo = np.minimum(w * in_lo, w * in_hi).sum(axis=0) + bias
    hi = np.maximum(w * in_lo, w * in_hi).sum(axis=0) + bias
    return lo, hi


def mvu_node_range(node, in_lo: int, in_hi: int):
    """Per output channel [lo, hi] of a Conv2D / Dense node whose inputs lie in [in_lo, in_hi].  Every weight
    matrix row meets one input value (a convolution's padding counts as one), so the (KH, KW, Cin | 1, Cout)
    kernel is simply its (rows, Cout) matrix here."""
    if isinstance(node, Conv2D):
        in_lo, in_hi = min(in_lo, node.pad_value), max(in_hi, node.pad_value)
    return mvu_range(node.weights.reshape(-1, node.weights.shape[-1]), node.bias, in_lo, in_hi)


def node_range(node, graph: Graph, ranges: dict):
    """(lo, hi) of node's output: scalars, or (C,) arrays for MVU outputs."""
    in_lo, in_hi = ranges[node.inputs[0]]
    in_lo, in_hi = int(np.min(in_lo)), int(np.max(in_hi))
    if isinstance(node, (Conv2D, Dense)):
        return mvu_node_range(node, in_lo, in_hi)
    if isinstance(node, (Threshold, Shift)):
        t = graph.tensors[node.output].dtype
        return t.min, t.max
    if isinstance(node, (MaxPool, Flatten)):
        return in_lo, in_hi
    if isinstance(node, SumPool):
        k = int(np.prod(node.kernel))
        if any(node.pads):                      # zero padding joins the window
            in_lo, in_hi = min(in_lo, 0), max(in_hi, 0)
        return in_lo * k, in_hi * k
    if isinstance(node, Add):
        b_lo, b_hi = ranges[node.inputs[1]]
        a = sorted([in_lo * node.mul_a, in_hi * node.mul_a])
        b = sorted([int(np.min(b_lo)) * node.mul_b, int(np.max(b_hi)) * node.mul_b])
        return a[0] + b[0], a[1] + b[1]
    raise TypeError(f"no range rule for {node.op}")


def infer_bitwidths(graph: Graph) -> Graph:
    t_in = graph.input_tensor.dtype
    ranges = {graph.input: (t_in.min, t_in.max)}
    for node in graph.nodes:
        lo, hi = node_range(node, graph, ranges)
        ranges[node.output] = (lo, hi)
        lo_all, hi_all = int(np.min(lo)), int(np.max(hi))
        for consumer in graph.consumers(node.output):
            if isinstance(consumer, Threshold):
                lo_all = min(lo_all, int(consumer.thresholds.min()))
                hi_all = max(hi_all, int(consumer.thresholds.max()))
        if not isinstance(node, (Threshold, Shift)):
            dtype = IntType.for_range(lo_all, hi_all)
            if dtype.bits > MAX_ACC_BITS:
                raise ModelError(f"layer {node.name!r} ({node.op}) needs a {dtype.bits}-bit accumulator; "
                                 f"convflow supports at most {MAX_ACC_BITS}")
            graph.tensors[node.output].dtype = dtype
    graph.meta["ranges"] = {name: [int(np.min(lo)), int(np.max(hi))] for name, (lo, hi) in ranges.items()}
    return graph
