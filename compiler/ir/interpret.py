"""The reference kernels: exact integer numpy execution of the IR, batched and vectorised.

This is the oracle every other backend is compared with, so each kernel is written for clarity over speed and
computes in int64 (the bit-width pass proves every accumulator fits far below 63 bits).
"""
from __future__ import annotations

import numpy as np

from .floatops import F32
from .graph import (Add, Concat, Conv2D, Dense, Flatten, Graph, MaxPool, Pad, Requantize, Shift, SumPool,
                    Threshold, Upsample)


def round_half_even_shift(x: np.ndarray, shift: int) -> np.ndarray:
    """x * 2**-shift rounded half to even, exactly, for integer x (shift <= 0 is an exact left shift)."""
    x = x.astype(np.int64)
    if shift <= 0:
        return x << (-shift)
    floor = x >> shift
    remainder = x - (floor << shift)
    half = 1 << (shift - 1)
    round_up = (remainder > half) | ((remainder == half) & ((floor & 1) == 1))
    return floor + round_up.astype(np.int64)


def _windows(x: np.ndarray, kernel, stride, pads, pad_value) -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, C, KH, KW) view of every sliding window."""
    top, left, bottom, right = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(x, tuple(kernel), axis=(1, 2))
    return win[:, ::stride[0], ::stride[1]]


def conv2d(node: Conv2D, graph: Graph, x: np.ndarray) -> np.ndarray:
    win = _windows(x, node.kernel, node.stride, node.pads, node.pad_value)   # N, OH, OW, C, KH, KW
    w = node.weights.astype(np.int64)                                          # KH, KW, Cin, Cout
    if node.depthwise:
        acc = np.einsum("nhwcij,ijc->nhwc", win, w[:, :, 0, :], optimize=True)
    else:
        acc = np.tensordot(win, w, axes=([3, 4, 5], [2, 0, 1]))
    return acc + node.bias.astype(np.int64)


def dense(node: Dense, graph: Graph, x: np.ndarray) -> np.ndarray:
    return x @ node.weights.astype(np.int64) + node.bias.astype(np.int64)


def threshold(node: Threshold, graph: Graph, x: np.ndarray) -> np.ndarray:
    t = node.thresholds.astype(np.int64)
    if t.shape[0] == 1:
        t = np.broadcast_to(t, (x.shape[-1], t.shape[1]))
    # count of thresholds reached, per channel: compare against each threshold column in turn (N is small)
    count = np.zeros(x.shape, dtype=np.int64)
    for j in range(t.shape[1]):
        count += x >= t[:, j]
    return count + node.out_base


def shift(node: Shift, graph: Graph, x: np.ndarray) -> np.ndarray:
    return np.clip(round_half_even_shift(x, node.shift), node.lo, node.hi)


def maxpool(node: MaxPool, graph: Graph, x: np.ndarray) -> np.ndarray:
    pad_value = graph.tensors[node.inputs[0]].dtype.min      # padding never wins a max
    return _windows(x, node.kernel, node.stride, node.pads, pad_value).max(axis=(4, 5))


def sumpool(node: SumPool, graph: Graph, x: np.ndarray) -> np.ndarray:
    return _windows(x, node.kernel, node.stride, node.pads, 0).sum(axis=(4, 5), dtype=np.int64)


def add(node: Add, graph: Graph, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a * node.mul_a + b * node.mul_b


def flatten(node: Flatten, graph: Graph, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


def concat(node: Concat, graph: Graph, *inputs: np.ndarray) -> np.ndarray:
    return np.concatenate(inputs, axis=-1)


def pad(node: Pad, graph: Graph, x: np.ndarray) -> np.ndarray:
    top, left, bottom, right = node.pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=node.value)


def upsample(node: Upsample, graph: Graph, x: np.ndarray) -> np.ndarray:
    sy, sx = node.scale
    return x.repeat(sy, axis=1).repeat(sx, axis=2)


def requantize(node: Requantize, graph: Graph, x: np.ndarray) -> np.ndarray:
    """The source model's float path, evaluated as its float execution does (float32, one rounding per op)."""
    t = graph.tensors[node.inputs[0]]
    scale = np.broadcast_to(np.asarray(t.scale, np.float64), (t.channels,))
    return node.levels((x.astype(np.float64) * scale).astype(F32))


# The reference kernel of every IR op: kernel(node, graph, *input arrays) -> output array.
KERNELS = {Conv2D: conv2d, Dense: dense, Threshold: threshold, Shift: shift, MaxPool: maxpool, SumPool: sumpool,
           Add: add, Flatten: flatten, Concat: concat, Pad: pad, Upsample: upsample, Requantize: requantize}


def run_graph(graph: Graph, x: np.ndarray, keep_all: bool = False):
    """Execute ``graph`` on a batch of integer inputs (N, *input shape).  Returns the output integers, or with
    ``keep_all`` a dict of every tensor (for debugging a backend that disagrees)."""
    inp = graph.input_tensor
    x = np.asarray(x)
    if x.shape[1:] != tuple(inp.shape):
        raise ValueError(f"input batch has shape {x.shape[1:]}, model input {inp.name!r} wants {tuple(inp.shape)}")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"reference backend takes integers of type {inp.dtype}; got {x.dtype} "
                        f"(quantise with Session.quantize_input first)")
    if x.size and (x.min() < inp.dtype.min or x.max() > inp.dtype.max):
        raise ValueError(f"input values outside {inp.dtype} [{inp.dtype.min}, {inp.dtype.max}]")
    values = {graph.input: x.astype(np.int64)}
    for node in graph.nodes:
        kernel = KERNELS.get(type(node))
        if kernel is None:
            raise TypeError(f"reference backend has no kernel for {node.op} ({node.name})")
        values[node.output] = kernel(node, graph, *[values[name] for name in node.inputs])
    if keep_all:
        return values
    return values[graph.output]
