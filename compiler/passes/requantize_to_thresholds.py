"""Pass: every Requantize node becomes exact integer re-quantisation -- a Threshold, or a Shift where one suffices.

Matches a Requantize node (an integer tensor, the source model's float ops, a quantiser), whose float path is
non-decreasing in its input (passes/flip_decreasing_channels.py runs first).  The input's range is the exact one
(numerics/ranges.py): a quantiser with no clipping of its own (Trunc) is only defined there.
Rewrites: numerics/thresholds.py finds, per channel, the thresholds the integer input must reach for each output
level, by evaluating the float path exactly as the source model does over the input's whole integer range, and
verifies them (a non-monotonic path is refused, never approximated).  Where those thresholds are the ones of a
rounding right shift, the node becomes a Shift (a shifter instead of comparators); otherwise a Threshold (one row
when every channel has the same thresholds).
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32
from convflow.compiler.ir.graph import Graph, Requantize, Shift, Threshold
from convflow.compiler.numerics.ranges import channel_range, graph_ranges
from convflow.compiler.numerics.thresholds import as_shift, derive_thresholds


def level_function(graph: Graph, node: Requantize):
    """acc (M, C) int64 -> the output levels (M, C) the source model computes from it."""
    t = graph.tensors[node.inputs[0]]
    scale = np.broadcast_to(np.asarray(t.scale, np.float64), (t.channels,))

    def levels(acc: np.ndarray) -> np.ndarray:
        return node.levels((acc.astype(np.float64) * scale[None, :]).astype(F32))
    return levels


def requantize_to_thresholds(graph: Graph) -> Graph:
    ranges = graph_ranges(graph)      # lowering a Requantize keeps every range (its output keeps its type)
    for index, node in enumerate(graph.nodes):
        if not isinstance(node, Requantize):
            continue
        level_min, level_max = node.level_range
        lo, hi = channel_range(graph, node.inputs[0], ranges)
        thresholds = derive_thresholds(level_function(graph, node), lo, hi, level_min, level_max, node.source)
        shift = as_shift(thresholds, lo, hi, level_min, level_max)
        if shift is not None:
            lowered = Shift(node.name, list(node.inputs), node.output, shift=shift, lo=level_min, hi=level_max)
        else:
            rows = thresholds[:1] if np.all(thresholds == thresholds[:1]) else thresholds
            lowered = Threshold(node.name, list(node.inputs), node.output, thresholds=rows, out_base=level_min)
        graph.nodes[index] = lowered
    return graph
