"""Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity, Dropout: layout changes (tracked, frontend/layout.py)
and the one that changes the stream, a flatten of an image or signal (IR Flatten: a no-op on the NHWC stream).

A layout change applies alike to an integer tensor, to a float chain pending on one (its ops are per IR channel;
the chain's ONNX layout moves, values.Pending.axes), and to a constant (tf2onnx reshapes and transposes biases
before adding them)."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Flatten
from convflow.hw.errors import UnsupportedOp

from ..context import attributes
from ..layout import flatten_perm, reshape_as_perm, squeeze_axes, unsqueeze_axes
from ..values import Const, HostFloat, IntVal, Pending, QConst


def flatten(ctx, node, x: IntVal):
    t = ctx.ir(x)
    perm = flatten_perm(t.shape, x)
    scale = np.asarray(t.scale, np.float64)
    if scale.size > 1:              # one scale per channel (after a Concat): one per feature, in the NHWC order
        scale = np.tile(scale, int(np.prod(t.shape[:-1])))
    out = ctx.new_tensor(node.output[0], (int(np.prod(t.shape)),), t.dtype, scale, t.bipolar)
    ctx.emit(Flatten(node.name, [x.ir], out))
    ctx.value_out(node, IntVal(out, (0, 1), node.output[0], perm))


def _constant(ctx, node, v, change) -> bool:
    """A constant through ``change`` (an array -> array function); False if ``v`` is no constant."""
    if isinstance(v, Const):
        ctx.value_out(node, Const(change(v.value)))
    elif isinstance(v, QConst):
        scale = np.broadcast_to(v.scale, v.ints.shape) if np.size(v.scale) > 1 else v.scale
        ctx.value_out(node, QConst(change(v.ints), change(scale) if np.size(v.scale) > 1 else scale, v.node))
    else:
        return False
    return True


def _reshaped_off_hardware(ctx, node, v, out_shape) -> bool:
    """A host-side float value or a constant reshaped to ``out_shape`` as it is (no layout to track); False for
    an integer tensor."""
    if isinstance(v, HostFloat):
        ctx.value_out(node, HostFloat(v.ops, out_shape, v.source_shape))
        return True
    return _constant(ctx, node, v, lambda a: np.reshape(a, out_shape))


def _move(ctx, node, v, new_axes) -> None:
    """An integer tensor, or a float chain pending on one, in the layout ``new_axes(view)`` gives."""
    view = v.view if isinstance(v, Pending) else v
    if view.flat_perm is not None:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}) of a flattened tensor")
    axes = new_axes(view)
    if isinstance(v, Pending) and v.ops:
        ctx.value_out(node, v.moved(axes))
    else:
        ctx.value_out(node, IntVal(view.ir, axes, node.output[0]))


def _readable(ctx, node):
    """The input as a constant, a pending float chain or an integer tensor (quantising a raw model input)."""
    v = ctx.get(node.input[0], node)
    if isinstance(v, (Const, QConst)) or (isinstance(v, Pending) and v.ops):
        return v
    return ctx.as_int(node, 0)


def on_reshape(ctx, node):
    v = ctx.get(node.input[0], node)
    out_shape = ctx.shape(node.output[0])
    if _reshaped_off_hardware(ctx, node, v, out_shape):
        return
    v = _readable(ctx, node)
    in_shape = ctx.shape(node.input[0])
    perm = reshape_as_perm(in_shape, out_shape)
    added = next((i for i in range(len(out_shape)) if out_shape[i] == 1 and
                  tuple(out_shape[:i]) + tuple(out_shape[i + 1:]) == tuple(in_shape)), None)
    if perm is not None:
        _move(ctx, node, v, lambda x: tuple(x.axes[p] for p in perm))
    elif tuple(out_shape) == tuple(in_shape):
        ctx.value_out(node, v)
    elif len(in_shape) == 3 and len(out_shape) == 4 and added is not None:
        # a signal given its height axis back, e.g. (N, W, C) -> (N, 1, W, C): an Unsqueeze written as a Reshape
        _move(ctx, node, v, lambda x: unsqueeze_axes(x.axes, added))
    elif len(out_shape) == 2 and out_shape[1] == int(np.prod(in_shape[1:])) and len(in_shape) in (3, 4):
        flatten(ctx, node, ctx.as_int(node, 0))          # (a float chain is refused there, by name)
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
    if isinstance(v, HostFloat) and any(c.op_type in ("Quant", "BipolarQuant")
                                        for c in ctx.consumers.get(node.output[0], [])):
        raise UnsupportedOp(f"node {node.name!r}: transpose of the model input before its quantiser")
    if _constant(ctx, node, v, lambda a: np.transpose(a, perm) if np.ndim(a) == len(perm) else a):
        return
    v = _readable(ctx, node)     # a raw input with no quantiser of its own: the fixed-point input type, then moved

    def permuted(x):
        if len(perm) != len(x.axes):
            raise UnsupportedOp(f"node {node.name!r} (Transpose): perm {perm} for a tensor of rank {len(x.axes)}")
        return tuple(x.axes[p] for p in perm)

    _move(ctx, node, v, permuted)


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
    out_shape = ctx.shape(node.output[0])
    if _reshaped_off_hardware(ctx, node, v, out_shape):
        return
    v = _readable(ctx, node)
    positions = _axes_operand(ctx, node)

    def lifted(x):
        if len(positions) != 1 or len(x.axes) != 3:
            raise UnsupportedOp(f"node {node.name!r} (Unsqueeze): only adding one axis to a 3-D signal is "
                                f"supported (axes {positions} of a tensor of shape {ctx.shape(node.input[0])})")
        return unsqueeze_axes(x.axes, positions[0])

    _move(ctx, node, v, lifted)


def on_squeeze(ctx, node):
    """Size-1 axes removed: an image of height 1 back to a 3-D signal, or an image (signal) of one pixel to
    (batch, channels), which is a flatten."""
    v = ctx.get(node.input[0], node)
    out_shape = ctx.shape(node.output[0])
    if _constant(ctx, node, v, lambda a: np.reshape(a, out_shape)):
        return
    v = _readable(ctx, node)
    positions = _axes_operand(ctx, node) or [i for i, d in enumerate(ctx.shape(node.input[0])) if d == 1 and i]
    if len(out_shape) == 2 and isinstance(v, IntVal) and v.flat_perm is None and len(v.axes) in (3, 4) \
            and 0 not in positions:
        flatten(ctx, node, v)
        return

    def squeezed(x):
        new = squeeze_axes(x.axes, positions[0]) if len(positions) == 1 and len(x.axes) == 4 else None
        if new is None:
            raise UnsupportedOp(f"node {node.name!r} (Squeeze): axes {positions} of a tensor of shape "
                                f"{ctx.shape(node.input[0])}: only an image's height of 1, or all of a 1-pixel "
                                "image's spatial axes, can be removed")
        return new

    _move(ctx, node, v, squeezed)


def on_passthrough(ctx, node):
    ctx.value_out(node, ctx.get(node.input[0], node))
