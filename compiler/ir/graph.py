"""The integer dataflow IR.

Every tensor is an integer tensor in NHWC order (batch dimension implicit) with a type (bits, signed) and a scale:
``real = scale * int + offset``.  A *bipolar* tensor (a binarised activation, values -1 and +1) holds the bits
b = (value + 1) / 2 in a uint1 and reads ``real = scale * (2b - 1)``; the layers that read it absorb the encoding
into their weights and bias (frontend/ops/linear.py), so every op still computes on plain integers.  ``scale`` is a scalar or one value per channel (the last axis); ``offset`` is zero
everywhere except at the graph output, where a float affine that the source model applies after its last integer op
stays on the host as dequantisation (see DESIGN.md, "The numeric contract").

Nodes are small dataclasses, one class per op.  The graph is a list of nodes in topological order with one input
tensor and one output tensor; every hardware stage of the streaming pipeline is one node.

Semantics of each op (the reference kernels in ``interpret.py`` are the executable definition):

* ``Conv2D``   acc[y,x,o] = bias[o] + sum_{ky,kx,i} in_pad[y*sh+ky, x*sw+kx, i] * weights[ky,kx,i,o]
               (``in_pad`` is the input padded with ``pad_value``; ``depthwise`` convolutions use weights[ky,kx,0,c]).
* ``Dense``    acc[o] = bias[o] + sum_i in[i] * weights[i,o]
* ``Threshold``out[..,c] = out_base + #{ j : in[..,c] >= thresholds[c,j] }   (thresholds ascending per row;
               a single row applies to every channel)
* ``Shift``    out = clip(round_half_even(in * 2**-shift), lo, hi)   (shift may be negative: a left shift)
* ``MaxPool``  max over each window (padding with the type's minimum)
* ``SumPool``  sum over each window (an average pool: the 1/k goes into the output scale); global when kernel = H,W
* ``Add``      out = a * mul_a + b * mul_b  (integer multipliers that bring both inputs to the output scale)
* ``Flatten``  (H, W, C) -> (H*W*C,) in NHWC order: a no-op on the stream
* ``Concat``   out = the inputs' channels one after the other (the last axis; every other axis equal)
* ``Pad``      out = the input with ``pads`` (top, left, bottom, right) rows / columns of ``value`` around it
* ``Upsample`` out[y, x] = in[y // sy, x // sx]   (nearest neighbour, whole factors ``scale`` = (sy, sx))
* ``Requantize`` out = quantizer level of chain(in * scale): the source model's own float path from an integer
               tensor to its next quantiser, as the frontend finds it.  Compile passes turn it into a Threshold or
               a Shift (passes/requantize_to_thresholds.py); it never reaches an emitter or an artifact.

Per-op knowledge lives in tables keyed by these classes, one per layer of the stack: the frontend handlers
(frontend/handlers.py), reference kernels (ir/interpret.py), range rules (numerics/ranges.py), stage builders
(dataflow/builders.py), and the HLS and RTL printers of each hardware stage (emit/hls.py, emit/rtl.py);
docs/adding-a-layer.md walks through them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .host import HostInterface


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @staticmethod
    def for_range(lo: int, hi: int) -> "IntType":
        """Smallest type holding every integer in [lo, hi]."""
        lo, hi = int(lo), int(hi)
        if lo >= 0:
            return IntType(max(1, int(hi).bit_length()), False)
        bits = max((-lo - 1).bit_length(), max(hi, 0).bit_length()) + 1
        return IntType(bits, True)

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    @staticmethod
    def parse(text: str) -> "IntType":
        if text.startswith("uint"):
            return IntType(int(text[4:]), False)
        if text.startswith("int"):
            return IntType(int(text[3:]), True)
        raise ValueError(f"not an integer type: {text!r}")


@dataclass
class Tensor:
    name: str
    shape: tuple            # without the batch dimension, channels last
    dtype: IntType
    scale: np.ndarray       # float64, shape () or (channels,)
    offset: np.ndarray = field(default_factory=lambda: np.zeros(()))
    bipolar: bool = False   # uint1 bits standing for -1 / +1 (see the module docstring)

    @property
    def channels(self) -> int:
        return int(self.shape[-1])

    def dequantize(self, ints: np.ndarray) -> np.ndarray:
        values = 2 * ints.astype(np.float64) - 1 if self.bipolar else ints.astype(np.float64)
        return values * self.scale + self.offset


@dataclass
class Node:
    name: str               # the source model's name (may hold any character; emitters sanitise it)
    inputs: list
    output: str

    op = "Node"
    # Nodes that own a matrix-vector unit get folding attributes; see passes/choose_folding.py.
    has_mvu = False

    def params(self) -> dict:
        """Scalar attributes for the manifest (arrays are stored separately)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in ("name", "inputs", "output"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def arrays(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}


@dataclass
class Conv2D(Node):
    weights: np.ndarray = None        # int64 (KH, KW, Cin, Cout); depthwise: (KH, KW, 1, C)
    bias: np.ndarray = None           # int64 (Cout,), in accumulator units
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)        # top, left, bottom, right
    pad_value: int = 0
    depthwise: bool = False
    pe: int = 1                       # output channels computed in parallel
    simd: int = 1                     # input elements consumed in parallel
    mult: str = "auto"                # multipliers: "lut", "dsp", "dsp2" (two products a DSP) or "auto" (by width)
    weight_mem: str = "auto"          # weights in "block" RAM or "lut"s, or "auto" (where synthesis puts them)
    buffer_mem: str = "auto"          # the line buffer in "block" RAM or "lut" RAM, or "auto"
    op = "Conv2D"
    has_mvu = True

    @property
    def kernel(self) -> tuple:
        return tuple(self.weights.shape[:2])


@dataclass
class Dense(Node):
    weights: np.ndarray = None        # int64 (Cin, Cout)
    bias: np.ndarray = None           # int64 (Cout,)
    pe: int = 1
    simd: int = 1
    mult: str = "auto"                # as for Conv2D
    weight_mem: str = "auto"
    op = "Dense"
    has_mvu = True


@dataclass
class Threshold(Node):
    thresholds: np.ndarray = None     # int64 (C or 1, N), ascending along N
    out_base: int = 0
    op = "Threshold"


@dataclass
class Shift(Node):
    shift: int = 0
    lo: int = 0
    hi: int = 0
    op = "Shift"


@dataclass
class MaxPool(Node):
    kernel: tuple = (2, 2)
    stride: tuple = (2, 2)
    pads: tuple = (0, 0, 0, 0)
    op = "MaxPool"


@dataclass
class SumPool(Node):
    kernel: tuple = (2, 2)
    stride: tuple = (2, 2)
    pads: tuple = (0, 0, 0, 0)
    op = "SumPool"


@dataclass
class Add(Node):
    mul_a: int = 1
    mul_b: int = 1
    op = "Add"


@dataclass
class Flatten(Node):
    op = "Flatten"


@dataclass
class Concat(Node):
    op = "Concat"


@dataclass
class Pad(Node):
    pads: tuple = (0, 0, 0, 0)        # top, left, bottom, right
    value: int = 0
    op = "Pad"


@dataclass
class Upsample(Node):
    scale: tuple = (2, 2)             # whole factors (rows, columns)
    op = "Upsample"


@dataclass
class Requantize(Node):
    """The float ops between an integer tensor and the next quantiser, and that quantiser, exactly as the source
    model evaluates them (floatops.py).  Scales and constants are per IR channel.  Lowered by compile passes."""
    ops: list = field(default_factory=list)        # FloatOps applied to the real value in * scale, in order
    quantizer: object = None                         # floatops.Quantizer
    source: str = ""                                 # the ONNX nodes it came from, for messages
    op = "Requantize"

    def levels(self, real: np.ndarray) -> np.ndarray:
        """The output integers for the real values entering the float path (a bipolar output as its bits)."""
        from .floatops import apply_chain
        levels = self.quantizer.levels(apply_chain(self.ops, real))
        return (levels + 1) // 2 if self.quantizer.bipolar else levels

    @property
    def level_range(self) -> tuple:
        q = self.quantizer
        return (0, 1) if q.bipolar else (q.level_min, q.level_max)


# The node types an artifact may hold (Requantize never does: passes replace it).
NODE_TYPES = {cls.op: cls for cls in (Conv2D, Dense, Threshold, Shift, MaxPool, SumPool, Add, Flatten, Concat,
                                      Pad, Upsample)}


@dataclass
class Graph:
    name: str
    tensors: dict                     # name -> Tensor
    nodes: list                       # topological order
    input: str
    output: str
    meta: dict = field(default_factory=dict)   # provenance: source file, hash, notes from the frontend
    host: Optional[HostInterface] = None         # what runs on the host around the accelerator (ir/host.py)

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    @property
    def input_tensor(self) -> Tensor:
        return self.tensors[self.input]

    @property
    def output_tensor(self) -> Tensor:
        return self.tensors[self.output]

    def producer(self, tensor_name: str) -> Optional[Node]:
        for node in self.nodes:
            if node.output == tensor_name:
                return node
        return None

    def consumers(self, tensor_name: str) -> list:
        return [n for n in self.nodes if tensor_name in n.inputs]

    def mvu_nodes(self) -> list:
        return [n for n in self.nodes if n.has_mvu]

    def summary(self) -> str:
        lines = [f"graph {self.name}: input {self.input} {self.input_tensor.shape} {self.input_tensor.dtype}"]
        for n in self.nodes:
            t = self.tensors[n.output]
            extra = f" pe={n.pe} simd={n.simd}" if n.has_mvu else ""
            lines.append(f"  {n.op:<9} {n.name:<28} -> {t.shape} {t.dtype}{extra}")
        return "\n".join(lines)
