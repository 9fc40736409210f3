"""An integer tensor with float ops pending on it meets a quantiser: emit the IR's Requantize node.

The node keeps the source model's own float path (the pending ops and the quantiser, with their constants mapped
onto IR channels) so that its meaning is exactly the model's; compile passes then absorb what is exact into the
accumulator, negate decreasing channels and turn the rest into integer thresholds or a shift (passes/).
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, Quantizer, apply_chain
from convflow.compiler.ir.graph import Graph, IntType, Requantize
from convflow.compiler.numerics.ranges import graph_ranges
from convflow.hw.errors import UnsupportedOp

from .values import IntVal


def _trunc_levels(ctx, base: IntVal, ops: list, q: Quantizer) -> Quantizer:
    """A Trunc as its input's exact range makes it: as signed as the values the float path brings it (it has no
    signedness of its own), and with the levels those values reach (it never clips to its output bit width)."""
    graph = Graph(ctx.name, ctx.tensors, ctx.nodes, ctx.input_name, base.ir)
    lo, hi = graph_ranges(graph)[base.ir]
    scale = np.asarray(ctx.ir(base).scale, np.float64)
    ends = np.stack([np.broadcast_to(int(np.min(lo)) * scale, scale.shape),
                     np.broadcast_to(int(np.max(hi)) * scale, scale.shape)]).astype(F32)
    reals = apply_chain(ops, ends)
    levels = q.levels(reals)
    return Quantizer(**{**q.__dict__, "signed": bool(np.min(reals) < 0),
                        "extent": (int(np.min(levels)), int(np.max(levels)))})


def requantize(ctx, node, value, q: Quantizer) -> IntVal:
    pending = ctx.pending(value)
    base = pending.base
    t = ctx.ir(base)
    q_scale = np.asarray(q.scale, F32)
    if q_scale.size > 1:
        q_scale = ctx.per_channel(q.scale, base, node)
        q = Quantizer(**{**q.__dict__, "scale": q_scale})
    if q.kind == "trunc":
        q = _trunc_levels(ctx, base, pending.ops, q)
    if q.bipolar and np.any(q_scale <= 0):
        raise UnsupportedOp(f"node {node.name!r}: a bipolar quantiser needs positive scales (got {q_scale})")
    # a bipolar output (values -1, +1) is held as its bits (ir/graph.py)
    out_type = IntType(1, False) if q.bipolar else IntType.for_range(q.level_min, q.level_max)
    out_scale = np.asarray(q_scale, np.float64) if q_scale.size > 1 else float(np.asarray(q_scale).reshape(-1)[0])
    out_name = ctx.new_tensor(node.output[0], t.shape, out_type, out_scale, bipolar=q.bipolar)
    source = f"node {node.name!r} ({node.op_type} after {', '.join(pending.names) or 'the layer'})"
    ctx.emit(Requantize(node.name, [base.ir], out_name, ops=list(pending.ops), quantizer=q, source=source))
    return IntVal(out_name, pending.view.axes, node.output[0], base.flat_perm)
