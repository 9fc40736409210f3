"""Mul / Add / Sub / Div with a constant, Relu, BatchNormalization: float ops that join a pending float path
(values.Pending) or the host's input pre-processing; an Add of two integer tensors is a residual Add."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, FloatOp
from convflow.compiler.ir.graph import Add, IntType
from convflow.compiler.numerics.batchnorm import fold_batchnorm
from convflow.hw.errors import ModelError, UnsupportedOp

from ..context import attributes
from ..values import Const, HostFloat, IntVal, Pending, QConst

_KIND = {"Mul": "mul", "Add": "add", "Sub": "sub", "Div": "div"}


def on_elementwise(ctx, node):
    """Mul / Add / Sub / Div with a constant on one side."""
    a, b = (ctx.get(n, node) for n in node.input)
    if isinstance(a, Const) and isinstance(b, Const):
        raise ModelError(f"node {node.name!r}: constant-only op left after clean-up")
    if node.op_type == "Add" and not isinstance(a, (Const, QConst)) and not isinstance(b, (Const, QConst)):
        return residual_add(ctx, node)
    const_first = isinstance(a, (Const, QConst))
    c_val, v = (a, b) if const_first else (b, a)
    const = c_val.value if isinstance(c_val, Const) else (c_val.ints * c_val.scale).astype(F32)
    kind = "rsub" if (node.op_type == "Sub" and const_first) else _KIND[node.op_type]
    if kind == "div" and const_first:
        raise UnsupportedOp(f"node {node.name!r} (Div): constant / tensor is not supported")
    if isinstance(v, HostFloat):
        ctx.value_out(node, HostFloat(v.ops + [FloatOp(kind, host_constant(node, const, v))], v.shape,
                                      v.source_shape))
        return
    if isinstance(v, IntVal):
        v = ctx.pending(v)
    if not isinstance(v, Pending):
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}) on {type(v).__name__}")
    ctx.value_out(node, v.then([FloatOp(kind, ctx.per_channel(const, v.view, node))], node))


def host_constant(node, const, host: HostFloat) -> np.ndarray:
    """A pre-processing constant, per sample: a scalar, or (per channel, per element) one that broadcasts against a
    sample in the source layout -- the host applies these ops to batches in that layout (runtime/session.py)."""
    c = np.asarray(const, F32)
    if c.size == 1:
        return c.reshape(())
    sample = tuple(host.shape[1:])
    if tuple(host.shape) != tuple(host.source_shape):
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): a per-channel pre-processing constant after the "
                            "input was reshaped; apply it before the reshape")
    if c.ndim == len(host.shape) and c.shape[0] == 1:
        c = c[0]                                         # the batch axis
    try:
        np.broadcast_shapes(c.shape, sample)
    except ValueError:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): constant of shape {c.shape} does not broadcast "
                            f"against the input's samples {sample}") from None
    if len(np.broadcast_shapes(c.shape, sample)) != len(sample):
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): constant of shape {c.shape} would add axes to "
                            f"the input's samples {sample}")
    return c


def residual_add(ctx, node):
    a = ctx.as_int(node, 0)
    b = ctx.as_int(node, 1)
    ctx.refuse_bipolar(node, a, b)
    ta, tb = ctx.ir(a), ctx.ir(b)
    if ta.shape != tb.shape or a.axes != b.axes:
        raise UnsupportedOp(f"node {node.name!r} (Add): operands of shapes {ta.shape} and {tb.shape}")
    sa, sb = np.asarray(ta.scale, np.float64), np.asarray(tb.scale, np.float64)
    if sa.size > 1 or sb.size > 1:
        raise UnsupportedOp(f"node {node.name!r} (Add): operands need per-tensor scales")
    s_out = min(float(sa), float(sb))
    mul_a, mul_b = float(sa) / s_out, float(sb) / s_out
    if mul_a != round(mul_a) or mul_b != round(mul_b):
        raise UnsupportedOp(f"node {node.name!r} (Add): operand scales {float(sa)} and {float(sb)} are not "
                            "integer multiples of each other")
    out = ctx.new_tensor(node.output[0], ta.shape, IntType(32, True), s_out)
    ctx.record_exact(node, [sa, sb], s_out)
    ctx.emit(Add(node.name, [a.ir, b.ir], out, mul_a=int(mul_a), mul_b=int(mul_b)))
    ctx.value_out(node, IntVal(out, a.axes, node.output[0], a.flat_perm))


def _pending(ctx, v, node) -> Pending:
    if isinstance(v, IntVal):
        return ctx.pending(v)
    if not isinstance(v, Pending):
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}) on {type(v).__name__}")
    return v


def on_relu(ctx, node):
    v = _pending(ctx, ctx.get(node.input[0], node), node)
    ctx.value_out(node, v.then([FloatOp("relu")], node))


def on_batchnorm(ctx, node):
    v = _pending(ctx, ctx.get(node.input[0], node), node)
    eps = attributes(node).get("epsilon", 1e-5)
    gamma, beta, mean, var = (ctx.const(n, node, "BatchNorm parameter") for n in node.input[1:5])
    ops = fold_batchnorm(gamma, beta, mean, var, eps)
    ops = [FloatOp(op.kind, ctx.per_channel(ctx.along_axis1(op.const, v.view), v.view, node)) for op in ops]
    ctx.value_out(node, v.then(ops, node))
