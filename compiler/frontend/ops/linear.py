"""Conv, MatMul, Gemm: integer matrix-vector layers (IR Conv2D / Dense) with an exact integer accumulator.

The layer is emitted with a zero bias and the accumulator scale input scale x weight scale; an ONNX bias becomes a
pending float Add, which passes/absorb_into_accumulator.py moves into the integer bias where that is exact.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, FloatOp
from convflow.compiler.ir.graph import Conv2D, Dense, IntType
from convflow.hw.errors import ModelError, UnsupportedOp

from ..context import attributes
from ..layout import spatial
from ..values import Const, IntVal, Pending, QConst

# the accumulator type until passes/infer_bitwidths.py derives the real one from the operand ranges
PLACEHOLDER_ACC = IntType(32, True)


def weights(ctx, node, index: int) -> QConst:
    value = ctx.get(node.input[index], node)
    if isinstance(value, Const):
        w = value.value
        if np.all(w == np.round(w)) and np.abs(w).max() < 2 ** 16:
            return QConst(w.astype(np.int64), np.asarray(1.0, F32), node.name)   # integer-valued weights
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): weights {node.input[index]!r} are not "
                            "quantised (add a Quant node / QKeras quantizer)")
    if not isinstance(value, QConst):
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): weights {node.input[index]!r} must be a "
                            "(quantised) constant")
    return value


def input_grid(ctx, node, x: IntVal) -> tuple:
    """(the grid the layer reads its input on, and per input channel the whole number each level is multiplied by
    to lie on it, or None).  An input concatenated from tensors on different grids has per-channel scales; where each
    is a whole multiple of the finest one, every level is read on the finest grid with that multiple folded into the
    layer's weights (integers times integers: exact)."""
    t = ctx.ir(x)
    scale = np.asarray(t.scale, np.float64).reshape(-1)
    if scale.size == 1:
        return float(scale[0]), None
    finest = float(scale.min())
    ratio = scale / finest
    if finest <= 0 or not np.all(ratio == np.round(ratio)) or t.bipolar:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): its input has per-channel scales that are not "
                            f"whole multiples of one grid ({np.unique(scale)[:4]}); a layer reads one input grid")
    return finest, np.round(ratio).astype(np.int64)


def mvu_scale(ctx, node, s_in: float, w_ints: np.ndarray, w_scale: np.ndarray, out_axis: int) -> np.ndarray:
    """The accumulator's scale: input grid x weight scale, per tensor or per output channel."""
    s_in = np.asarray(s_in, np.float64)
    ws = np.asarray(w_scale, np.float64)
    if ws.size == 1:
        return s_in * ws.reshape(())
    # broadcast as the Quant node did, then demand one value per output channel
    full = np.moveaxis(np.broadcast_to(ws, w_ints.shape), out_axis, 0).reshape(w_ints.shape[out_axis], -1)
    if not np.all(full == full[:, :1]):
        raise UnsupportedOp(f"node {node.name!r}: weight scale of shape {ws.shape} is neither per tensor nor "
                            "per output channel")
    return s_in * full[:, 0]


def bipolar_encoded(matrix: np.ndarray, rows_axes: tuple) -> tuple:
    """Weights and bias that compute sum_i (2 b_i - 1) w_i from the bits b of a bipolar input: 2 w and -sum w
    (exact integers; the accumulator is the same number the float model's sum of +-1 x w is)."""
    return 2 * matrix, -matrix.sum(axis=rows_axes)


def block_diagonal(kernel: np.ndarray, group: int) -> np.ndarray:
    """A grouped kernel (KH, KW, Cin/g, Cout) as the full (KH, KW, Cin, Cout) kernel it stands for: zero outside
    each group's block."""
    kh, kw, cin_g, cout = kernel.shape
    full = np.zeros((kh, kw, cin_g * group, cout), np.int64)
    per_group = cout // group
    for g in range(group):
        full[:, :, g * cin_g:(g + 1) * cin_g, g * per_group:(g + 1) * per_group] = \
            kernel[:, :, :, g * per_group:(g + 1) * per_group]
    return full


def has_bias(node) -> bool:
    return len(node.input) > 2 and bool(node.input[2])


def accumulator_tap(node) -> str:
    """The tensor holding the node's accumulator: its output, or, when the node adds a bias itself, the value
    before the bias, which the qonnx backend's exact evaluation names <output>:acc (qonnx_exact.py)."""
    return node.output[0] + ":acc" if has_bias(node) else node.output[0]


def add_bias(ctx, node, value: IntVal, const_name: str) -> None:
    bias = ctx.get(const_name, node)
    const = bias.value if isinstance(bias, Const) else (bias.ints * bias.scale).astype(F32) \
        if isinstance(bias, QConst) else None
    if const is None:
        raise UnsupportedOp(f"node {node.name!r}: bias must be a constant")
    if node.op_type == "Conv":      # a Conv bias is one value per output channel (axis 1), not broadcast
        const = ctx.along_axis1(const, value)
    ctx.value_out(node, Pending(value).then([FloatOp("add", ctx.per_channel(const, value, node))], node))


def dense(ctx, node, x: IntVal, w: QConst, w_ints: np.ndarray, w_scale, out_axis: int) -> IntVal:
    """A Dense layer from ``node``'s weights ``w`` (as ONNX holds them), read as ``w_ints`` / ``w_scale`` with
    rows = inputs."""
    t = ctx.ir(x)
    if len(t.shape) != 1:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): input of IR shape {t.shape} must be "
                            "flattened first")
    if w_ints.shape[0] != t.shape[0]:
        raise ModelError(f"node {node.name!r} ({node.op_type}): weights have {w_ints.shape[0]} rows, the input has "
                         f"{t.shape[0]} features")
    matrix = w_ints if x.flat_perm is None else w_ints[x.flat_perm]
    cout = matrix.shape[1]
    bias = np.zeros(cout, np.int64)
    if t.bipolar:
        matrix, bias = bipolar_encoded(matrix.astype(np.int64), (0,))
    s_in, multiples = input_grid(ctx, node, x)
    if multiples is not None:
        if multiples.size != t.shape[0]:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): its input's scales are per channel of an "
                                "image that was flattened; quantise after the flatten")
        matrix = matrix * multiples[:, None]
    scale = mvu_scale(ctx, node, s_in, w_ints, w_scale, out_axis)
    out = ctx.new_tensor(node.output[0], (cout,), PLACEHOLDER_ACC, scale)
    ctx.emit(Dense(node.name, [x.ir], out, weights=matrix.astype(np.int64), bias=bias))
    ctx.record_exact(node, [s_in], scale, w.scale)
    value = IntVal(out, (0, 1), accumulator_tap(node))
    ctx.value_out(node, value)
    return value


def on_matmul(ctx, node):
    x = ctx.as_int(node, 0)
    w = weights(ctx, node, 1)
    if w.ints.ndim != 2:
        raise UnsupportedOp(f"node {node.name!r} (MatMul): weights must be 2-D")
    dense(ctx, node, x, w, w.ints, w.scale, out_axis=1)


def on_gemm(ctx, node):
    attrs = attributes(node)
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise UnsupportedOp(f"node {node.name!r} (Gemm): only transB, alpha = beta = 1 are supported")
    x = ctx.as_int(node, 0)
    w = weights(ctx, node, 1)
    ints, scale = w.ints, w.scale
    if attrs.get("transB", 0):
        ints = ints.T
        scale = np.asarray(scale).T if np.ndim(scale) == 2 else scale
    out = dense(ctx, node, x, w, ints, scale, out_axis=1)
    if has_bias(node):
        add_bias(ctx, node, out, node.input[2])


def on_conv(ctx, node):
    """A 2-D convolution of an NCHW image, or a 1-D one of an NCW signal (the IR's 1 x W image, kernel 1 x K)."""
    attrs = attributes(node)
    x = ctx.as_int(node, 0)
    view = spatial(node, x)
    w = weights(ctx, node, 1)
    t = ctx.ir(x)
    h, wd, cin = t.shape
    if w.ints.ndim != view.rank + 2:
        raise ModelError(f"node {node.name!r} (Conv): weights of shape {tuple(w.ints.shape)} for a {view.rank}-D "
                         "convolution")
    cout, cin_g = w.ints.shape[:2]
    group = attrs.get("group", 1)
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UnsupportedOp(f"node {node.name!r} (Conv): auto_pad is not supported; use explicit pads")
    if any(d != 1 for d in attrs.get("dilations", [1] * view.rank)):
        raise UnsupportedOp(f"node {node.name!r} (Conv): dilation is not supported")
    if group < 1 or cin % group or cout % group or cin_g * group != cin:
        raise ModelError(f"node {node.name!r} (Conv): group={group} does not split {cin} input and {cout} output "
                         f"channels (weights {tuple(w.ints.shape)})")
    depthwise = group == cin == cout and cin_g == 1
    pads = view.pads(attrs.get("pads", [0] * (2 * view.rank)))
    stride = view.pair(attrs.get("strides", [1] * view.rank), 1)
    kernel = view.kernel(w.ints).astype(np.int64)                 # (KH, KW, Cin/g, Cout)
    kh, kw = kernel.shape[:2]
    if group != 1 and not depthwise:
        kernel = block_diagonal(kernel, group)
        ctx.notes.append(f"grouped convolution {node.name!r} (group={group}) runs as one convolution with a "
                         f"block-diagonal kernel: {group}x the multipliers and weights a grouped unit would need")
    bias = np.zeros(cout, np.int64)
    if t.bipolar:
        if any(pads):
            raise UnsupportedOp(f"node {node.name!r} (Conv): padding a bipolar (binarised) input: the pad value 0 is "
                                "neither -1 nor +1, so the binarised convolution cannot be exact (pad before the "
                                "binarisation, or use an unpadded convolution as FINN's CNV does)")
        kernel, bias = bipolar_encoded(kernel, (0, 1, 2))
    s_in, multiples = input_grid(ctx, node, x)
    if multiples is not None:          # input channel c of output o: channel o itself when depthwise
        kernel = kernel * (multiples[None, None, None, :] if depthwise else multiples[None, None, :, None])
    scale = mvu_scale(ctx, node, s_in, w.ints, w.scale, 0)
    oh = (h + pads[0] + pads[2] - kh) // stride[0] + 1
    ow = (wd + pads[1] + pads[3] - kw) // stride[1] + 1
    out = ctx.new_tensor(node.output[0], (oh, ow, cout), PLACEHOLDER_ACC, scale)
    ctx.record_exact(node, [s_in], scale, w.scale)
    ctx.emit(Conv2D(node.name, [x.ir], out, weights=kernel, bias=bias,
                    stride=stride, pads=(pads[0], pads[1], pads[2], pads[3]), depthwise=depthwise))
    value = IntVal(out, x.axes, accumulator_tap(node))
    ctx.value_out(node, value)
    if has_bias(node):
        add_bias(ctx, node, value, node.input[2])
