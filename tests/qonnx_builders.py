"""Small QONNX models built by hand with onnx.helper, to exercise the frontend on patterns the shared and zoo
models do not have: NCHW convolutions with per-channel weight scales, BatchNorm with negative gammas, narrow and
signed activations, stride and padding, average pooling, a residual Add, Gemm, and awkward node names."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QDOMAIN = "qonnx.custom_op.general"


class Builder:
    def __init__(self, seed: int, name_prefix: str = ""):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []
        self.count = 0
        self.prefix = name_prefix

    def name(self, base: str) -> str:
        self.count += 1
        return f"{self.prefix}{base}_{self.count}"

    def const(self, value, base="c") -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32), n))
        return n

    def node(self, op, inputs, domain="", **attrs) -> str:
        out = self.name(op.lower() + "_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op), domain=domain, **attrs))
        return out

    def quant(self, x, scale, bits, signed=True, narrow=False, zeropt=0.0) -> str:
        return self.node("Quant", [x, self.const(scale, "scale"), self.const(zeropt, "zp"), self.const(bits, "bits")],
                         domain=QDOMAIN, signed=int(signed), narrow=int(narrow), rounding_mode="ROUND")

    def qweights(self, shape, bits, per_channel_axis=None) -> str:
        """Random weights through a Quant with power-of-two scale(s)."""
        w = self.rng.normal(size=shape).astype(np.float32) * 0.5
        if per_channel_axis is None:
            scale = np.float32(2.0 ** -(bits - 1))
        else:
            exps = self.rng.integers(bits - 2, bits + 1, size=shape[per_channel_axis])
            bshape = [1] * len(shape)
            bshape[per_channel_axis] = shape[per_channel_axis]
            scale = (2.0 ** -exps.astype(np.float32)).reshape(bshape).astype(np.float32)
        return self.quant(self.const(w, "w"), scale, bits, signed=True, narrow=True)

    def batchnorm(self, x, channels, negative=True) -> str:
        gamma = self.rng.uniform(0.5, 2.0, channels).astype(np.float32)
        if negative:
            gamma[::3] *= -1                       # negative gammas: decreasing channels the pass must flip
        beta = self.rng.normal(size=channels).astype(np.float32)
        mean = self.rng.normal(size=channels).astype(np.float32) * 2
        var = self.rng.uniform(0.5, 4.0, channels).astype(np.float32)
        return self.node("BatchNormalization", [x] + [self.const(v, "bn") for v in (gamma, beta, mean, var)],
                         epsilon=1e-5)

    def model(self, inp_shape, out_name, out_shape, graph_name="hand") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, graph_name,
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, inp_shape)],
                                  [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid(QDOMAIN, 1)])
        model.ir_version = 7
        return model


def conv_bn_model(seed: int = 0, name_prefix: str = "") -> onnx.ModelProto:
    """x(1,3,8,8) -> Quant int8 -> Conv3x3 pad1 (per-channel scales, bias) -> BN(neg gammas) -> Relu -> Quant u4
    -> MaxPool2 -> Conv3x3 stride 2 -> BN -> Quant int3 narrow -> AveragePool 2 -> Quant int4 -> Flatten
    -> Gemm(transB) + bias -> out"""
    b = Builder(seed, name_prefix)
    x = b.quant("x", np.float32(2.0 ** -6), 8, signed=True)
    w1 = b.qweights((8, 3, 3, 3), 4, per_channel_axis=0)
    bias1 = b.const(np.round(b.rng.normal(size=8) * 16) / 64, "bias")
    y = b.node("Conv", [x, w1, bias1], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.batchnorm(y, 8)
    y = b.node("Relu", [y])
    y = b.quant(y, np.float32(2.0 ** -3), 4, signed=False)
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])                 # 4x4
    w2 = b.qweights((6, 8, 3, 3), 3)
    y = b.node("Conv", [y, w2], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 0, 0])   # 2x2? (4+1-3)//2+1 = 2
    y = b.batchnorm(y, 6)
    y = b.quant(y, np.float32(0.25), 3, signed=True, narrow=True)
    y = b.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])            # 1x1
    y = b.quant(y, np.float32(0.125), 4, signed=True)
    y = b.node("Flatten", [y], axis=1)
    w3 = b.qweights((5, 6), 4, per_channel_axis=0)
    bias3 = b.const(np.round(b.rng.normal(size=5) * 8) / 32, "bias")
    out = b.node("Gemm", [y, w3, bias3], transB=1)
    return b.model([1, 3, 8, 8], out, [1, 5], "conv_bn")


def residual_model(seed: int = 0, name_prefix: str = "") -> onnx.ModelProto:
    """x(1,4,6,6) -> Quant u8 -> Conv1x1 -> Quant(a) -> Conv3x3 pad1 -> Relu -> Quant(b) -> Add(a, b) -> Quant
    -> GlobalAveragePool -> Quant -> Flatten -> MatMul -> BN-like affine tail (stays on the host)"""
    b = Builder(seed, name_prefix)
    x = b.quant("x", np.float32(2.0 ** -8), 8, signed=False)
    a = b.node("Conv", [x, b.qweights((8, 4, 1, 1), 4)], kernel_shape=[1, 1])
    a = b.quant(a, np.float32(2.0 ** -4), 6, signed=True)
    r = b.node("Conv", [a, b.qweights((8, 8, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    r = b.node("Relu", [r])
    r = b.quant(r, np.float32(2.0 ** -3), 5, signed=False)
    s = b.node("Add", [a, r])
    s = b.quant(s, np.float32(2.0 ** -3), 6, signed=True)
    g = b.node("GlobalAveragePool", [s])
    g = b.quant(g, np.float32(2.0 ** -4), 8, signed=True)
    f = b.node("Flatten", [g], axis=1)
    m = b.node("MatMul", [f, b.qweights((8, 3), 4)])
    m = b.node("Mul", [m, b.const(np.float32(1.7), "tail")])
    out = b.node("Sub", [m, b.const(np.array([0.1, -0.2, 0.3], np.float32), "tail")])
    return b.model([1, 4, 6, 6], out, [1, 3], "residual")


def non_monotonic_model() -> onnx.ModelProto:
    """Dense -> Relu -> Mul(-1) -> Relu -> Quant: the float path is not monotonic in the accumulator... after
    the first Relu it is flat then decreasing, which thresholds cannot express when followed by a second
    non-monotonic op (here an Abs-like fold through two Relus of opposite signs)."""
    b = Builder(1)
    x = b.quant("x", np.float32(2.0 ** -4), 6, signed=True)
    m = b.node("MatMul", [x, b.qweights((4, 3), 4)])
    p = b.node("Relu", [m])                        # max(m, 0)
    n = b.node("Mul", [m, b.const(np.float32(-1.0), "neg")])
    n = b.node("Relu", [n])                        # max(-m, 0)
    # |m| = relu(m) + relu(-m) needs two branches: an Add of two float chains, which convflow refuses by name
    s = b.node("Add", [p, n])
    out = b.quant(s, np.float32(2.0 ** -3), 4, signed=False)
    return b.model([1, 4], out, [1, 3], "non_monotonic")


def unsupported_op_model() -> onnx.ModelProto:
    b = Builder(2)
    x = b.quant("x", np.float32(2.0 ** -4), 6, signed=True)
    y = b.node("Sigmoid", [x])
    return b.model([1, 4], y, [1, 4], "unsupported")


def tiny_dense_model(seed: int = 0, cin: int = 6, cout: int = 3) -> onnx.ModelProto:
    """x(1, cin) -> Quant int4 -> MatMul (int3 weights) -> out: the smallest model every backend runs, so that the
    hostile-input tests build their csim library and Verilator model in seconds."""
    b = Builder(seed)
    x = b.quant("x", np.float32(2.0 ** -2), 4, signed=True)
    out = b.node("MatMul", [x, b.qweights((cin, cout), 3)])
    return b.model([1, cin], out, [1, cout], "tiny_dense")
