"""Turn "integer accumulator -> float ops -> quantiser" into exact integer re-quantisation.

The float path maps each integer accumulator value ``a`` (per channel) to an integer output level ``g(a)``: the
quantiser's level of chain(a * scale), evaluated exactly as the source's float execution does (floatops.py).
Where g is monotonic non-decreasing, an output of N + 1 levels is the count of N per-channel thresholds that
``a`` reaches (FINN's MultiThreshold idea), with ``T_j = min{a : g(a) >= level_min + j}``, found by a vectorised
binary search over the accumulator range.  A non-increasing channel (negative BatchNorm gamma, negative scale) is
made non-decreasing by the caller negating that channel's weights and bias.

The result is verified against g: exhaustively when the range is small, otherwise on the range's ends, every
threshold and its neighbour, and random points; a non-monotonic chain is refused, never approximated.

Where the thresholds are those of a plain rounding right shift (a power-of-two scale ratio, half-to-even ties,
clip to the output range), ``as_shift`` recognises it so the hardware can use a shifter instead of comparators.
"""
from __future__ import annotations

import numpy as np

from convflow.hw.errors import UnsupportedOp

EXHAUSTIVE_LIMIT = 1 << 16      # accumulator values per channel checked one by one below this range ...
EXHAUSTIVE_POINTS = 1 << 26     # ... and while channels x values stays below this
RANDOM_CHECKS = 4096            # otherwise: random points per channel on top of the ends and every threshold +- 1 ...
RANDOM_POINTS = 1 << 24         # ... fewer per channel (never under MIN_RANDOM_CHECKS) when channels x 4096 exceeds this
MIN_RANDOM_CHECKS = 256
CHUNK_ELEMENTS = 1 << 22        # points x channels held at once: a 100,000-channel layer stays within ~100 MB


def derive_thresholds(level_fn, lo: np.ndarray, hi: np.ndarray, level_min: int, level_max: int, where: str):
    """level_fn(acc (M, C) int64) -> levels (M, C) int64, non-decreasing in acc on [lo, hi] (per channel).
    Returns thresholds (C, level_max - level_min) int64 clipped to [lo, hi + 1] (hi + 1 = never reached)."""
    lo = np.asarray(lo, np.int64)
    hi = np.asarray(hi, np.int64)
    channels = lo.shape[0]
    count = level_max - level_min
    targets = level_min + np.arange(1, count + 1, dtype=np.int64)              # (N,)
    left = np.broadcast_to(lo[:, None], (channels, count)).copy()               # (C, N)
    right = np.broadcast_to(hi[:, None] + 1, (channels, count)).copy()
    while np.any(left < right):
        mid = (left + right) // 2
        probe = np.minimum(mid, hi[:, None])                                    # mid == hi + 1 never probed
        reached = level_fn(probe.T).T >= targets[None, :]
        reached &= mid <= hi[:, None]
        active = left < right
        right = np.where(active & reached, mid, right)
        left = np.where(active & ~reached, mid + 1, left)
    thresholds = left
    _verify(level_fn, thresholds, lo, hi, level_min, where)
    return thresholds


def apply_thresholds(acc: np.ndarray, thresholds: np.ndarray, level_min: int) -> np.ndarray:
    """(M, C) accumulators -> levels, the Threshold op's semantics."""
    levels = np.full(acc.shape, level_min, np.int64)
    for column in thresholds.T:           # one pass per threshold: no (M, C, N) temporary
        levels += acc >= column[None, :]
    return levels


def _verify(level_fn, thresholds, lo, hi, level_min, where):
    """Compare level_fn with the thresholds on every accumulator value, or -- for wide ranges or very wide layers --
    on the range's ends, each threshold and its left neighbour (every transition) and random points between;
    a few rows of points (one value per channel) at a time, so memory stays bounded."""
    span = int((hi - lo).max()) + 1
    channels = lo.shape[0]
    rows = max(1, CHUNK_ELEMENTS // channels)
    for points in _check_points(thresholds, lo, hi, span, rows):
        bad = np.argwhere(level_fn(points) != apply_thresholds(points, thresholds, level_min))
        if bad.size:
            m, c = bad[0]
            raise UnsupportedOp(f"{where}: the float ops before the quantiser are not monotonic in the accumulator "
                                f"(channel {c}, accumulator {points[m, c]}): cannot map to integer thresholds")


def _check_points(thresholds, lo, hi, span, rows):
    """Blocks of at most ``rows`` rows of accumulator values (M, C) to check: all of them, or a sample."""
    channels = lo.shape[0]
    if span <= EXHAUSTIVE_LIMIT and span * channels <= EXHAUSTIVE_POINTS:
        for first in range(0, span, rows):
            offsets = np.arange(first, min(span, first + rows), dtype=np.int64)
            yield np.minimum(lo[None, :] + offsets[:, None], hi[None, :])
        return
    yield np.stack([lo, hi])
    near = np.clip(np.concatenate([thresholds.T, thresholds.T - 1]), lo, hi)
    for first in range(0, near.shape[0], rows):
        yield near[first:first + rows]
    rng = np.random.default_rng(0)
    width = (hi - lo + 1).astype(np.float64)
    remaining = max(MIN_RANDOM_CHECKS, min(RANDOM_CHECKS, RANDOM_POINTS // channels))
    while remaining > 0:
        count = min(rows, remaining)
        remaining -= count
        yield np.minimum(lo[None, :] + (rng.random((count, channels)) * width[None, :]).astype(np.int64),
                         hi[None, :])


def shift_thresholds(shift: int, level_min: int, level_max: int) -> np.ndarray:
    """Thresholds of clip(round_half_even(a * 2**-shift), level_min, level_max), unclipped."""
    levels = np.arange(level_min + 1, level_max + 1, dtype=np.int64)
    if shift == 0:
        return levels
    half = 1 << (shift - 1)
    # a reaches level k when a * 2**-s >= k - 1/2; at the tie it rounds to even, so odd k needs one more.
    return (levels << shift) - half + (levels & 1)


def as_shift(thresholds: np.ndarray, lo: np.ndarray, hi: np.ndarray, level_min: int, level_max: int, max_shift=48):
    """The right-shift amount s whose rounding reproduces every channel's thresholds on its own accumulator
    range [lo, hi] (thresholds outside the range are never decisive), or None."""
    for s in range(0, max_shift):
        candidate = shift_thresholds(s, level_min, level_max)[None, :]
        if np.array_equal(np.clip(candidate, lo[:, None], hi[:, None] + 1), thresholds):
            return s
    return None
