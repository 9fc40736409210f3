"""Re-quantisation stages: per-channel thresholds and rounding shifts, elementwise on a stream.

==========  ==============  ==============================================================
IR node     stage           lanes
==========  ==============  ==============================================================
Threshold   cf_thresh       L -> L (L reduced to gcd(C, L) first, so lanes never straddle a channel row)
Shift       cf_shift        L -> L (same)
==========  ==============  ==============================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convflow.compiler.ir.graph import IntType, Shift, Threshold

from .memory import memory_cost
from .plan import Plan, Stage


@dataclass(eq=False, kw_only=True)
class ThresholdUnit(Stage):
    """out[c] = out_base + #{j : in[c] >= thresholds[c or 0, j]}."""
    channels: int
    thresholds: np.ndarray     # (1 or C, N) int64, ascending, clipped to [in.min, in.max + 1] (max + 1: never)
    tbits: int                 # thresholds in signed two's complement of this width
    out_base: int
    kind = "cf_thresh"


    @property
    def n(self) -> int:
        return int(self.thresholds.shape[1])

    def per_channel(self) -> np.ndarray:
        """(C, N): one threshold row per channel."""
        return np.broadcast_to(self.thresholds, (self.channels, self.n))

    @property
    def params(self) -> dict:
        return {"L": self.lanes, "C": self.channels, "N": self.n, "IBITS": self.input.bits,
                "ISIGNED": int(self.input.signed), "TBITS": self.tbits, "OBITS": self.output.bits,
                "OBASE": int(self.out_base)}

    def resources_own(self) -> dict:
        lanes, n, tb = self.lanes, self.n, self.tbits
        rom = memory_cost(self.channels // lanes, lanes * n * tb)
        # comparators against the threshold words, which synthesis merges with a ROM held in logic
        # flip-flops: the input word, and the compare bits registered before they are counted (cf_thresh.v)
        return {"lut": 0.85 * rom["lut"] + (lanes * n * tb // 2 if rom["bram"] else 0) + 100,
                "ff": 1.1 * lanes * self.input.bits + lanes * n + 17, "dsp": 0, "bram": rom["bram"]}


@dataclass(eq=False, kw_only=True)
class ShiftUnit(Stage):
    """out = clip(round_half_even(in * 2**-shift), lo, hi)."""
    shift: int
    lo: int
    hi: int
    kind = "cf_shift"


    @property
    def params(self) -> dict:
        return {"L": self.lanes, "IBITS": self.input.bits, "ISIGNED": int(self.input.signed),
                "OBITS": self.output.bits, "SHIFT": int(self.shift), "LO": self.lo, "HI": self.hi}

    def resources_own(self) -> dict:
        p = self.params
        return {"lut": p["L"] * (2 * max(1, p["IBITS"] - max(0, p["SHIFT"])) + p["OBITS"]) + 20,   # rounding, clip
                "ff": 0.8 * p["L"] * p["OBITS"] + 5, "dsp": 0, "bram": 0}


def _lanes_within_channels(plan: Plan, node, channels: int) -> None:
    if channels % plan.lanes:
        plan.adapt(math.gcd(channels, plan.lanes), node.name)


def build_threshold(plan: Plan, node: Threshold, inputs: list) -> None:
    tin, tout = plan.graph.tensors[node.inputs[0]], plan.graph.tensors[node.output]
    c = tin.shape[-1]
    _lanes_within_channels(plan, node, c)
    itype = IntType(plan.cur.bits, plan.cur.signed)
    t = np.asarray(node.thresholds, dtype=np.int64)
    if t.shape[1] == 0:                              # a one-level output: no threshold is ever reached
        t = np.full((t.shape[0], 1), itype.max + 1, dtype=np.int64)
    t = np.clip(t, itype.min, itype.max + 1)         # a threshold outside the input's range decides nothing more
    tbits = IntType.for_range(min(itype.min, -1), itype.max + 1).bits
    elems = int(np.prod(tout.shape))
    stage = ThresholdUnit(label=node.name, node=node, cycles=elems // plan.lanes, channels=c, thresholds=t,
                          tbits=tbits, out_base=int(node.out_base))
    plan.add(stage, plan.lanes, tout.dtype, elems, node.output)


def build_shift(plan: Plan, node: Shift, inputs: list) -> None:
    tin, tout = plan.graph.tensors[node.inputs[0]], plan.graph.tensors[node.output]
    _lanes_within_channels(plan, node, tin.shape[-1])
    elems = int(np.prod(tout.shape))
    stage = ShiftUnit(label=node.name, node=node, cycles=elems // plan.lanes, shift=int(node.shift),
                      lo=max(int(node.lo), -(1 << 62)), hi=min(int(node.hi), (1 << 62)))
    plan.add(stage, plan.lanes, tout.dtype, elems, node.output)


BUILDERS = {Threshold: build_threshold, Shift: build_shift}
