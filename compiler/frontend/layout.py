"""Layout tracking: how an ONNX tensor's axes map onto the IR's NHWC order.

An IntVal (values.py) carries ``axes`` with onnx_tensor = ir_tensor.transpose(axes), batch included, and for a
flattened tensor ``flat_perm`` (IR element i is ONNX element flat_perm[i]).  This module holds the rules that set
them: the layout of the model input, Reshapes that are really transposes, size-1 axes added and removed
(Unsqueeze / Squeeze), the order of a flatten, and how a spatial op's attributes map onto the IR's height and width.

One-dimensional signals (Conv1D, QuantConv1d) are images of height 1 in the IR: a (1, W, C) tensor.  An ONNX 3-D
tensor (N, C, W) over it has three ``axes`` that refer to the IR tensor *without* its height axis, (N, W, C): onnx =
ir[:, 0].transpose(axes).  So every later layer of the stack (plan, HLS, RTL, estimate) sees a plain 1 x W image and
a 1 x K kernel, and needs nothing of its own for 1-D models.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from onnx import helper

from convflow.hw.errors import UnsupportedOp

from .values import IntVal

NHWC_OF_NCHW = (0, 3, 1, 2)      # onnx NCHW tensor = ir NHWC tensor .transpose(0, 3, 1, 2)
IDENTITY4 = (0, 1, 2, 3)
# onnx (N, C, W, H): an image whose ONNX height axis is the IR's width (tf2onnx runs Keras's 1-D pools that way)
SWAPPED_NCHW = (0, 3, 2, 1)
NCW_OF_NWC = (0, 2, 1)           # onnx (N, C, W) = the IR's (N, 1, W, C) without its height axis, transposed
IDENTITY3 = (0, 1, 2)
H_AXIS = 1                       # the IR's height axis in (N, H, W, C): the one a 3-D ONNX tensor leaves out
# ops the input's layout is traced through on the way to its first layer
_LAYOUT_NEUTRAL = ("Quant", "Mul", "Add", "Sub", "Div", "Relu", "Identity")


def ir_view(ir_shape: tuple, axes: tuple) -> tuple:
    """The IR tensor's shape (batch included) as the ONNX tensor's axes refer to it: (1, H, W, C) for a 4-D ONNX
    tensor, (1, W, C) -- the height (1) left out -- for a 3-D one, (1, F) for a flat one."""
    full = (1,) + tuple(ir_shape)
    if len(axes) == 3 and len(full) == 4:
        if full[H_AXIS] != 1:
            raise ValueError(f"a 3-D ONNX tensor over an IR image of height {full[H_AXIS]}")
        return full[:H_AXIS] + full[H_AXIS + 1:]
    return full


def unsqueeze_axes(axes: tuple, position: int) -> tuple:
    """A 3-D layout with a size-1 ONNX axis inserted at ``position``: that axis is the IR's height."""
    lifted = [a + 1 if a >= H_AXIS else a for a in axes]          # (N, W, C) indices -> (N, H, W, C) ones
    return tuple(lifted[:position] + [H_AXIS] + lifted[position:])


def squeeze_axes(axes: tuple, position: int) -> tuple | None:
    """A 4-D layout with ONNX axis ``position`` removed, or None unless that axis is the IR's height."""
    if axes[position] != H_AXIS:
        return None
    return tuple(a - 1 if a > H_AXIS else a for i, a in enumerate(axes) if i != position)


@dataclass(frozen=True)
class Spatial:
    """How a Conv / pool / Pad / Resize node's spatial attributes (one value per ONNX spatial axis) map onto the IR's
    (height, width): a 2-D image as it is or with its axes swapped, or a 1-D signal (height 1)."""
    rank: int                    # ONNX spatial axes: 1 or 2
    swapped: bool = False        # ONNX spatial axes are the IR's (width, height)

    def pair(self, values, fill: int) -> tuple:
        """ONNX per-axis values (kernel, strides, dilations, output sizes) -> IR (height, width); a 1-D signal's
        height gets ``fill``."""
        values = tuple(int(v) for v in values)
        if self.rank == 1:
            return (fill, values[0])
        return (values[1], values[0]) if self.swapped else values

    def pads(self, pads) -> tuple:
        """ONNX spatial pads (begins..., ends...) -> IR (top, left, bottom, right)."""
        pads = tuple(int(p) for p in pads)
        if self.rank == 1:
            return (0, pads[0], 0, pads[1])
        top, left, bottom, right = pads
        return (left, top, right, bottom) if self.swapped else (top, left, bottom, right)

    def kernel(self, weights: np.ndarray) -> np.ndarray:
        """ONNX Conv weights (Cout, Cin/g, *K) -> the IR's (KH, KW, Cin/g, Cout)."""
        if self.rank == 1:
            weights = weights[:, :, None, :]
        return np.transpose(weights, (3, 2, 1, 0) if self.swapped else (2, 3, 1, 0))


_SPATIAL = {NHWC_OF_NCHW: Spatial(2), SWAPPED_NCHW: Spatial(2, swapped=True), NCW_OF_NWC: Spatial(1)}


def spatial(node, x: IntVal) -> Spatial:
    """The spatial view of ``node``'s input ``x``: an NCHW image, or an NCW signal; anything else is refused."""
    view = _SPATIAL.get(tuple(x.axes)) if x.flat_perm is None else None
    if view is None:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): input is not an NCHW image or NCW signal "
                            f"(its axes are the IR's {tuple(x.axes)})")
    return view


def reshape_as_perm(in_shape, out_shape):
    """The transpose permutation a 4-D Reshape is equivalent to (it only moves size-1 axes), or None.
    Keras exports turn NHWC into NCHW with a Reshape when there is one channel."""
    if len(in_shape) != 4 or len(out_shape) != 4:
        return None
    for perm in itertools.permutations(range(4)):
        if perm[0] != 0 or tuple(in_shape[p] for p in perm) != tuple(out_shape):
            continue
        moved = [p for p in perm if in_shape[p] != 1]
        if moved == sorted(moved):           # data order unchanged: the reshape is this transpose
            return perm
    return None


def input_axes(ctx, tensor: str, shape: tuple) -> tuple:
    """ONNX 4-D tensors are NCHW unless the graph transposes them NHWC->NCHW before a layer (as Keras exports do);
    then the data is NHWC already.  3-D tensors likewise: NCW (PyTorch's Conv1d) unless the graph transposes them
    to NCW, or adds a height axis and transposes the image (tf2onnx's Conv1D), before a layer."""
    if len(shape) == 3:
        return _input_axes_1d(ctx, tensor)
    if len(shape) != 4:
        return tuple(range(len(shape)))
    seen = tensor
    for _ in range(16):
        consumers = ctx.consumers.get(seen, [])
        if len(consumers) != 1:
            break
        nxt = consumers[0]
        if nxt.op_type == "Reshape":
            perm = reshape_as_perm(ctx.shape(nxt.input[0]), ctx.shape(nxt.output[0]))
            if perm == (0, 3, 1, 2):
                return IDENTITY4
            break
        if nxt.op_type == "Transpose":
            perm = tuple(helper.get_attribute_value(a) for a in nxt.attribute if a.name == "perm")[0]
            if tuple(perm) == (0, 3, 1, 2):
                return IDENTITY4
            break
        if nxt.op_type not in _LAYOUT_NEUTRAL:
            break
        seen = nxt.output[0]
    return NHWC_OF_NCHW


def _perm_attr(node) -> tuple:
    return tuple(helper.get_attribute_value(a) for a in node.attribute if a.name == "perm")[0]


def _input_axes_1d(ctx, tensor: str) -> tuple:
    seen = tensor
    for _ in range(16):
        consumers = ctx.consumers.get(seen, [])
        if len(consumers) != 1:
            break
        nxt = consumers[0]
        if nxt.op_type == "Transpose":
            return IDENTITY3 if tuple(_perm_attr(nxt)) == (0, 2, 1) else NCW_OF_NWC
        if nxt.op_type in ("Unsqueeze", "Reshape"):      # (N, W, C) -> (N, 1, W, C), then NHWC -> NCHW
            after = ctx.consumers.get(nxt.output[0], [])
            if (len(after) == 1 and after[0].op_type == "Transpose"
                    and tuple(_perm_attr(after[0])) == NHWC_OF_NCHW and ctx.shape(nxt.output[0])[1] == 1):
                return IDENTITY3
            break
        if nxt.op_type not in _LAYOUT_NEUTRAL:
            break
        seen = nxt.output[0]
    return NCW_OF_NWC


def flatten_perm(ir_shape: tuple, value: IntVal):
    """For flattening ``value`` (IR shape ``ir_shape``): IR flat index -> ONNX flat position, or None if the two
    orders agree."""
    ir_index = np.arange(int(np.prod(ir_shape))).reshape(ir_view(ir_shape, value.axes))
    onnx_order = np.transpose(ir_index, value.axes).reshape(-1)        # ONNX flat position -> IR flat index
    perm = np.empty_like(onnx_order)
    perm[onnx_order] = np.arange(onnx_order.size)                      # IR flat index -> ONNX flat position
    return None if np.array_equal(perm, np.arange(perm.size)) else perm
