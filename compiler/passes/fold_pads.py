"""Pass: a Pad whose only reader is a window (Conv2D, MaxPool, SumPool) becomes that window's own padding.

Matches Pad -> Conv2D / SumPool / MaxPool where the Pad's output is read by that node alone and the pad value is
the one the window pads with anyway: a convolution pads with its ``pad_value`` (any value, when it has no padding
of its own yet), a sum pool with 0, a max pool with the smallest value of its input type.
Rewrites: the window reads the Pad's input, its pads grow by the Pad's, and the Pad is dropped -- one line buffer
instead of two.  Exact: the window sees the same padded image.
"""
from __future__ import annotations

from convflow.compiler.ir.graph import Conv2D, Graph, MaxPool, Pad, SumPool


def _pad_value_matches(window, pad: Pad, graph: Graph) -> bool:
    if isinstance(window, Conv2D):
        return window.pad_value == pad.value or not any(window.pads)
    if isinstance(window, SumPool):
        return pad.value == 0
    if isinstance(window, MaxPool):
        return pad.value == graph.tensors[pad.inputs[0]].dtype.min
    return False


def fold_pads(graph: Graph) -> Graph:
    for pad in [n for n in graph.nodes if isinstance(n, Pad)]:
        readers = graph.consumers(pad.output)
        if len(readers) != 1 or pad.output == graph.output:
            continue
        window = readers[0]
        if not isinstance(window, (Conv2D, MaxPool, SumPool)) or not _pad_value_matches(window, pad, graph):
            continue
        if isinstance(window, Conv2D):
            window.pad_value = pad.value
        window.pads = tuple(a + b for a, b in zip(window.pads, pad.pads))
        window.inputs = [pad.inputs[0] if name == pad.output else name for name in window.inputs]
        graph.nodes.remove(pad)
        del graph.tensors[pad.output]
    return graph
