"""The integer range rule of every IR op: given the ranges of a node's inputs, the range [lo, hi] of its output.

Used by bit-width inference (passes/infer_bitwidths.py: every tensor gets the smallest type holding its range) and by
the passes that need an accumulator's exact range (absorbing float ops into it, deriving thresholds).  A range is a
pair (lo, hi) of ints, or of (C,) int64 arrays where it is known per channel (matrix-vector outputs).
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import (Add, Concat, Conv2D, Dense, Flatten, Graph, MaxPool, Pad, Requantize, Shift,
                                        SumPool, Threshold, Upsample)


def mvu_range(weights_matrix: np.ndarray, bias: np.ndarray, in_lo: int, in_hi: int):
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


def _mvu(node, graph: Graph, inputs: list):
    (in_lo, in_hi), = inputs
    return mvu_node_range(node, in_lo, in_hi)


def _quantiser_output(node, graph: Graph, inputs: list):
    """Threshold / Shift / Requantize outputs keep the type the source model's quantiser declared."""
    t = graph.tensors[node.output].dtype
    return t.min, t.max


def _same_as_input(node, graph: Graph, inputs: list):
    return inputs[0]


def _sumpool(node: SumPool, graph: Graph, inputs: list):
    (in_lo, in_hi), = inputs
    k = int(np.prod(node.kernel))
    if any(node.pads):                      # zero padding joins the window
        in_lo, in_hi = min(in_lo, 0), max(in_hi, 0)
    return in_lo * k, in_hi * k


def _add(node: Add, graph: Graph, inputs: list):
    (a_lo, a_hi), (b_lo, b_hi) = inputs
    a = sorted([a_lo * node.mul_a, a_hi * node.mul_a])
    b = sorted([b_lo * node.mul_b, b_hi * node.mul_b])
    return a[0] + b[0], a[1] + b[1]


def _union(node, graph: Graph, inputs: list):
    """Concat: every output element is one of the inputs' elements."""
    return min(lo for lo, _ in inputs), max(hi for _, hi in inputs)


def _pad(node, graph: Graph, inputs: list):
    (lo, hi), = inputs
    return min(lo, node.value), max(hi, node.value)


# range rule of every IR op: rule(node, graph, [(lo, hi) of each input, as ints]) -> (lo, hi)
RANGE_RULES = {Conv2D: _mvu, Dense: _mvu, Threshold: _quantiser_output, Shift: _quantiser_output,
               Requantize: _quantiser_output,
               MaxPool: _same_as_input, Flatten: _same_as_input, Upsample: _same_as_input, SumPool: _sumpool, Add: _add, Concat: _union,
               Pad: _pad}


def node_range(node, graph: Graph, ranges: dict):
    """(lo, hi) of ``node``'s output from ``ranges`` (tensor name -> (lo, hi)) of its inputs."""
    rule = RANGE_RULES.get(type(node))
    if rule is None:
        raise TypeError(f"no range rule for {node.op}")
    inputs = [(int(np.min(ranges[name][0])), int(np.max(ranges[name][1]))) for name in node.inputs]
    return rule(node, graph, inputs)


def graph_ranges(graph: Graph) -> dict:
    """tensor name -> (lo, hi) of every tensor of ``graph``, from its input type through every node's rule
    (per channel for matrix-vector outputs)."""
    t_in = graph.input_tensor.dtype
    ranges = {graph.input: (t_in.min, t_in.max)}
    for node in graph.nodes:
        ranges[node.output] = node_range(node, graph, ranges)
    return ranges


def channel_range(graph: Graph, tensor: str, ranges: dict) -> tuple:
    """Per-channel (lo, hi) arrays of ``tensor``: exact for a matrix-vector output (from its current weights and
    bias and its input's range), the tensor's range on every channel otherwise."""
    producer = graph.producer(tensor)
    if producer is not None and producer.has_mvu:
        lo, hi = ranges[producer.inputs[0]]
        return mvu_node_range(producer, int(np.min(lo)), int(np.max(hi)))
    lo, hi = ranges[tensor]
    c = graph.tensors[tensor].channels
    return np.full(c, int(np.min(lo)), np.int64), np.full(c, int(np.max(hi)), np.int64)
