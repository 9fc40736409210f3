"""Reshape, Flatten, Transpose, Identity, Dropout: layout changes (tracked, frontend/layout.py) and the one that
changes the stream, a flatten of a 4-D activation (IR Flatten: a no-op on the NHWC stream)."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Flatten
from convflow.hw.errors import UnsupportedOp

from ..context import attributes
from ..layout import flatten_perm, reshape_as_perm
from ..values import HostFloat, IntVal, Pending


def flatten(ctx, node, x: IntVal):
    t = ctx.ir(x)
    perm = flatten_perm(t.shape, x)
    scale = np.asarray(t.scale, np.float64)
    if scale.size > 1:              # one scale per channel (after a Concat): one per feature, in the NHWC order
        scale = np.tile(scale, int(np.prod(t.shape[:-1])))
    out = ctx.new_tensor(node.output[0], (int(np.prod(t.shape)),), t.dtype, scale, t.bipolar)
    ctx.emit(Flatten(node.name, [x.ir], out))
    ctx.value_out(node, IntVal(out, (0, 1), node.output[0], perm))


def on_reshape(ctx, node):
    v = ctx.get(node.input[0], node)
    out_shape = ctx.shape(node.output[0])
    if isinstance(v, HostFloat):
        ctx.value_out(node, HostFloat(v.ops, out_shape, v.source_shape))
        return
    x = ctx.as_int(node, 0)
    in_shape = ctx.shape(node.input[0])
    perm = reshape_as_perm(in_shape, out_shape)
    if perm is not None and x.flat_perm is None:
        ctx.value_out(node, IntVal(x.ir, tuple(x.axes[p] for p in perm), node.output[0]))
    elif len(out_shape) == 2 and out_shape[1] == int(np.prod(in_shape[1:])) and len(in_shape) == 4:
        flatten(ctx, node, x)
    elif tuple(out_shape) == tuple(in_shape):
        ctx.value_out(node, x)
    else:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): only flattening a 4-D activation to "
                            f"(batch, features) is supported (got {in_shape} -> {out_shape})")


def on_flatten(ctx, node):
    v = ctx.get(node.input[0], node)
    if isinstance(v, HostFloat):
        ctx.value_out(node, HostFloat(v.ops, ctx.shape(node.output[0]), v.source_shape))
        return
    x = ctx.as_int(node, 0)
    if len(ctx.ir(x).shape) == 1:
        ctx.value_out(node, x)
    else:
        flatten(ctx, node, x)


def on_transpose(ctx, node):
    perm = tuple(attributes(node)["perm"])
    v = ctx.get(node.input[0], node)
    if isinstance(v, HostFloat):
        raise UnsupportedOp(f"node {node.name!r}: transpose of the model input before its quantiser")
    if isinstance(v, Pending) and v.ops:
        raise UnsupportedOp(f"node {node.name!r}: transpose inside a float op chain")
    x = v.base if isinstance(v, Pending) else v
    if x.flat_perm is not None or len(perm) != len(x.axes):
        raise UnsupportedOp(f"node {node.name!r} (Transpose) of a flattened tensor")
    ctx.value_out(node, IntVal(x.ir, tuple(x.axes[p] for p in perm), node.output[0]))


def on_passthrough(ctx, node):
    ctx.value_out(node, ctx.get(node.input[0], node))
