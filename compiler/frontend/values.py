"""What the lowering knows about each ONNX tensor while it walks the graph.

* ``Const``    a constant (initializer or folded), float.
* ``QConst``   a quantised constant (weights, biases): integers times a scale.
* ``HostFloat``the graph input before its quantiser: float ops on it run on the host as input quantisation.
* ``IntVal``   an ONNX tensor that equals an IR integer tensor times its scale.  ``axes`` says how the ONNX
               tensor's axes map onto the IR's (batch, H, W, C): onnx_tensor = ir_tensor.transpose(axes).  A
               flattened tensor keeps ``flat_perm``: IR element i is ONNX element flat_perm[i].
* ``Pending``  float elementwise ops waiting on an IntVal (bias add, BatchNorm, Relu ...) until a quantiser
               turns them into an integer activation, or the graph ends and they become host dequantisation.
               A transpose or size-1 axis change on the way moves the chain's ONNX layout off its base's
               (``axes``); the ops are per IR channel, so they do not change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class Const:
    value: np.ndarray


@dataclass
class QConst:
    ints: np.ndarray          # int64, same shape as the ONNX tensor
    scale: np.ndarray         # float32, broadcastable to ints
    node: str


@dataclass
class HostFloat:
    ops: list                 # FloatOps applied on the host, in order
    shape: tuple              # current ONNX shape (with batch)
    source_shape: tuple       # the graph input's ONNX shape (with batch)


@dataclass
class IntVal:
    ir: str                   # IR tensor name
    axes: tuple               # onnx = ir.transpose(axes)   (batch included)
    onnx_name: str            # the ONNX tensor that carries it (an integer tap for the qonnx backend)
    flat_perm: Optional[np.ndarray] = None

    @property
    def channel_axis(self) -> int:
        """The ONNX axis holding the IR's channel (last) axis."""
        return self.axes.index(len(self.axes) - 1)


@dataclass
class Pending:
    base: IntVal
    ops: list = field(default_factory=list)
    names: list = field(default_factory=list)   # ONNX nodes folded into the chain, for messages
    taps: list = field(default_factory=list)    # per op: the ONNX tensor its node outputs (None inside a node)
    axes: Optional[tuple] = None                # the chain's ONNX layout, when a layout change moved it off base's

    def then(self, ops: list, node) -> "Pending":
        """This chain followed by ``ops``, the float ops of ONNX ``node``."""
        taps = [None] * (len(ops) - 1) + [node.output[0]]
        return Pending(self.base, self.ops + list(ops), self.names + [node.name], self.taps + taps, self.axes)

    def without_leading(self, count: int, base: "IntVal") -> "Pending":
        return Pending(base, self.ops[count:], self.names, self.taps[count:], self.axes)

    @property
    def view(self) -> IntVal:
        """The base's IR tensor in the chain's current ONNX layout (what per-channel constants broadcast against)."""
        if self.axes is None:
            return self.base
        return IntVal(self.base.ir, self.axes, self.base.onnx_name, self.base.flat_perm)

    def moved(self, axes: tuple) -> "Pending":
        return Pending(self.base, self.ops, self.names, self.taps, tuple(axes))
