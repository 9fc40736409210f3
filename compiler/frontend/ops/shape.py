"""Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity, Dropout: layout changes (tracked, frontend/layout.py)
and the one that changes the stream, a flatten of an image or signal (IR Flatten: a no-op on the NHWC stream)."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Flatten
from convflow.hw.errors import UnsupportedOp

from ..context import attributes
from ..layout import flatten_perm, reshape_as_perm, squeeze_axes, unsqueeze_axes
from ..values import HostFloat, IntVal, Pending


def flatten(ctx, node, x: IntVal):
    t = ctx.ir(x)
    perm = flatten_perm(t.shape, x)
    out = ctx.new_tensor(node.output[0], (int(np.prod(t.shape)),), t.dtype, t.scale, t.bipolar)
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
    elif len(out_shape) == 2 and out_shape[1] == int(np.prod(in_shape[1:])) and len(in_shape) in (3, 4):
        flatten(ctx, node, x)
    elif tuple(out_shape) == tuple(in_shape):
        ctx.value_out(node, x)
    elif len(in_shape) == 3 and len(out_shape) == 4 and x.flat_perm is None:
        # a signal given its height axis back, e.g. (N, W, C) -> (N, 1, W, C): an Unsqueeze written as a Reshape
        position = next((i for i in range(4) if out_shape[i] == 1 and
                         tuple(out_shape[:i]) + tuple(out_shape[i + 1:]) == tuple(in_shape)), None)
        if position is None:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): {in_shape} -> {out_shape} is not a size-1 "
                                "axis added")
        ctx.value_out(node, IntVal(x.ir, unsqueeze_axes(x.axes, position), node.output[0]))
    else:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): only flattening an image or signal to "
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
        if any(c.op_type in ("Quant", "BipolarQuant") for c in ctx.consumers.get(node.output[0], [])):
            raise UnsupportedOp(f"node {node.name!r}: transpose of the model input before its quantiser")
        v = ctx.as_int(node, 0)          # no quantiser of its own: fed as the fixed-point input type, then moved
    if isinstance(v, Pending) and v.ops:
        raise UnsupportedOp(f"node {node.name!r}: transpose inside a float op chain")
    x = v.base if isinstance(v, Pending) else v
    if x.flat_perm is not None or len(perm) != len(x.axes):
        raise UnsupportedOp(f"node {node.name!r} (Transpose) of a flattened tensor")
    ctx.value_out(node, IntVal(x.ir, tuple(x.axes[p] for p in perm), node.output[0]))


def _axes_operand(ctx, node) -> list:
    """Squeeze / Unsqueeze axes (an input from opset 13, an attribute before), made non-negative for the output rank
    (Unsqueeze) or the input rank (Squeeze)."""
    if len(node.input) > 1 and node.input[1]:
        axes = [int(a) for a in np.asarray(ctx.const(node.input[1], node, "axes")).reshape(-1)]
    else:
        axes = [int(a) for a in attributes(node).get("axes", [])]
    rank = len(ctx.shape(node.output[0] if node.op_type == "Unsqueeze" else node.input[0]))
    return sorted(a % rank for a in axes)


def on_unsqueeze(ctx, node):
    """A size-1 axis added to a signal (N, C, W) or (N, W, C): it is the IR's height axis (layout.py)."""
    v = ctx.get(node.input[0], node)
    if isinstance(v, HostFloat):
        ctx.value_out(node, HostFloat(v.ops, ctx.shape(node.output[0]), v.source_shape))
        return
    x = ctx.as_int(node, 0)
    positions = _axes_operand(ctx, node)
    if len(positions) != 1 or len(x.axes) != 3 or x.flat_perm is not None:
        raise UnsupportedOp(f"node {node.name!r} (Unsqueeze): only adding one axis to a 3-D signal is supported "
                            f"(axes {positions} of a tensor of shape {ctx.shape(node.input[0])})")
    ctx.value_out(node, IntVal(x.ir, unsqueeze_axes(x.axes, positions[0]), node.output[0]))


def on_squeeze(ctx, node):
    """Size-1 axes removed: an image of height 1 back to a 3-D signal, or an image (signal) of one pixel to
    (batch, channels), which is a flatten."""
    x = ctx.as_int(node, 0)
    positions = _axes_operand(ctx, node) or [i for i, d in enumerate(ctx.shape(node.input[0])) if d == 1 and i]
    out_shape = ctx.shape(node.output[0])
    if len(out_shape) == 2 and x.flat_perm is None and len(x.axes) in (3, 4) and 0 not in positions:
        flatten(ctx, node, x)
        return
    squeezed = squeeze_axes(x.axes, positions[0]) if len(positions) == 1 and len(x.axes) == 4 else None
    if squeezed is None or x.flat_perm is not None:
        raise UnsupportedOp(f"node {node.name!r} (Squeeze): axes {positions} of a tensor of shape "
                            f"{ctx.shape(node.input[0])}: only an image's height of 1, or all of a 1-pixel image's "
                            "spatial axes, can be removed")
    ctx.value_out(node, IntVal(x.ir, squeezed, node.output[0]))


def on_passthrough(ctx, node):
    ctx.value_out(node, ctx.get(node.input[0], node))
