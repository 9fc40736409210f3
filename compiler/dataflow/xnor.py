"""Binarised matrix-vector units: XNOR and popcount instead of multipliers (FINN's binarised layers).

A Conv2D / Dense whose input is a bipolar tensor (its bits b, values 2b - 1; ir/graph.py) carries weights 2w and a
bias -sum w after the frontend (frontend/ops/linear.py): when every w is +-1 (a binarised layer) each weight is
+-WSTEP.  Such a layer gets a cf_xnor_mvu instead of a cf_mvu (dataflow/mvu.py asks ``binarised_weight_step``):

    sum_r b[r] * w[r][o] = WSTEP * (popcount(xnor(b, s[o])) + P[o] - MH)        s = sign bits, P[o] = #(w > 0)

so the unit stores one bit per weight, and the constant WSTEP * (P[o] - MH) joins the bias (``folded_bias``).  Same
folding, lanes and cycles as the matrix-vector unit it replaces.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .memory import memory_cost, rom_luts
from .mvu import MatrixVectorUnit


def binarised_weight_step(input_dtype, matrix: np.ndarray):
    """WSTEP when the input is one unsigned bit and every weight is +WSTEP or -WSTEP, else None."""
    if input_dtype.bits != 1 or input_dtype.signed or matrix.size == 0:
        return None
    step = int(np.abs(matrix).max())
    return step if step > 0 and np.all(np.abs(matrix) == step) else None


@dataclass(eq=False, kw_only=True)
class XnorMatrixVectorUnit(MatrixVectorUnit):
    wstep: int
    kind = "cf_xnor_mvu"

    # cycles from a beat's issue to its word's earliest pop: operands, popcounts, the accumulator into the FIFO,
    # the FIFO's output (cf_xnor_mvu.v's LAT)
    latency = 3

    def pack_weights(self) -> None:
        # cf_xnor_mvu reads one sign word a cycle (no WPACK): its ROM stays as the tiles are
        self.weight_pack = 1

    def sign_tiles(self) -> np.ndarray:
        """(NF*SF, PE, SIMD) sign bits of the weights, tiled as MatrixVectorUnit.weight_tiles."""
        return (self.weight_tiles() > 0).astype(np.int64)

    def folded_bias(self) -> np.ndarray:
        """bias + WSTEP * (P - MH): the constant part of the XNOR form, per output channel."""
        positive = (self.matrix > 0).sum(axis=0)
        return np.asarray(self.bias, np.int64) + self.wstep * (positive - self.matrix.shape[0])

    def folded_bias_tiles(self) -> np.ndarray:
        return self.folded_bias().reshape(self.nf, self.pe)

    @property
    def params(self) -> dict:
        return {"SIMD": self.simd, "PE": self.pe, "SF": self.sf, "NF": self.nf, "WSTEP": self.wstep,
                "ABITS": self.acc.bits, "ODEPTH": self.output.fifo_depth}

    def resources_own(self) -> dict:
        # not yet fitted against yosys: an XNOR folded into a popcount adder tree costs about one LUT4 per weight
        # bit, plus the popcount accumulators and the output's constant multiply and bias add
        simd, pe, sf, nf = self.simd, self.pe, self.sf, self.nf
        cw = max(1, int(sf * simd).bit_length())
        ab = self.acc.bits
        wrom = memory_cost(nf * sf, pe * simd)
        brom = memory_cost(nf, pe * ab)
        lut = 1.2 * pe * simd + pe * (2 * cw + 2 * ab) + 30
        lut += rom_luts(nf * sf, pe * simd) + rom_luts(nf, pe * ab)
        ff = simd + pe * (cw + ab) + pe * simd * (nf * sf > 1) + 33     # (the output register: in the FIFO)
        return {"lut": lut, "ff": ff, "dsp": 0, "bram": wrom["bram"] + brom["bram"]}
