"""The source model's integer ops evaluated exactly, for the qonnx backend (qonnx_exec.py).

A convolution, matrix product, sum of two quantised tensors or average pool of quantised values is, in a quantised
network, an exact integer computation times a scale: what the accelerator computes.  The float32 model computes
the same sum with rounding, in an order of its own (PyTorch, ONNX Runtime and hardware all differ), so when the
scales are not powers of two the float model's value depends on the implementation.  These nodes are therefore
evaluated here as the integers they stand for: each input is turned back into its integer grid values (checked:
the float input must be exactly those integers times the scale the compiler recorded for it), the integer result
is computed in int64, and it is converted to float32 the way the IR does (float64 product with the scale, then
float32; a bias or an average's division then in float32).  With power-of-two scales this equals the float32
model bit for bit, since every value involved is exact in float32.  Every other op of the source model runs in
qonnx / onnxruntime as the model defines it.

The scales come from the artifact's host interface (``exact_ops``, written by the frontend); the node's own
attributes (pads, strides, groups, transB, kernel) come from the ONNX node.  A 1-D Conv or pool (N, C, W) is
evaluated as the (N, C, 1, W) image it is, as the IR holds it.
"""
from __future__ import annotations

import numpy as np
from onnx import helper

F32, F64 = np.float32, np.float64


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _channel_scale(scale, rank: int) -> np.ndarray:
    """A per-tensor or per-channel scale, broadcastable against an NCHW (or (N, C)) tensor of ``rank``."""
    s = np.asarray(scale, F64)
    if s.size == 1:
        return s.reshape(())
    return s.reshape((1, -1) + (1,) * (rank - 2))


def grid_values(x: np.ndarray, scale) -> np.ndarray:
    """The integers ``x`` (float32) stands for on its grid ``scale``; where ``x`` is not exactly integer * scale the
    quotient is kept as is, so the mismatch shows in the comparison instead of being rounded away."""
    s = np.asarray(scale, F64)
    quotient = np.asarray(x, F64) / s
    ints = np.rint(quotient)
    on_grid = (ints * s).astype(F32) == np.asarray(x, F32)
    return np.where(on_grid, ints, quotient)


def _to_float(acc: np.ndarray, scale) -> np.ndarray:
    return (np.asarray(acc, F64) * np.asarray(scale, F64)).astype(F32)


def _ints(values: np.ndarray) -> np.ndarray:
    """int64 where exact, float64 where a value was off its grid (so it stays visibly wrong)."""
    return values.astype(np.int64) if np.all(values == np.rint(values)) else values


def _as_image(x: np.ndarray) -> np.ndarray:
    """An (N, C, W) signal as the (N, C, 1, W) image it is; images as they are."""
    return x[:, :, None, :] if x.ndim == 3 else x


def _spatial_attrs(a: dict, rank: int, kernel=None) -> tuple:
    """(pads (top, left, bottom, right), strides (h, w)) of a 2-D node, or of a 1-D node as a 1 x W image's."""
    pads = a.get("pads", [0] * (2 * rank))
    strides = a.get("strides", kernel if kernel is not None else [1] * rank)
    if rank == 1:
        return (0, pads[0], 0, pads[1]), (1, strides[0])
    return tuple(pads), tuple(strides)


def conv(node, context: dict, info: dict) -> np.ndarray:
    a = _attrs(node)
    x = context[node.input[0]]
    x = _ints(grid_values(x, _channel_scale(info["in_scales"][0], x.ndim)))
    w = _ints(grid_values(context[node.input[1]], np.asarray(info["w_scale"], F64)))
    rank = x.ndim - 2
    x, w = _as_image(x), _as_image(w)
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    group = a.get("group", 1)
    (pt, pl, pb, pr), (sh, sw) = _spatial_attrs(a, rank)
    padded = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    outs = []
    per_group = cout // group
    for g in range(group):
        win = windows[:, g * cin_g:(g + 1) * cin_g]                    # N, Cin/g, OH, OW, KH, KW
        wg = w[g * per_group:(g + 1) * per_group]                       # Cout/g, Cin/g, KH, KW
        outs.append(np.einsum("nchwij,ocij->nohw", win, wg, optimize=True))
    acc = _to_float(np.concatenate(outs, axis=1), _channel_scale(info["out_scale"], 4))
    if rank == 1:
        acc = acc[:, :, 0, :]
    if len(node.input) > 2 and node.input[2]:
        bias = np.asarray(context[node.input[2]], F32).reshape((1, -1) + (1,) * rank)
        return {node.output[0]: (acc + bias).astype(F32), node.output[0] + ":acc": acc}
    return acc


def matmul(node, context: dict, info: dict) -> np.ndarray:
    a = _attrs(node)
    x = _ints(grid_values(context[node.input[0]], _channel_scale(info["in_scales"][0], 2)))
    w = _ints(grid_values(context[node.input[1]], np.asarray(info["w_scale"], F64)))
    if a.get("transB", 0):
        w = w.T
    acc = _to_float(x @ w, np.asarray(info["out_scale"], F64))
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        # the accumulator before the bias is a tensor of the IR too (<output>:acc; frontend/ops/linear.py)
        return {node.output[0]: (acc + np.asarray(context[node.input[2]], F32)).astype(F32),
                node.output[0] + ":acc": acc}
    return acc


def add(node, context: dict, info: dict) -> np.ndarray:
    (sa, sb), s_out = info["in_scales"], info["out_scale"]
    a = context[node.input[0]]
    b = context[node.input[1]]
    rank = np.ndim(a)
    acc = (grid_values(a, _channel_scale(sa, rank)) * np.rint(np.asarray(sa, F64) / np.asarray(s_out, F64))
           + grid_values(b, _channel_scale(sb, rank)) * np.rint(np.asarray(sb, F64) / np.asarray(s_out, F64)))
    return _to_float(acc, _channel_scale(s_out, rank))


def average_pool(node, context: dict, info: dict) -> np.ndarray:
    x = context[node.input[0]]
    rank = x.ndim - 2
    scale = _channel_scale(info["in_scales"][0], 4)
    ints = _as_image(_ints(grid_values(x, _channel_scale(info["in_scales"][0], x.ndim))))
    if node.op_type == "GlobalAveragePool":
        kernel, stride, pads = ints.shape[2:], ints.shape[2:], (0, 0, 0, 0)
    else:
        a = _attrs(node)
        kernel = tuple(a["kernel_shape"])
        pads, stride = _spatial_attrs(a, rank, kernel)
        kernel = (1,) + kernel if rank == 1 else kernel
    padded = np.pad(ints, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    windows = np.lib.stride_tricks.sliding_window_view(padded, tuple(kernel), axis=(2, 3))
    sums = _to_float(windows[:, :, ::stride[0], ::stride[1]].sum(axis=(4, 5)), scale)
    if rank == 1:
        sums = sums[:, :, 0, :]
    # the window sum is a tensor of the IR too (its integer tap when the model ends in the pool)
    return {node.output[0]: (sums / F32(np.prod(kernel))).astype(F32), node.output[0] + ":sum": sums}


# the exact evaluation of every ONNX op the frontend records as an exact integer op
EXACT = {"Conv": conv, "MatMul": matmul, "Gemm": matmul, "Add": add, "AveragePool": average_pool,
         "GlobalAveragePool": average_pool}


def evaluate(node, context: dict, info: dict) -> dict:
    """{tensor name: float32 value} of ``node`` evaluated exactly."""
    result = EXACT[node.op_type](node, context, info)
    return result if isinstance(result, dict) else {node.output[0]: result}
