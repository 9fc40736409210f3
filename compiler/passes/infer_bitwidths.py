"""Pass: accumulator and intermediate bit widths, derived from operand ranges, never guessed.

Walks the graph in order with the integer range [lo, hi] of every tensor (per channel where it matters; the rules
are numerics/ranges.py) and gives each tensor that an op computes the smallest IntType that holds it.  Quantiser
outputs (Threshold, Shift) keep the type the source model declared.  A Threshold's input type also covers its
thresholds, so the comparators of the hardware need no second width.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Graph, IntType, Shift, Threshold
from convflow.compiler.numerics.ranges import node_range
from convflow.hw.errors import ModelError

MAX_ACC_BITS = 48


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
