"""Resize / Upsample in nearest mode by whole factors (IR Upsample), as PyTorch's nn.Upsample and Keras's
UpSampling2D / UpSampling1D export it.  The output pixel each input pixel lands on is worked out with ONNX's own
coordinate rules (coordinate_transformation_mode, nearest_mode) for this very shape and accepted only where it is
out[y] = in[y // s]."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import Upsample
from convflow.hw.errors import UnsupportedOp

from ..context import attributes
from ..layout import spatial
from ..values import IntVal


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def source_indices(out_len: int, in_len: int, scale: float, transform: str, nearest: str) -> np.ndarray:
    """The input index ONNX Resize (nearest) reads for every output index along one axis."""
    x = np.arange(out_len, dtype=np.float64)
    if transform == "asymmetric":
        orig = x / scale
    elif transform == "half_pixel":
        orig = (x + 0.5) / scale - 0.5
    elif transform == "pytorch_half_pixel":
        orig = (x + 0.5) / scale - 0.5 if out_len > 1 else np.zeros_like(x)
    elif transform == "tf_half_pixel_for_nn":
        orig = (x + 0.5) / scale
    elif transform == "align_corners":
        orig = x * (in_len - 1) / (out_len - 1) if out_len > 1 else np.zeros_like(x)
    else:
        raise ValueError(transform)
    if nearest == "floor":
        idx = np.floor(orig)
    elif nearest == "ceil":
        idx = np.ceil(orig)
    elif nearest == "round_prefer_ceil":
        idx = np.floor(orig + 0.5)
    elif nearest == "round_prefer_floor":
        idx = np.ceil(orig - 0.5)
    else:
        raise ValueError(nearest)
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


def on_resize(ctx, node):
    attrs = attributes(node)
    x = ctx.as_int(node, 0)
    view = spatial(node, x)
    mode = _text(attrs.get("mode", "nearest"))
    if mode != "nearest":
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): mode {mode!r}; only nearest-neighbour resizing is "
                            "exact on integers")
    h, w, c = ctx.ir(x).shape
    out_shape = ctx.shape(node.output[0])
    if len(out_shape) != view.rank + 2 or out_shape[1] != c:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): output shape {out_shape} changes more than height "
                            "and width")
    out_h, out_w = view.pair(out_shape[2:], 1)
    if out_h % h or out_w % w:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): {h}x{w} -> {out_h}x{out_w} is not a whole factor")
    sy, sx = out_h // h, out_w // w
    if node.op_type == "Upsample":                      # the deprecated op: asymmetric coordinates, floor
        transform, nearest = "asymmetric", "floor"
    else:
        transform = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
        nearest = _text(attrs.get("nearest_mode", "round_prefer_floor"))
    for out_len, in_len, s, axis in ((out_h, h, sy, "rows"), (out_w, w, sx, "columns")):
        try:
            got = source_indices(out_len, in_len, float(s), transform, nearest)
        except ValueError:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): coordinate mode {transform!r} / nearest mode "
                                f"{nearest!r} is not supported") from None
        if not np.array_equal(got, np.arange(out_len) // s):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): with {transform!r} / {nearest!r} the {axis} "
                                f"are not each input {axis[:-1]} repeated {s} times; convflow upsamples by repeating")
    t = ctx.ir(x)
    out = ctx.new_tensor(node.output[0], (out_h, out_w, c), t.dtype, t.scale, t.bipolar)
    ctx.emit(Upsample(node.name, [x.ir], out, scale=(sy, sx)))
    ctx.value_out(node, IntVal(out, x.axes, node.output[0]))
