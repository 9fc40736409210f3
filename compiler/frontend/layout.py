"""Layout tracking: how an ONNX tensor's axes map onto the IR's NHWC order.

An IntVal (values.py) carries ``axes`` with onnx_tensor = ir_tensor.transpose(axes), batch included, and for a
flattened tensor ``flat_perm`` (IR element i is ONNX element flat_perm[i]).  This module holds the rules that set
them: the layout of the model input, Reshapes that are really transposes, and the order of a flatten.
"""
from __future__ import annotations

import itertools

import numpy as np
from onnx import helper

from .values import IntVal

NHWC_OF_NCHW = (0, 3, 1, 2)      # onnx NCHW tensor = ir NHWC tensor .transpose(0, 3, 1, 2)
IDENTITY4 = (0, 1, 2, 3)
# ops the input's layout is traced through on the way to its first layer
_LAYOUT_NEUTRAL = ("Quant", "Mul", "Add", "Sub", "Div", "Relu", "Identity")


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
    then the data is NHWC already."""
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


def flatten_perm(ir_shape: tuple, value: IntVal):
    """For flattening ``value`` (IR shape ``ir_shape``): IR flat index -> ONNX flat position, or None if the two
    orders agree."""
    ir_index = np.arange(int(np.prod(ir_shape))).reshape((1,) + tuple(ir_shape))
    onnx_order = np.transpose(ir_index, value.axes).reshape(-1)        # ONNX flat position -> IR flat index
    perm = np.empty_like(onnx_order)
    perm[onnx_order] = np.arange(onnx_order.size)                      # IR flat index -> ONNX flat position
    return None if np.array_equal(perm, np.arange(perm.size)) else perm
