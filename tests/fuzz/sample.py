"""A float sample of each activation, computed alongside the model as the builder emits it, so that every activation
quantiser's scale can be chosen for the values it will actually see (build.py).  Only for choosing numbers: the
model's meaning is what qonnx executes, never this.  Quantisers are qonnx's own functions; the rest is numpy on a
small batch (N, C, H, W) or (N, F)."""
from __future__ import annotations

import numpy as np
from qonnx.custom_op.general.bipolar_quant import binary_quant
from qonnx.custom_op.general.quant import quant
from qonnx.custom_op.general.trunc import trunc

F32 = np.float32
SAMPLES = 16


def quantise(x, act: dict) -> np.ndarray:
    s = np.asarray(act["scale"], F32)
    if np.ndim(s) and x.ndim == 4:
        s = s.reshape(1, -1, 1, 1)
    if act["kind"] == "bipolar":
        return binary_quant(x, s).astype(F32)
    if act["kind"] == "quant1":
        return quant(x, s, F32(0), F32(1), 1, 0, "ROUND").astype(F32)
    return quant(x, s, F32(act["zeropt"]), F32(act["bits"]), int(act["signed"]), int(act["narrow"]),
                 act.get("rounding", "ROUND")).astype(F32)


def choose_scale(x, lo: int, hi: int, rel: float) -> float:
    """A scale whose levels lo..hi cover the 1st..99th percentile of x, times ``rel``."""
    top, bottom = float(np.quantile(x, 0.99)), float(np.quantile(x, 0.01))
    options = []
    if hi > 0 and top > 0:
        options.append(top / hi)
    if lo < 0 and bottom < 0:
        options.append(bottom / lo)
    if not options:
        options.append(float(np.mean(np.abs(x))) / max(abs(lo), abs(hi), 1))
    return rel * (max(options) if max(options) > 1e-6 else 2.0 ** -4)      # all zero: any scale will do


def conv(x, w, bias, stride, pads, group: int) -> np.ndarray:
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    top, left, bottom, right = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - kh) // stride[0] + 1
    ow = (wd + left + right - kw) // stride[1] + 1
    out = np.zeros((n, cout, oh, ow))
    per_group = cout // group
    for g in range(group):
        xs = xp[:, g * cin_g:(g + 1) * cin_g]
        ws = w[g * per_group:(g + 1) * per_group].astype(np.float64)
        for ky in range(kh):
            for kx in range(kw):
                patch = xs[:, :, ky:ky + stride[0] * (oh - 1) + 1:stride[0], kx:kx + stride[1] * (ow - 1) + 1:stride[1]]
                out[:, g * per_group:(g + 1) * per_group] += np.einsum("nchw,oc->nohw", patch, ws[:, :, ky, kx])
    if bias is not None:
        out += np.asarray(bias).reshape(1, -1, 1, 1)
    return out.astype(F32)


def pool(x, kernel, stride, pads, kind: str) -> np.ndarray:
    """max or average (padding counted) over each window."""
    top, left, bottom, right = pads
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    kh, kw = kernel
    oh = (xp.shape[2] - kh) // stride[0] + 1
    ow = (xp.shape[3] - kw) // stride[1] + 1
    windows = [xp[:, :, ky:ky + stride[0] * (oh - 1) + 1:stride[0], kx:kx + stride[1] * (ow - 1) + 1:stride[1]]
               for ky in range(kh) for kx in range(kw)]
    stack = np.stack(windows)
    return (stack.max(axis=0) if kind == "max" else stack.mean(axis=0)).astype(F32)


def batchnorm(x, gamma, beta, mean, var, eps=1e-5) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape)
            + beta.reshape(shape)).astype(F32)


__all__ = ["SAMPLES", "quantise", "choose_scale", "conv", "pool", "batchnorm", "trunc", "quant"]
