"""Float elementwise ops exactly as the source model's float execution computes them.

The frontend meets chains of per-channel float ops between an integer accumulator and the next quantiser
(bias Add, BatchNorm, Mul, Relu ...), and a chain of pre-processing ops in front of the input quantiser.  To turn
them into *exact* integer thresholds, and to quantise host inputs exactly as the model does, we evaluate them
the way QONNX's executor does: float32, one rounding per op, in node order (onnxruntime for standard ops, qonnx's
numpy code for Quant).  A chain is a list of ``FloatOp``; constants are per channel (shape (C,)) or scalars.

Quantiser semantics follow qonnx 0.4 (custom_op/general/quant.py): y = x / scale + zeropt, clip to the integer
range, then round (half to even for ROUND), out = (y - zeropt) * scale; a 1-bit signed Quant is bipolar.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

F32 = np.float32

ROUNDING = {
    "ROUND": np.round, "HALF_EVEN": np.round, "CEIL": np.ceil, "FLOOR": np.floor, "DOWN": np.fix,
    "UP": lambda x: np.sign(x) * np.ceil(np.abs(x)),
    "HALF_UP": lambda x: np.sign(x) * np.floor(np.abs(x) + F32(0.5)),
    "HALF_DOWN": lambda x: np.sign(x) * np.ceil(np.abs(x) - F32(0.5)),
}


@dataclass
class FloatOp:
    kind: str                     # mul | add | sub | rsub | div | relu | clip
    const: np.ndarray = field(default_factory=lambda: np.zeros((), F32))
    hi: np.ndarray = field(default_factory=lambda: np.zeros((), F32))   # clip's upper bound (const is the lower)

    def apply(self, x: np.ndarray) -> np.ndarray:
        c = self.const.astype(F32)
        if self.kind == "mul":
            return x * c
        if self.kind == "add":
            return x + c
        if self.kind == "sub":
            return x - c
        if self.kind == "rsub":
            return c - x
        if self.kind == "div":
            return x / c
        if self.kind == "relu":
            return np.maximum(x, F32(0))
        if self.kind == "clip":
            return np.minimum(np.maximum(x, c), self.hi.astype(F32))
        raise ValueError(f"unknown float op {self.kind!r}")

    @property
    def is_affine(self) -> bool:
        return self.kind in ("mul", "add", "sub", "rsub", "div")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "const": np.asarray(self.const, np.float64).tolist(),
                "hi": np.asarray(self.hi, np.float64).tolist()}

    @staticmethod
    def from_dict(d: dict) -> "FloatOp":
        return FloatOp(d["kind"], np.asarray(d["const"], F32), np.asarray(d["hi"], F32))


def apply_chain(ops, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    for op in ops:
        x = op.apply(x).astype(F32)
    return x


def affine_of_chain(ops, channels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For a chain of affine ops only: (a, b) in float64 with chain(x) ~= a * x + b, per channel (each constant
    broadcast to ``channels``) or, with ``channels`` None, in the constants' own shape (a scalar for per-tensor
    constants).  Used for the host-side dequantisation of a model that ends in float ops, and by the qonnx backend
    to invert float pre-processing; exact up to float rounding, as the contract allows."""
    shape = () if channels is None else (channels,)
    a, b = np.ones(shape), np.zeros(shape)
    for op in ops:
        c = np.asarray(op.const, np.float64)
        if channels is not None:
            c = np.broadcast_to(c, shape)
        if op.kind == "mul":
            a, b = a * c, b * c
        elif op.kind == "div":
            a, b = a / c, b / c
        elif op.kind == "add":
            b = b + c
        elif op.kind == "sub":
            b = b - c
        elif op.kind == "rsub":
            a, b = -a, c - b
        else:
            raise ValueError(f"{op.kind} is not affine")
    return a, b


@dataclass
class Quantizer:
    """A QONNX quantiser (Quant, BipolarQuant or Trunc) as an elementwise function onto an integer grid:
    output real value = level * scale, with level an integer in [level_min, level_max]."""
    kind: str                     # quant | bipolar | trunc
    scale: np.ndarray             # per channel (C,) or scalar, float32
    zeropt: float = 0.0
    bits: int = 8
    signed: bool = True
    narrow: bool = False
    rounding: str = "ROUND"
    in_bits: int = 0              # trunc only
    node: str = ""                # the ONNX node it came from (for error messages)
    # trunc only: (lowest, highest) level its input's exact range reaches -- a Trunc drops low bits and never
    # clips, so its output can pass what its output bit width says (CEIL of 127 / 2 is 64 in 7 bits)
    extent: Optional[tuple] = None

    @property
    def level_min(self) -> int:
        if self.kind == "bipolar" or (self.kind == "quant" and self.bits == 1 and self.signed):
            return -1
        if self.kind == "trunc":
            lo = -(1 << (self.bits - 1)) if self.signed else 0
            return min(lo, self.extent[0]) if self.extent else lo
        if self.signed:
            lo = -(1 << (self.bits - 1)) + (1 if self.narrow else 0)
        else:
            lo = 0
        return lo - int(self.zeropt)

    @property
    def level_max(self) -> int:
        if self.kind == "bipolar" or (self.kind == "quant" and self.bits == 1 and self.signed):
            return 1
        if self.kind == "trunc":
            hi = (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1
            return max(hi, self.extent[1]) if self.extent else hi
        if self.signed:
            hi = (1 << (self.bits - 1)) - 1
        else:
            hi = (1 << self.bits) - (2 if self.narrow else 1)
        return hi - int(self.zeropt)

    @property
    def bipolar(self) -> bool:
        return self.level_min == -1 and self.level_max == 1 and self.kind != "trunc" and self.bits == 1

    def levels(self, x: np.ndarray) -> np.ndarray:
        """The integer level of each output (int64), computed as qonnx computes the quantiser up to its last step:
        y = x / scale + zeropt in float32, clipped and rounded (a 1-bit signed Quant and a BipolarQuant take the
        sign), minus the zero point.  The level is never recovered from the scaled output, so any scale works (a
        learned 0.8298 as well as a power of two)."""
        x = np.asarray(x, dtype=F32)
        if self.kind == "bipolar":
            return np.where(x >= F32(0), 1, -1).astype(np.int64)
        scale = np.asarray(self.scale, F32)
        zp = F32(self.zeropt)
        y = x / scale + zp
        if self.bipolar:                          # qonnx's 1-bit signed Quant: bipolar values
            y = np.where(y >= F32(0), F32(1), F32(-1))
        elif self.kind == "trunc":
            y = np.round(y)
            y = y / F32(2.0 ** (self.in_bits - self.bits))
            y = ROUNDING[self.rounding.upper()](y)
        else:
            lo, hi = self.level_min + int(self.zeropt), self.level_max + int(self.zeropt)
            y = np.where(y > hi, F32(hi), y)
            y = np.where(y < lo, F32(lo), y)
            y = ROUNDING[self.rounding.upper()](y)
        return (y - zp).astype(np.int64)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The real-valued output, float32, as qonnx computes it: level * scale."""
        return (self.levels(x).astype(F32) * np.asarray(self.scale, F32)).astype(F32)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("kind", "zeropt", "bits", "signed", "narrow", "rounding", "in_bits",
                                           "node")}
        d["scale"] = np.asarray(self.scale, np.float64).tolist()
        if self.extent is not None:
            d["extent"] = [int(v) for v in self.extent]
        return d

    @staticmethod
    def from_dict(d: dict) -> "Quantizer":
        d = dict(d)
        d["scale"] = np.asarray(d["scale"], F32)
        return Quantizer(**d)


@dataclass
class InputQuantizer:
    """Host-side input quantisation: the model's float pre-processing chain, then its input quantiser."""
    ops: list
    quantizer: Quantizer

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.quantizer.levels(apply_chain(self.ops, x))

    def to_dict(self) -> dict:
        return {"ops": [op.to_dict() for op in self.ops], "quantizer": self.quantizer.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> "InputQuantizer":
        return InputQuantizer([FloatOp.from_dict(o) for o in d["ops"]], Quantizer.from_dict(d["quantizer"]))
