"""MaxPool, AveragePool, GlobalAveragePool of an NCHW image or an NCW signal (layout.spatial).  An average pool is an
integer window sum (IR SumPool) followed by the float model's own division by the window size, kept as a pending
float op so it rounds exactly as the model does."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, FloatOp
from convflow.compiler.ir.graph import IntType, MaxPool, SumPool
from convflow.hw.errors import UnsupportedOp

from ..context import attributes
from ..layout import spatial
from ..values import IntVal, Pending


def pool_params(node, x: IntVal):
    """(kernel, stride, pads, attributes) of a windowed pool, in the IR's (height, width) terms."""
    attrs = attributes(node)
    view = spatial(node, x)
    if attrs.get("ceil_mode", 0):
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): ceil_mode is not supported")
    if any(d != 1 for d in attrs.get("dilations", [1] * view.rank)):
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): dilation is not supported")
    onnx_kernel = attrs["kernel_shape"]
    kernel = view.pair(onnx_kernel, 1)
    stride = view.pair(attrs.get("strides", onnx_kernel), 1)
    pads = view.pads(attrs.get("pads", [0] * (2 * view.rank)))
    return kernel, stride, pads, attrs


def pooled_shape(ctx, x, kernel, stride, pads):
    h, w, c = ctx.ir(x).shape
    return ((h + pads[0] + pads[2] - kernel[0]) // stride[0] + 1,
            (w + pads[1] + pads[3] - kernel[1]) // stride[1] + 1, c)


def on_maxpool(ctx, node):
    x = ctx.as_int(node, 0)
    kernel, stride, pads, _ = pool_params(node, x)
    t = ctx.ir(x)
    # max commutes with the bipolar encoding (2b - 1 grows with b): the bits of the max are the max of the bits
    out = ctx.new_tensor(node.output[0], pooled_shape(ctx, x, kernel, stride, pads), t.dtype, t.scale, t.bipolar)
    ctx.emit(MaxPool(node.name, [x.ir], out, kernel=kernel, stride=stride, pads=pads))
    ctx.value_out(node, IntVal(out, x.axes, node.output[0]))


def on_avgpool(ctx, node):
    x = ctx.as_int(node, 0)
    ctx.refuse_bipolar(node, x)
    t = ctx.ir(x)
    if node.op_type == "GlobalAveragePool":
        spatial(node, x)
        kernel, stride, pads = t.shape[:2], t.shape[:2], (0, 0, 0, 0)
    else:
        kernel, stride, pads, attrs = pool_params(node, x)
        if any(pads) and not attrs.get("count_include_pad", 0):
            raise UnsupportedOp(f"node {node.name!r} (AveragePool): padding without count_include_pad")
    out = ctx.new_tensor(node.output[0], pooled_shape(ctx, x, kernel, stride, pads), IntType(32, True), t.scale)
    ctx.emit(SumPool(node.name, [x.ir], out, kernel=tuple(kernel), stride=tuple(stride), pads=pads))
    ctx.record_exact(node, [t.scale], t.scale)
    # the float model divides the window sum by k: keep that division as a float op, exactly as it rounds
    k = float(np.prod(kernel))
    summed = Pending(IntVal(out, x.axes, node.output[0] + ":sum"))
    ctx.value_out(node, summed.then([FloatOp("div", np.asarray(k, F32))], node))
