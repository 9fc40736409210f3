"""Channel concatenation: two streams interleaved pixel by pixel.

==========  ============  ====================================================================================
IR node     stages        lanes
==========  ============  ====================================================================================
Concat      cf_concat     La, Lb -> gcd(Ca, Cb, La, Lb); more than two inputs: a chain of two-input cf_concats
==========  ============  ====================================================================================

For every pixel cf_concat writes the Ca channels of a, then the Cb channels of b, reading each input only while its
channels are due.  Unlike an Add it does not read its inputs in lockstep: while it reads one input's pixel the other
input waits, so the FIFOs feeding a concatenation of two branches of one fork hold a pixel more
(``join_stall``; dataflow/fifo_depths.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convflow.compiler.ir.graph import Concat

from .memory import counter_bits
from .plan import Plan, Stage


@dataclass(eq=False, kw_only=True)
class ConcatUnit(Stage):
    channels_a: int
    channels_b: int
    pixels: int
    kind = "cf_concat"


    @property
    def params(self) -> dict:
        a, b = self.inputs
        return {"L": self.lanes, "AF": self.channels_a // self.lanes, "BF": self.channels_b // self.lanes,
                "ABITS": a.bits, "ASIGNED": int(a.signed), "BBITS": b.bits, "BSIGNED": int(b.signed),
                "OBITS": self.output.bits}

    def resources_own(self) -> dict:
        # a 2:1 multiplexer per output bit (sign extension is wiring), the word counter and the output register
        words = (self.channels_a + self.channels_b) // self.lanes
        width = self.output.width
        return {"lut": width + 2 * counter_bits(words) + 2, "ff": width + counter_bits(words) + 1, "dsp": 0,
                "bram": 0}

    def join_stall(self, index: int) -> float:
        """While one input's pixel is read the other waits: one pixel of a frame."""
        return 1.0 / max(1, self.pixels)


def build_concat(plan: Plan, node: Concat, inputs: list) -> None:
    graph = plan.graph
    tout = graph.tensors[node.output]
    pixels = int(np.prod(tout.shape[:-1]))
    joined, ca = inputs[0], graph.tensors[node.inputs[0]].channels
    for index, (name, stream) in enumerate(zip(node.inputs[1:], inputs[1:]), start=1):
        cb = graph.tensors[name].channels
        lanes = math.gcd(math.gcd(ca, cb), math.gcd(joined.lanes, stream.lanes))
        adapted = []
        for part in (joined, stream):
            plan.cur = part
            plan.adapt(lanes, node.name)
            adapted.append(plan.cur)
        label = node.name if len(inputs) == 2 else f"{node.name}_{index}"
        stage = ConcatUnit(label=label, node=node, cycles=pixels * (ca + cb) // lanes, channels_a=ca,
                           channels_b=cb, pixels=pixels)
        joined = plan.add(stage, lanes, tout.dtype, pixels * (ca + cb), node.output, inputs=adapted)[0]
        ca += cb


BUILDERS = {Concat: build_concat}
