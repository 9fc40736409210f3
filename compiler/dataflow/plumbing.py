"""Plumbing: width converters, forks and ops that do not touch the stream (Flatten).

cf_dwc turns a stream of IN_L lanes into one of OUT_L lanes (one must divide the other; Plan.adapt goes through
the gcd otherwise).  cf_fork copies a stream to two readers; a tensor with more readers gets a chain of forks.
The FIFOs behind fork outputs are sized from the branch latencies (dataflow/fifo_depths.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from convflow.compiler.ir.graph import Flatten

from .plan import Plan, Stage


@dataclass(eq=False, kw_only=True)
class WidthConverter(Stage):
    kind = "cf_dwc"

    @property
    def params(self) -> dict:
        return {"EW": self.input.bits, "IN_L": self.input.lanes, "OUT_L": self.output.lanes}

    def resources_own(self) -> dict:
        p = self.params
        k = max(p["IN_L"], p["OUT_L"]) // min(p["IN_L"], p["OUT_L"])
        big = max(p["IN_L"], p["OUT_L"]) * p["EW"]
        # up: a k-way part-select into the gather register; down: a k-way output mux
        return {"lut": (0.6 if p["OUT_L"] > p["IN_L"] else 0.3) * big * math.log2(k) + 17, "ff": 1.3 * big + 1,
                "dsp": 0, "bram": 0}


@dataclass(eq=False, kw_only=True)
class StreamFork(Stage):
    kind = "cf_fork"

    @property
    def params(self) -> dict:
        return {"WIDTH": self.input.width}

    def resources_own(self) -> dict:
        return {"lut": 4, "ff": 0, "dsp": 0, "bram": 0}


def fork(plan: Plan, tensor: str, readers: int) -> list:
    """Streams of ``tensor`` (the current stream) for ``readers`` readers: the stream itself for one reader, a
    chain of two-way forks for more."""
    source = plan.cur
    copies = []
    for k in range(readers - 1):
        label = f"{tensor}_fork" if readers == 2 else f"{tensor}_fork{k}"
        stage = StreamFork(label=label, node=None, cycles=source.words)
        plan.cur = source
        a, b = plan.add(stage, source.lanes, source.dtype, source.elems, source.tensor, n_out=2)
        copies.append(a)
        source = b
    return copies + [source]


def build_flatten(plan: Plan, node: Flatten, inputs: list) -> None:
    """(H, W, C) -> (H*W*C,) in NHWC order: the same stream, nothing to build."""


BUILDERS = {Flatten: build_flatten}
