"""Pass: make every float path to a quantiser non-decreasing in its integer input, by negating channels.

Matches a Requantize node whose float path decreases with the accumulator in some channels (a negative BatchNorm
gamma, a negative scale): its level at the accumulator's lowest value is above the level at its highest.
Rewrites: the producing Conv2D / Dense negates those channels' weights and bias, and the accumulator's scale of those
channels changes sign.  The real value scale * acc of every channel is unchanged (the sign moves from the integer
to the scale, exactly), so the Requantize node computes the same levels, now from a non-decreasing path that
integer thresholds can express (passes/requantize_to_thresholds.py).
Refuses (UnsupportedOp) when there is no layer of ours to negate, or when another node also reads the accumulator.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Graph, Requantize
from convflow.hw.errors import UnsupportedOp

from convflow.compiler.numerics.ranges import channel_range, graph_ranges

from .requantize_to_thresholds import level_function


def flip_decreasing_channels(graph: Graph) -> Graph:
    ranges = graph_ranges(graph)      # a flip negates one layer's channels: no other tensor's range moves
    for node in graph.nodes:
        if not isinstance(node, Requantize):
            continue
        lo, hi = channel_range(graph, node.inputs[0], ranges)
        probe = level_function(graph, node)(np.stack([lo, hi]))
        flip = probe[1] < probe[0]
        if not np.any(flip):
            continue
        producer = graph.producer(node.inputs[0])
        if producer is None or not producer.has_mvu or len(graph.consumers(node.inputs[0])) > 1:
            raise UnsupportedOp(f"node {node.name!r}: the float ops before it decrease with the integer input, and "
                                "there is no layer of ours to negate")
        producer.weights = producer.weights.copy()
        producer.weights[..., flip] *= -1
        producer.bias = np.where(flip, -producer.bias, producer.bias)
        t = graph.tensors[node.inputs[0]]
        t.scale = np.broadcast_to(np.asarray(t.scale, np.float64), (t.channels,)) * np.where(flip, -1, 1)
    return graph
