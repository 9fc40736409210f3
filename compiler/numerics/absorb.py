"""Absorb the leading float ops of a chain into the integer accumulator, where that is exact.

A matrix-vector unit's accumulator ``acc`` has real value ``acc * s``.  A following ``Add(c)`` can become an
integer bias ``acc + c / s`` when c / s is an integer, and a ``Mul(m)`` by a positive power of two can go into the
scale.  This is exact only when the float model computes the same number: with a power-of-two scale and every
value below 2**24 in magnitude, float32 represents acc * s, c and their sum exactly, so no rounding happens there.
What cannot be absorbed stays in the chain (and becomes thresholds or host dequantisation).
"""
from __future__ import annotations

import numpy as np

FLOAT32_EXACT_INT = 1 << 24


def is_power_of_two(x: np.ndarray) -> bool:
    x = np.asarray(x, np.float64)
    if np.any(x <= 0) or not np.all(np.isfinite(x)):
        return False
    mantissa, _ = np.frexp(x)
    return bool(np.all(mantissa == 0.5))


def absorb_leading_ops(ops: list, scale: np.ndarray, bias: np.ndarray, acc_lo: np.ndarray, acc_hi: np.ndarray):
    """Returns (remaining ops, new scale, new integer bias).  ``scale`` (C,) and ``bias`` (C,) int64 are the
    accumulator's; acc_lo/acc_hi (C,) its integer range *without* the bias (so the bias can be changed)."""
    ops = list(ops)
    scale = np.asarray(scale, np.float64).copy()
    bias = np.asarray(bias, np.int64).copy()
    while ops and is_power_of_two(scale):
        op = ops[0]
        const = np.broadcast_to(np.asarray(op.const, np.float64), scale.shape)
        if op.kind in ("add", "sub"):
            units = (const if op.kind == "add" else -const) / scale
            if not np.array_equal(units, np.round(units)):
                break
            new_bias = bias + units.astype(np.int64)
            worst = np.maximum(np.abs(acc_lo + new_bias), np.abs(acc_hi + new_bias))
            if np.any(worst >= FLOAT32_EXACT_INT) or np.any(np.abs(bias + acc_lo) >= FLOAT32_EXACT_INT) \
                    or np.any(np.abs(bias + acc_hi) >= FLOAT32_EXACT_INT):
                break
            bias = new_bias
        elif op.kind == "mul" and is_power_of_two(const):
            scale = scale * const
        elif op.kind == "div" and is_power_of_two(const):
            scale = scale / const
        else:
            break
        ops.pop(0)
    return ops, scale, bias
