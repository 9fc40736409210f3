"""Pass: the float ops the source applies after its last integer layer become the output's dequantisation.

Matches float ops still pending on the host output (graph.host.output.pending_ops) after
passes/absorb_into_accumulator.py took what is exact into the accumulator; the frontend only leaves affine ops
there (TFC's final BatchNorm, a scaled bias).
Rewrites: the chain becomes the output tensor's per-channel ``scale`` and ``offset`` (real = scale * int + offset,
applied by the host), and the qonnx backend's integer tap keeps the accumulator's own scale.  Exact up to float
rounding of the host-side affine, as DESIGN.md's numeric contract allows for the output; the integers are untouched.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import affine_of_chain
from convflow.compiler.ir.graph import Graph


def dequantize_output(graph: Graph) -> Graph:
    if graph.host is None:
        return graph
    out = graph.host.output
    t = graph.output_tensor
    out.tap.scale = np.asarray(t.scale, np.float64).tolist()
    if out.pending_ops:
        a, b = affine_of_chain(out.pending_ops, t.channels)
        t.offset = b
        t.scale = np.broadcast_to(t.scale, (t.channels,)) * a
        graph.meta.setdefault("notes", []).append(
            f"the float ops after the last integer layer ({', '.join(out.pending_names)}) stay on the host as "
            "dequantisation")
        out.pending_ops, out.pending_taps, out.pending_names = [], [], []
    return graph
