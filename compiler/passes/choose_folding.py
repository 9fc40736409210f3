"""Pass: choose PE (output channels in parallel) and SIMD (inputs in parallel) for every matrix-vector unit.

The cycles of a folding are the stage builder's (dataflow/mvu.py: mvu_cycles) and its check is the one the plan
makes (check_folding).  The pipeline runs at the pace of its slowest stage, so every layer is unfolded just enough
to meet the target cycles per frame, SIMD first (cheaper: wider adder trees share one accumulator), then PE, never
beyond fully parallel.  The default target is the input interface's own pace (one input element per cycle):
faster layers than that would only idle.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.dataflow.mvu import check_folding, is_depthwise, mvu_cycles, mvu_shape
from convflow.compiler.ir.graph import Graph


def divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


def default_target_cycles(graph: Graph) -> int:
    return int(np.prod(graph.input_tensor.shape))


def choose_folding(graph: Graph, target_cycles: int | None = None, overrides: dict | None = None) -> Graph:
    """Set node.pe / node.simd on every MVU node; ``overrides`` maps a layer name to (pe, simd)."""
    target = target_cycles or default_target_cycles(graph)
    overrides = overrides or {}
    for node in graph.mvu_nodes():
        if node.name in overrides:
            node.pe, node.simd = (int(v) for v in overrides[node.name])
            check_folding(node, graph)
            continue
        _, _, cin, cout = mvu_shape(node, graph)
        node.pe, node.simd = 1, 1
        if is_depthwise(node):
            for p in divisors(cout):
                node.pe = node.simd = p
                if mvu_cycles(node, graph, p, p) <= target:
                    break
            continue
        for s in divisors(cin):
            node.simd = s
            if mvu_cycles(node, graph, 1, s) <= target:
                break
        for p in divisors(cout):
            node.pe = p
            if mvu_cycles(node, graph, p, node.simd) <= target:
                break
    graph.meta["target_cycles"] = target
    return graph
