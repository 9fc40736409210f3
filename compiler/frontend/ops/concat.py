"""Concat of integer tensors along their channel axis (IR Concat).  Each input keeps its own scale: the output's
scale is per channel (one value when every input has the same), so no value is rescaled and nothing rounds."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Concat, IntType
from convflow.hw.errors import UnsupportedOp

from ..context import attributes
from ..values import IntVal


def on_concat(ctx, node):
    inputs = [ctx.as_int(node, i) for i in range(len(node.input))]
    first = inputs[0]
    rank = len(first.axes)
    axis = attributes(node).get("axis", 1) % rank
    tensors = [ctx.ir(v) for v in inputs]
    if len({t.bipolar for t in tensors}) > 1:
        ctx.refuse_bipolar(node, *inputs)
    if any(v.flat_perm is not None for v in inputs) or any(v.axes != first.axes for v in inputs):
        raise UnsupportedOp(f"node {node.name!r} (Concat): its inputs are not in one layout (concatenate them before "
                            "a flatten)")
    if axis != first.channel_axis:
        raise UnsupportedOp(f"node {node.name!r} (Concat): only a concatenation of channels is supported (axis "
                            f"{first.channel_axis} here; got axis {axis})")
    if any(t.shape[:-1] != tensors[0].shape[:-1] for t in tensors):
        raise UnsupportedOp(f"node {node.name!r} (Concat): inputs of IR shapes {[t.shape for t in tensors]} differ "
                            "in more than their channels")
    scales = [np.broadcast_to(np.asarray(t.scale, np.float64), (t.channels,)) for t in tensors]
    scale = np.concatenate(scales)
    if np.all(scale == scale[0]):
        scale = np.asarray(scale[0])
    dtype = IntType.for_range(min(t.dtype.min for t in tensors), max(t.dtype.max for t in tensors))
    shape = tensors[0].shape[:-1] + (sum(t.channels for t in tensors),)
    out = ctx.new_tensor(node.output[0], shape, dtype, scale, tensors[0].bipolar)
    ctx.emit(Concat(node.name, [v.ir for v in inputs], out))
    ctx.value_out(node, IntVal(out, first.axes, node.output[0]))
