"""Choose PE (output channels in parallel) and SIMD (inputs in parallel) for every matrix-vector unit.

A layer's MVU takes (rows / SIMD) * (cols / PE) cycles per output pixel, rows = KH*KW*Cin (SIMD divides Cin),
cols = Cout (PE divides Cout).  The pipeline runs at the pace of its slowest stage, so every layer is unfolded
just enough to meet the target cycles per frame, SIMD first (cheaper: wider adder trees share one accumulator),
then PE, never beyond fully parallel.  The default target is the input interface's own pace (one input element
per cycle): faster layers than that would only idle.
"""
from __future__ import annotations

from convflow.compiler.ir.graph import Conv2D, Graph
from convflow.hw.errors import ModelError


def divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


def mvu_shape(node, graph: Graph) -> tuple:
    """(output pixels, kernel positions, Cin, Cout) of an MVU node."""
    kh, kw = (node.weights.shape[:2] if isinstance(node, Conv2D) else (1, 1))
    cin = graph.tensors[node.inputs[0]].channels if isinstance(node, Conv2D) else node.weights.shape[0]
    cout = node.weights.shape[-1]
    out = graph.tensors[node.output].shape
    pixels = out[0] * out[1] if len(out) == 3 else 1
    if isinstance(node, Conv2D) and node.depthwise:
        return pixels, kh * kw, 1, cout          # one input channel per output channel
    return pixels, kh * kw, cin, cout


def mvu_cycles(node, graph: Graph, pe: int, simd: int) -> int:
    pixels, kpos, cin, cout = mvu_shape(node, graph)
    if isinstance(node, Conv2D) and node.depthwise:
        return pixels * kpos * (cout // pe)
    return pixels * kpos * (cin // simd) * (cout // pe)


def check_folding(node, graph: Graph) -> None:
    _, _, cin, cout = mvu_shape(node, graph)
    if isinstance(node, Conv2D) and node.depthwise:
        if node.simd != node.pe or cout % node.pe:
            raise ModelError(f"layer {node.name!r}: depthwise folding needs SIMD = PE dividing {cout}")
        return
    if cin % node.simd or cout % node.pe:
        raise ModelError(f"layer {node.name!r}: SIMD={node.simd} must divide {cin} inputs and PE={node.pe} "
                         f"must divide {cout} outputs")


def default_target_cycles(graph: Graph) -> int:
    shape = graph.input_tensor.shape
    n = 1
    for d in shape:
        n *= d
    return n


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
        depthwise = isinstance(node, Conv2D) and node.depthwise
        node.pe, node.simd = 1, 1
        if depthwise:
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
