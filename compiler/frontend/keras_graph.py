"""The ONNX graph a Keras model is converted into (keras_convert.py writes it): nodes, initialisers, unique names,
Quant nodes, quantised weights, and the tensors with their layouts.

Layout: Keras holds images as (N, H, W, C) and signals as (N, W, C); ONNX's Conv and pools want (N, C, H, W) and
(N, C, W), as PyTorch exports them.  A tensor is kept in whichever layout its producer made ("keras" for the model
input, "onnx" after a convolution or pool); a layer that needs the other gets one Transpose, made once per tensor.
Elementwise layers (quantisers, BatchNorm, Add) work in either.  A Flatten (and the model's Dense part) reads the
Keras order, as Keras flattens.  A global pool keeps its 1 x 1 image until something needs the (N, C) matrix, so
that its quantiser comes before the flatten.  The graph output stays in the layout it is in (the integer comparison
and convflow's runtime go through the tap's recorded layout).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import helper, numpy_helper

from convflow.hw.errors import UnsupportedOp

from .keras_quantizers import QuantParams, activation_steps, quantized_weights

QDOMAIN = "qonnx.custom_op.general"
F32 = np.float32


@dataclass
class KTensor:
    name: str             # the ONNX tensor
    shape: tuple          # the Keras shape, without the batch
    layout: str           # "keras": channels last; "onnx": channels on axis 1
    rank: int = 0         # the ONNX tensor's rank with the batch (more than len(shape) + 1: a 1-pixel image)

    def __post_init__(self):
        self.rank = self.rank or len(self.shape) + 1

    @property
    def onnx_shape(self) -> tuple:
        if self.rank != len(self.shape) + 1:                       # a pooled 1 x 1 image held for (N, C)
            return (1, self.shape[0]) + (1,) * (self.rank - 2)
        if self.layout == "onnx" and len(self.shape) > 1:
            return (1, self.shape[-1]) + tuple(self.shape[:-1])
        return (1,) + tuple(self.shape)

    def channel_shape(self) -> tuple:
        """The shape of a per-channel constant that broadcasts against this tensor."""
        if self.layout == "onnx" and self.rank > 2:
            return (-1,) + (1,) * (self.rank - 2)
        return (-1,)


class OnnxGraph:
    """The ONNX graph being written: nodes, initialisers, unique names, the Transposes between layouts."""

    def __init__(self):
        self.nodes, self.initializers, self.names = [], [], set()
        self._layouts: dict = {}          # (tensor, layout) -> KTensor, so each tensor is transposed once

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def const(self, base: str, value, dtype=F32) -> str:
        name = self.unique(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def add(self, op: str, inputs: list, base: str, domain: str = "", **attrs) -> str:
        name = self.unique(base)
        out = self.unique(f"{name}_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, domain=domain, **attrs))
        return out

    def quant(self, x: str, q: QuantParams, base: str) -> str:
        scale = self.const(f"{base}_scale", q.scale)
        if q.op == "BipolarQuant":
            return self.add("BipolarQuant", [x, scale], base, domain=QDOMAIN)
        return self.add("Quant", [x, scale, self.const(f"{base}_zeropt", 0.0), self.const(f"{base}_bits", q.bits)],
                        base, domain=QDOMAIN, signed=int(q.signed), narrow=int(q.narrow), rounding_mode=q.rounding)

    def like(self, t: KTensor, name: str, shape=None) -> KTensor:
        return KTensor(name, tuple(t.shape if shape is None else shape), t.layout, t.rank if shape is None else 0)

    # -------------------------------------------------------------------------------------- layouts
    def to_onnx(self, t: KTensor) -> KTensor:
        if t.layout == "onnx" or len(t.shape) < 2:
            return t
        key = (t.name, "onnx")
        if key not in self._layouts:
            perm = [0, len(t.shape)] + list(range(1, len(t.shape)))
            self._layouts[key] = KTensor(self.add("Transpose", [t.name], f"{t.name}_to_nchw", perm=perm), t.shape,
                                         "onnx")
        return self._layouts[key]

    def to_keras(self, t: KTensor) -> KTensor:
        if t.rank != len(t.shape) + 1:
            return self.flat(t)
        if t.layout == "keras" or len(t.shape) < 2:
            return t
        key = (t.name, "keras")
        if key not in self._layouts:
            perm = [0] + list(range(2, len(t.shape) + 1)) + [1]
            self._layouts[key] = KTensor(self.add("Transpose", [t.name], f"{t.name}_to_nhwc", perm=perm), t.shape,
                                         "keras")
        return self._layouts[key]

    def flat(self, t: KTensor) -> KTensor:
        """A (N, features) tensor: as it is, or a held 1 x 1 image flattened."""
        if t.rank == 2:
            return t
        if t.rank != len(t.shape) + 1:
            key = (t.name, "flat")
            if key not in self._layouts:
                self._layouts[key] = KTensor(self.add("Flatten", [t.name], f"{t.name}_flatten", axis=1), t.shape,
                                             "keras")
            return self._layouts[key]
        raise UnsupportedOp(f"needs a (batch, features) input, got the shape {t.shape}; add a Flatten before it")

    def same_layout(self, tensors: list) -> list:
        """Operands of an elementwise join, in one layout."""
        if any(t.rank != len(t.shape) + 1 for t in tensors) and any(t.rank == 2 for t in tensors):
            return [self.flat(t) for t in tensors]
        if any(t.layout == "onnx" and len(t.shape) > 1 for t in tensors):
            return [self.to_onnx(t) for t in tensors]
        return tensors

    # -------------------------------------------------------------------------------------- shared pieces
    def activation(self, t: KTensor, q, base: str, own: bool = False) -> KTensor:
        """``t`` through activation ``q`` (a QKeras quantiser or a Keras activation function); ``own``: the
        activation is the whole layer ``base`` (QActivation, Activation), whose last node then takes its name."""
        steps = activation_steps(q)
        for i, (op, value) in enumerate(steps):
            name = base if own and i == len(steps) - 1 else f"{base}_{op.lower()}"
            if op == "Quant":
                t = self.like(t, self.quant(t.name, value, name))
            elif op == "Relu":
                t = self.like(t, self.add("Relu", [t.name], name))
            elif op == "Softmax":
                if len(t.shape) != 1:
                    raise UnsupportedOp("a softmax is taken on (batch, classes) only")
                t = self.like(self.flat(t), self.add("Softmax", [self.flat(t).name], name, axis=-1))
            else:
                t = self.like(t, self.add(op, [t.name, self.const(f"{name}_value", value)], name))
        return t

    def weights(self, base: str, q, values: np.ndarray, to_onnx, out_axis: int, what: str) -> str:
        """The quantised weights of a layer as an ONNX constant through its Quant: ``to_onnx`` maps an array in the
        layer's layout to ONNX's (applied to the values and to their per-element scale), ``out_axis`` is the ONNX
        output-channel axis the scale may vary along."""
        if q is None and what != "bias":
            raise UnsupportedOp(f"its {what} has no quantiser (convflow takes quantised weights: give the layer a "
                                f"{what}_quantizer)")
        quantised, params = quantized_weights(q, values)
        tensor = self.const(f"{base}_{what}", to_onnx(quantised))
        if params is None:
            return tensor                              # an unquantised bias: a float constant the model adds
        params.scale = per_channel(to_onnx(params.scale), out_axis, what)
        return self.quant(tensor, params, f"{base}_{what}_quant")


def per_channel(scale: np.ndarray, axis: int, what: str) -> np.ndarray:
    """A full-shape scale as one value, or one value per index of ``axis`` (broadcastable); else refused."""
    flat = np.moveaxis(scale, axis, 0).reshape(scale.shape[axis], -1)
    if np.all(flat == flat.flat[0]):
        return np.asarray(flat.flat[0], F32)
    if not np.all(flat == flat[:, :1]):
        raise UnsupportedOp(f"the scales of its {what} vary inside an output channel")
    shape = [1] * scale.ndim
    shape[axis] = scale.shape[axis]
    return flat[:, 0].reshape(shape).astype(F32)
