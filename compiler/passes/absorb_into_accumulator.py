"""Pass: move the exact leading float ops after a matrix-vector unit into its integer accumulator.

Matches a Conv2D / Dense whose output is read by nothing but
  * one Requantize node (the float path to the next quantiser), or
  * the host, when it is the graph output and the source applies float ops after it (graph.host.output.pending_ops).
Rewrites: the leading ops that are exact in the accumulator -- a bias Add that is a whole number of accumulator units,
a Mul / Div by a power of two -- leave the float path and become the layer's integer bias and the accumulator's scale
(numerics/absorb.py decides, and says why that is exact).  What is not exact stays in the float path.  When ops leave
the host's path, the qonnx backend's integer tap moves to the ONNX tensor after the last absorbed op.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Graph, Requantize
from convflow.compiler.numerics.absorb import absorb_leading_ops
from convflow.compiler.numerics.ranges import channel_range, graph_ranges


def _sole_mvu_producer(graph: Graph, tensor: str, readers: int):
    """The matrix-vector node computing ``tensor``, if ``tensor`` has exactly ``readers`` readers among the nodes."""
    producer = graph.producer(tensor)
    if producer is None or not producer.has_mvu or len(graph.consumers(tensor)) != readers:
        return None
    return producer


def _absorb(graph: Graph, mvu, ops: list, ranges: dict) -> tuple:
    """(ops left, number absorbed), with ``mvu``'s bias and its output's scale updated."""
    t = graph.tensors[mvu.output]
    lo, hi = channel_range(graph, mvu.output, ranges)
    scale = np.broadcast_to(t.scale, (t.channels,))
    rest, new_scale, new_bias = absorb_leading_ops(ops, scale, mvu.bias, lo - mvu.bias, hi - mvu.bias)
    absorbed = len(ops) - len(rest)
    if absorbed:
        mvu.bias = new_bias
        t.scale = new_scale if not np.all(new_scale == new_scale[0]) else np.asarray(new_scale[0])
    return rest, absorbed


def absorb_into_accumulator(graph: Graph) -> Graph:
    ranges = graph_ranges(graph)      # a new bias moves only its own layer's range, read by its Requantize alone
    for node in graph.nodes:
        if isinstance(node, Requantize):
            mvu = _sole_mvu_producer(graph, node.inputs[0], readers=1)
            if mvu is not None:
                node.ops, _ = _absorb(graph, mvu, node.ops, ranges)
    out = graph.host.output if graph.host is not None else None
    if out is not None and out.pending_ops:
        mvu = _sole_mvu_producer(graph, graph.output, readers=0)
        if mvu is not None:
            rest, absorbed = _absorb(graph, mvu, out.pending_ops, ranges)
            if absorbed:
                out.tap.tensor = out.pending_taps[absorbed - 1] or out.tap.tensor
                out.pending_ops, out.pending_taps = rest, out.pending_taps[absorbed:]
    return graph
