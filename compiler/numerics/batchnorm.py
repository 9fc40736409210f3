"""Fold an ONNX BatchNormalization into a per-channel affine (a Mul then an Add), bit-exactly.

Why exact: onnxruntime's CPU kernel computes y = x * s + (beta - mean * s) with s = gamma * (1 / sqrt(var + eps)),
each step rounded to float32.  Emitting the same two float32 constants as a Mul and an Add reproduces its output
bit for bit (tests/test_passes.py checks this against onnxruntime on every accumulator value of a range), which
is what lets the threshold pass turn BatchNorm + Quant into exact integer thresholds.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, FloatOp


def batchnorm_scale_bias(gamma, beta, mean, var, eps) -> tuple[np.ndarray, np.ndarray]:
    inv_std = F32(1) / np.sqrt(np.asarray(var, F32) + F32(eps))
    scale = (np.asarray(gamma, F32) * inv_std).astype(F32)
    bias = (np.asarray(beta, F32) - np.asarray(mean, F32) * scale).astype(F32)
    return scale, bias


def fold_batchnorm(gamma, beta, mean, var, eps) -> list:
    """The FloatOps equivalent to BatchNormalization(gamma, beta, mean, var, eps)."""
    scale, bias = batchnorm_scale_bias(gamma, beta, mean, var, eps)
    return [FloatOp("mul", scale), FloatOp("add", bias)]
