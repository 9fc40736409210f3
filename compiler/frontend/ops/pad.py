"""Pad (constant mode) of an image's height and width or a signal's width (IR Pad), as Keras ZeroPadding2D /
ZeroPadding1D and explicit ONNX Pads export it.  The pad value must lie on the tensor's integer grid (0 always does)."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Pad
from convflow.hw.errors import UnsupportedOp

from ..context import attributes
from ..layout import spatial
from ..values import IntVal


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def on_pad(ctx, node):
    attrs = attributes(node)
    x = ctx.as_int(node, 0)
    ctx.refuse_bipolar(node, x)
    if _text(attrs.get("mode", "constant")) != "constant":
        raise UnsupportedOp(f"node {node.name!r} (Pad): mode {_text(attrs['mode'])!r}; only constant padding is "
                            "supported")
    view = spatial(node, x)
    rank = view.rank + 2
    if len(node.input) > 1 and node.input[1]:                    # opset 11+: pads (and value) are inputs
        pads = [int(p) for p in np.asarray(ctx.const(node.input[1], node, "pads")).reshape(-1)]
        value = float(np.asarray(ctx.const(node.input[2], node, "value")).reshape(-1)[0]) \
            if len(node.input) > 2 and node.input[2] else 0.0
        if len(node.input) > 3 and node.input[3]:
            raise UnsupportedOp(f"node {node.name!r} (Pad): the axes input is not supported; give every axis' pads")
    else:
        pads, value = [int(p) for p in attrs.get("pads", [])], float(attrs.get("value", 0.0))
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise UnsupportedOp(f"node {node.name!r} (Pad): pads {pads} (want {2 * rank} non-negative values, begin and "
                            "end of every axis)")
    if pads[0] or pads[1] or pads[rank] or pads[rank + 1]:
        raise UnsupportedOp(f"node {node.name!r} (Pad): padding the batch or channel axis {pads}; only height and "
                            "width can be padded")
    t = ctx.ir(x)
    scale = np.asarray(t.scale, np.float64)
    if scale.size > 1 and value != 0:
        raise UnsupportedOp(f"node {node.name!r} (Pad): a non-zero pad value on a tensor with per-channel scales")
    step = float(scale.reshape(-1)[0])
    # on the grid as the model's float32 values are: a quantiser writes level x scale rounded to float32 (level
    # 7 x scale 0.0711495 is 0.49804685, not 7 x 0.0711495 exactly), so that is what a pad value on it reads
    level = round(value / step)
    if np.float32(level * step) != np.float32(value) or not t.dtype.min <= level <= t.dtype.max:
        raise UnsupportedOp(f"node {node.name!r} (Pad): pad value {value} is not on the tensor's grid (scale "
                            f"{step}, {t.dtype})")
    top, left, bottom, right = view.pads(pads[2:rank] + pads[rank + 2:])
    h, w, c = t.shape
    out = ctx.new_tensor(node.output[0], (h + top + bottom, w + left + right, c), t.dtype, t.scale)
    ctx.emit(Pad(node.name, [x.ir], out, pads=(top, left, bottom, right), value=int(level)))
    ctx.value_out(node, IntVal(out, x.axes, node.output[0]))
