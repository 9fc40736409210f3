"""Residual adds: two streams joined beat by beat.

==========  ==========  ================================================================
IR node     stage       lanes
==========  ==========  ================================================================
Add         cf_add      La, Lb -> gcd(C, La, Lb) (both inputs converted to it first)
==========  ==========  ================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convflow.compiler.ir.graph import Add

from .plan import Plan, Stage


@dataclass(eq=False, kw_only=True)
class AddUnit(Stage):
    """out = a * mul_a + b * mul_b."""
    mul_a: int
    mul_b: int
    kind = "cf_add"


    @property
    def params(self) -> dict:
        a, b = self.inputs
        return {"L": self.lanes, "ABITS": a.bits, "ASIGNED": int(a.signed), "BBITS": b.bits, "BSIGNED": int(b.signed),
                "OBITS": self.output.bits, "MUL_A": int(self.mul_a), "MUL_B": int(self.mul_b)}

    def resources_own(self) -> dict:
        p = self.params
        return {"lut": p["L"] * 2 * (p["ABITS"] + p["BBITS"] + p["OBITS"]),     # constant multiplies as adds + sum
                "ff": p["L"] * p["OBITS"] + 1, "dsp": 0, "bram": 0}


def build_add(plan: Plan, node: Add, inputs: list) -> None:
    """``inputs``: the streams carrying node.inputs to this node."""
    tout = plan.graph.tensors[node.output]
    c = tout.shape[-1]
    lanes = math.gcd(c, math.gcd(inputs[0].lanes, inputs[1].lanes))
    adapted = []
    for stream in inputs:
        plan.cur = stream
        plan.adapt(lanes, node.name)
        adapted.append(plan.cur)
    elems = int(np.prod(tout.shape))
    stage = AddUnit(label=node.name, node=node, cycles=elems // lanes, mul_a=int(node.mul_a), mul_b=int(node.mul_b))
    plan.add(stage, lanes, tout.dtype, elems, node.output, inputs=adapted)


BUILDERS = {Add: build_add}
