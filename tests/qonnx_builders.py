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

    def const(self, value, base="c", dtype=np.float32) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), n))
        return n

    def node(self, op, inputs, domain="", **attrs) -> str:
        out = self.name(op.lower() + "_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op), domain=domain, **attrs))
        return out

    def quant(self, x, scale, bits, signed=True, narrow=False, zeropt=0.0, rounding="ROUND") -> str:
        return self.node("Quant", [x, self.const(scale, "scale"), self.const(zeropt, "zp"), self.const(bits, "bits")],
                         domain=QDOMAIN, signed=int(signed), narrow=int(narrow), rounding_mode=rounding)

    def bipolar_quant(self, x, scale) -> str:
        """FINN's binarisation: +scale where x >= 0, -scale elsewhere."""
        return self.node("BipolarQuant", [x, self.const(scale, "scale")], domain=QDOMAIN)

    def trunc(self, x, scale, in_bits, out_bits, rounding="FLOOR", zeropt=0.0) -> str:
        """Brevitas's Trunc: drop the low in_bits - out_bits bits of the integer x / scale."""
        return self.node("Trunc", [x, self.const(scale, "scale"), self.const(zeropt, "zp"),
                                   self.const(in_bits, "in_bits"), self.const(out_bits, "out_bits")],
                         domain=QDOMAIN, rounding_mode=rounding)

    def batchnorm_of(self, x, gamma, beta, mean, var, epsilon=1e-5) -> str:
        """BatchNormalization with the given statistics (one float per channel each)."""
        return self.node("BatchNormalization", [x] + [self.const(v, "bn") for v in (gamma, beta, mean, var)],
                         epsilon=epsilon)

    def ints(self, values, base="c") -> str:
        """An int64 constant (Pad's pads, Reshape's shape)."""
        return self.const(values, base, np.int64)

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
        return self.batchnorm_of(x, gamma, beta, mean, var)

    def model(self, inp_shape, out_name, out_shape, graph_name="hand") -> onnx.ModelProto:
        """The graph of the nodes so far, input "x"; ``out_shape`` may be None (left to shape inference)."""
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


def concat_model(seed: int = 0, name_prefix: str = "") -> onnx.ModelProto:
    """x(1,3,8,8) -> Quant u8 -> Conv1x1 -> Relu -> Quant u4 (a) -> [Conv3x3 pad1 -> Relu -> Quant u4 (b)]
    -> Concat(a, b) on channels (an Inception / DenseNet join; both share one scale) -> Conv1x1 -> Relu -> Quant u4
    -> GlobalAveragePool -> Quant -> Flatten -> MatMul -> out"""
    b = Builder(seed, name_prefix)
    x = b.quant("x", np.float32(2.0 ** -8), 8, signed=False)
    a = b.node("Conv", [x, b.qweights((4, 3, 1, 1), 4)], kernel_shape=[1, 1])
    a = b.quant(b.node("Relu", [a]), np.float32(2.0 ** -3), 4, signed=False)
    c = b.node("Conv", [a, b.qweights((6, 4, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    c = b.quant(b.node("Relu", [c]), np.float32(2.0 ** -3), 4, signed=False)
    j = b.node("Concat", [a, c], axis=1)
    m = b.node("Conv", [j, b.qweights((8, 10, 1, 1), 4)], kernel_shape=[1, 1])
    m = b.quant(b.node("Relu", [m]), np.float32(2.0 ** -2), 4, signed=False)
    g = b.quant(b.node("GlobalAveragePool", [m]), np.float32(2.0 ** -4), 8, signed=False)
    f = b.node("Flatten", [g], axis=1)
    out = b.node("MatMul", [f, b.qweights((8, 4), 4)])
    return b.model([1, 3, 8, 8], out, [1, 4], "concat")


def learned_scales_model(seed: int = 0, name_prefix: str = "") -> onnx.ModelProto:
    """Scales as a Brevitas user's training leaves them (no power of two anywhere) and zero points:
    x(1,3,10,10) -> per-channel (x - mean) / std -> Quant u8 zero point 128 -> Conv3x3 (per-channel learned weight
    scales, float bias) -> BN -> Relu -> Quant u4 -> [Conv3x3 -> BN -> Quant s6 (shared)] + [Conv1x1 -> BN -> Quant
    s6 (shared)] -> Add -> Relu -> Quant u4 -> AveragePool 2 -> Quant u8 zero point 3 -> Flatten -> Gemm (float
    bias) -> out"""
    b = Builder(seed, name_prefix)
    r = b.rng

    def learned(lo, hi, size=None):
        return np.asarray(r.uniform(lo, hi, size), np.float32)

    def lweights(shape, bits):
        w = r.normal(size=shape).astype(np.float32) * 0.1
        scale = learned(0.004, 0.03, shape[0]).reshape((shape[0],) + (1,) * (len(shape) - 1))
        return b.quant(b.const(w, "w"), scale, bits, signed=True, narrow=True)

    mean = b.const(learned(-0.2, 0.2, 3).reshape(1, 3, 1, 1), "mean")
    std = b.const(learned(0.6, 1.4, 3).reshape(1, 3, 1, 1), "std")
    x = b.node("Div", [b.node("Sub", ["x", mean]), std])
    x = b.quant(x, learned(0.01, 0.02), 8, signed=False, zeropt=128.0)
    y = b.node("Conv", [x, lweights((6, 3, 3, 3), 6), b.const(learned(-0.3, 0.3, 6), "bias")], kernel_shape=[3, 3],
               pads=[1, 1, 1, 1])
    y = b.quant(b.node("Relu", [b.batchnorm(y, 6, negative=False)]), learned(0.05, 0.08), 4, signed=False)
    shared = learned(0.03, 0.05)
    a = b.node("Conv", [y, lweights((6, 6, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    a = b.quant(b.batchnorm(a, 6), shared, 6, signed=True)
    s = b.node("Conv", [y, lweights((6, 6, 1, 1), 4)], kernel_shape=[1, 1])
    s = b.quant(b.batchnorm(s, 6), shared, 6, signed=True)
    z = b.quant(b.node("Relu", [b.node("Add", [a, s])]), learned(0.05, 0.08), 4, signed=False)
    z = b.node("AveragePool", [z], kernel_shape=[2, 2], strides=[2, 2])
    z = b.quant(z, learned(0.002, 0.004), 8, signed=False, zeropt=3.0)
    f = b.node("Flatten", [z], axis=1)
    w = r.normal(size=(4, 150)).astype(np.float32) * 0.1
    wq = b.quant(b.const(w, "w"), learned(0.003, 0.01, 4).reshape(4, 1), 8, signed=True, narrow=True)
    out = b.node("Gemm", [f, wq, b.const(learned(-0.5, 0.5, 4), "bias")], transB=1)
    return b.model([1, 3, 10, 10], out, [1, 4], "learned_scales")


def separable_model(seed: int = 0, group: int = 4, name_prefix: str = "") -> onnx.ModelProto:
    """A MobileNet-style block, as Brevitas exports QuantConv2d(groups=...): x(1,4,9,9) -> Quant s8 -> Conv1x1 ->
    Relu -> Quant u4 (8 ch) -> Conv3x3 group=8 stride 2 pad 1 (depthwise) -> BN -> Relu -> Quant u4 -> Conv3x3
    group=``group`` pad 1 (grouped) -> Quant s5 -> Conv1x1 (pointwise) -> GlobalAveragePool -> Quant -> Flatten ->
    MatMul -> out"""
    b = Builder(seed, name_prefix)
    x = b.quant("x", np.float32(2.0 ** -6), 8, signed=True)
    y = b.node("Conv", [x, b.qweights((8, 4, 1, 1), 4, per_channel_axis=0)], kernel_shape=[1, 1])
    y = b.quant(b.node("Relu", [y]), np.float32(2.0 ** -3), 4, signed=False)
    d = b.node("Conv", [y, b.qweights((8, 1, 3, 3), 5, per_channel_axis=0)], kernel_shape=[3, 3], group=8,
               strides=[2, 2], pads=[1, 1, 1, 1])
    d = b.quant(b.node("Relu", [b.batchnorm(d, 8, negative=False)]), np.float32(2.0 ** -3), 4, signed=False)
    g = b.node("Conv", [d, b.qweights((8, 8 // group, 3, 3), 4)], kernel_shape=[3, 3], group=group,
               pads=[1, 1, 1, 1])
    g = b.quant(g, np.float32(2.0 ** -2), 5, signed=True)
    p = b.node("Conv", [g, b.qweights((6, 8, 1, 1), 4)], kernel_shape=[1, 1])
    p = b.quant(b.node("GlobalAveragePool", [p]), np.float32(2.0 ** -3), 8, signed=True)
    out = b.node("MatMul", [b.node("Flatten", [p], axis=1), b.qweights((6, 3), 4)])
    return b.model([1, 4, 9, 9], out, [1, 3], "separable")


def padding_model(seed: int = 0, name_prefix: str = "") -> onnx.ModelProto:
    """Explicit Pads, as Keras ZeroPadding2D and hand-written models have them: x(1,2,7,6) -> Quant u8 -> Pad 1 ->
    Conv3x3 -> Relu -> Quant u4 -> Pad (0,1,1,0) with 0 -> MaxPool 2 (folds: 0 is uint4's minimum) -> Pad 2 on the
    left with value 3 x scale (stays a Pad: it is no window's own pad value) -> Conv1x1 pad 1 -> Quant s6 -> Flatten
    -> MatMul -> out"""
    b = Builder(seed, name_prefix)

    def pads(values):
        return b.const(values, "pads", np.int64)

    x = b.quant("x", np.float32(2.0 ** -8), 8, signed=False)
    x = b.node("Pad", [x, pads([0, 0, 1, 1, 0, 0, 1, 1])], mode="constant")
    y = b.node("Conv", [x, b.qweights((4, 2, 3, 3), 4)], kernel_shape=[3, 3])
    y = b.quant(b.node("Relu", [y]), np.float32(2.0 ** -3), 4, signed=False)
    y = b.node("Pad", [y, pads([0, 0, 0, 1, 0, 0, 1, 0]), b.const(np.float32(0.0), "value")], mode="constant")
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Pad", [y, pads([0, 0, 0, 2, 0, 0, 0, 0]), b.const(np.float32(3 * 2.0 ** -3), "value")],
               mode="constant")
    z = b.node("Conv", [y, b.qweights((3, 4, 1, 1), 4)], kernel_shape=[1, 1], pads=[1, 1, 1, 1])
    z = b.quant(z, np.float32(2.0 ** -2), 6, signed=True)
    out = b.node("MatMul", [b.node("Flatten", [z], axis=1), b.qweights((3 * 6 * 7, 4), 4)])
    return b.model([1, 2, 7, 6], out, [1, 4], "padding")


def upsample_model(seed: int = 0, transform: str = "asymmetric", nearest: str = "floor",
                   name_prefix: str = "") -> onnx.ModelProto:
    """A decoder-style block, as nn.Upsample(scale_factor=2) and Keras UpSampling2D export it: x(1,3,5,4) -> Quant
    u8 -> Conv3x3 pad 1 -> Relu -> Quant u4 -> Resize nearest x2 rows, x3 columns -> Conv3x3 pad 1 -> Quant s6
    -> MaxPool 2 -> Flatten -> MatMul -> out"""
    b = Builder(seed, name_prefix)
    x = b.quant("x", np.float32(2.0 ** -8), 8, signed=False)
    y = b.node("Conv", [x, b.qweights((4, 3, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.quant(b.node("Relu", [y]), np.float32(2.0 ** -3), 4, signed=False)
    roi = b.const(np.zeros(0, np.float32), "roi")          # opset 11 wants it, even empty
    y = b.node("Resize", [y, roi, b.const(np.asarray([1, 1, 2, 3], np.float32), "scales")], mode="nearest",
               coordinate_transformation_mode=transform, nearest_mode=nearest)
    z = b.node("Conv", [y, b.qweights((3, 4, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    z = b.node("MaxPool", [b.quant(z, np.float32(2.0 ** -2), 6, signed=True)], kernel_shape=[2, 2],
               strides=[2, 2])
    out = b.node("MatMul", [b.node("Flatten", [z], axis=1), b.qweights((3 * 5 * 6, 4), 4)])
    return b.model([1, 3, 5, 4], out, [1, 4], "upsample")


def trunc_avgpool_model(seed: int = 0, rounding: str = "FLOOR", name_prefix: str = "") -> onnx.ModelProto:
    """Brevitas's TruncAvgPool2d as it exports: x(1,2,8,8) -> Quant u4 -> Conv3x3 pad 1 -> Relu -> Quant u4 (s) ->
    AveragePool 2 -> Mul 4 (the window sum) -> Trunc(scale s, 6 -> 4 bits) -> Flatten -> MatMul -> out"""
    b = Builder(seed, name_prefix)
    x = b.quant("x", np.float32(2.0 ** -4), 4, signed=False)
    y = b.node("Conv", [x, b.qweights((3, 2, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    s = np.float32(0.0625)
    y = b.quant(b.node("Relu", [y]), s, 4, signed=False)
    y = b.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Mul", [y, b.const(np.float32(4.0), "k")])
    y = b.node("Trunc", [y, b.const(s, "scale"), b.const(np.float32(0), "zp"), b.const(np.float32(6), "in_bits"),
                         b.const(np.float32(4), "out_bits")], domain=QDOMAIN, rounding_mode=rounding)
    out = b.node("MatMul", [b.node("Flatten", [y], axis=1), b.qweights((3 * 4 * 4, 5), 4)])
    return b.model([1, 2, 8, 8], out, [1, 5], "trunc_avgpool")


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


def tiny_dense_model(seed: int = 0, cin: int = 6, cout: int = 3, in_bits: int = 4,
                     w_bits: int = 3) -> onnx.ModelProto:
    """x(1, cin) -> Quant int<in_bits> -> MatMul (int<w_bits> weights) -> out: by default the smallest model every
    backend runs, so that the hostile-input tests build their csim library and Verilator model in seconds; larger,
    one weight ROM of a chosen shape (benchmarks/estimate_vs_yosys.py --shapes)."""
    b = Builder(seed)
    x = b.quant("x", np.float32(2.0 ** -2), in_bits, signed=True)
    out = b.node("MatMul", [x, b.qweights((cin, cout), w_bits)])
    return b.model([1, cin], out, [1, cout], "tiny_dense")


def single_conv_model(seed: int = 0, h: int = 8, w: int = 8, cin: int = 4, cout: int = 4, in_bits: int = 4,
                      w_bits: int = 3) -> onnx.ModelProto:
    """x(1, cin, h, w) -> Quant uint<in_bits> -> Conv 3x3 pad 1 (int<w_bits> weights) -> out: one sliding window
    and one matrix-vector unit of a chosen shape (benchmarks/estimate_vs_yosys.py --shapes)."""
    b = Builder(seed)
    x = b.quant("x", np.float32(2.0 ** -2), in_bits, signed=False)
    out = b.node("Conv", [x, b.qweights((cout, cin, 3, 3), w_bits)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return b.model([1, cin, h, w], out, [1, cout, h, w], "single_conv")


# One-layer models whose one stage of interest has a chosen shape, to price it over a range the zoo does not span
# (benchmarks/estimate_vs_yosys.py --shapes, pinned in tests/test_estimate.py).  Weight ROMs in logic (cf_mvu,
# weight_mem "lut"): a Dense layer cin x cout of w_bits bits folded to PE x SIMD, a ROM of cin*cout/(PE*SIMD) words of PE*SIMD*w_bits bits.  Rows-mode sliding windows (cf_swg): a 3x3
# convolution over h x w x cin, SIMD lanes of in_bits bits a word (SIMD divides cin), the ring of rows where
# buffer_mem says.  CNV 2W2A's Gemm_0 (131,072 x 2 bits) and Conv_1..5 windows (128-bit words) are in the range.
ROM_SHAPES = [  # cin, cout, w_bits, pe, simd
    (64, 4, 2, 1, 1), (64, 16, 2, 1, 1), (128, 32, 2, 1, 1), (256, 64, 2, 1, 1), (256, 256, 2, 1, 1),
    (512, 256, 2, 1, 1), (128, 32, 2, 4, 1), (128, 64, 4, 2, 2), (64, 32, 4, 8, 1)]
WINDOW_SHAPES = [  # h, w, cin, in_bits, simd, buffer_mem
    (8, 8, 8, 8, 1, "auto"), (16, 16, 16, 8, 4, "auto"), (16, 16, 32, 2, 16, "auto"), (16, 16, 64, 2, 64, "auto"),
    (16, 16, 64, 2, 64, "lut"), (30, 30, 64, 2, 64, "lut"), (30, 30, 64, 2, 64, "block"),
    (12, 12, 128, 2, 128, "block"), (8, 8, 128, 2, 128, "auto"), (32, 32, 8, 8, 2, "auto")]


def stage_shape_models() -> list:
    """(name, ONNX model, folding of its one layer, the stage kind it is about) for every shape of the grid."""
    out = []
    for cin, cout, w_bits, pe, simd in ROM_SHAPES:
        depth, width = cin * cout // (pe * simd), pe * simd * w_bits
        out.append((f"rom{depth}x{width}", tiny_dense_model(0, cin, cout, in_bits=2, w_bits=w_bits),
                    {"pe": pe, "simd": simd, "mult": "lut", "weight_mem": "lut"}, "cf_mvu"))
    for h, w, cin, in_bits, simd, buffer_mem in WINDOW_SHAPES:
        out.append((f"rows{h}x{w}x{cin}-{simd * in_bits}b-{buffer_mem}",
                    single_conv_model(0, h, w, cin, 4, in_bits=in_bits, w_bits=2),
                    {"pe": 1, "simd": simd, "mult": "lut", "buffer_mem": buffer_mem}, "cf_swg"))
    return out


def conv1d_model(seed: int = 0, name_prefix: str = "") -> onnx.ModelProto:
    """A 1-D network as PyTorch / Brevitas export QuantConv1d: (N, C, W) tensors and 3-D Conv / pools.
    x(1,3,20) -> Quant u8 -> Conv k3 pad 1 (per-channel scales, bias) -> Relu -> Quant u4 -> MaxPool 2 -> Pad (1, 2)
    -> Conv k3 stride 2 -> Quant s5 -> AveragePool 2 -> Quant s6 -> Resize x2 -> Conv k1 -> Quant s4 (a)
    -> [Conv k3 pad 1 -> Quant s4] + a -> GlobalAveragePool -> Quant -> Flatten -> Gemm -> out"""
    b = Builder(seed, name_prefix)
    x = b.quant("x", np.float32(2.0 ** -8), 8, signed=False)
    bias = b.const(np.round(b.rng.normal(size=6) * 16) / 128, "bias")
    y = b.node("Conv", [x, b.qweights((6, 3, 3), 4, per_channel_axis=0), bias], kernel_shape=[3], pads=[1, 1])
    y = b.quant(b.node("Relu", [y]), np.float32(2.0 ** -3), 4, signed=False)
    y = b.node("MaxPool", [y], kernel_shape=[2], strides=[2])                                   # 10
    y = b.node("Pad", [y, b.const([0, 0, 1, 0, 0, 2], "pads", np.int64)], mode="constant")      # 13
    y = b.node("Conv", [y, b.qweights((5, 6, 3), 4)], kernel_shape=[3], strides=[2])            # 6
    y = b.quant(y, np.float32(2.0 ** -2), 5, signed=True)
    y = b.node("AveragePool", [y], kernel_shape=[2], strides=[2])                               # 3
    y = b.quant(y, np.float32(2.0 ** -3), 6, signed=True)
    roi = b.const(np.zeros(0, np.float32), "roi")
    y = b.node("Resize", [y, roi, b.const(np.asarray([1, 1, 2], np.float32), "scales")], mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")               # 6
    a = b.quant(b.node("Conv", [y, b.qweights((4, 5, 1), 4)], kernel_shape=[1]), np.float32(2.0 ** -2), 4)
    r = b.node("Conv", [a, b.qweights((4, 4, 3), 4)], kernel_shape=[3], pads=[1, 1])
    r = b.quant(r, np.float32(2.0 ** -2), 4)
    s = b.node("GlobalAveragePool", [b.node("Add", [a, r])])
    s = b.quant(s, np.float32(2.0 ** -3), 8, signed=True)
    w = b.qweights((3, 4), 4, per_channel_axis=0)
    out = b.node("Gemm", [b.node("Flatten", [s], axis=1), w, b.const(np.float32([0.25, -0.5, 0.125]), "bias")],
                 transB=1)
    return b.model([1, 3, 20], out, [1, 3], "conv1d")


def nested_skip_model(seed: int = 0, name_prefix: str = "") -> onnx.ModelProto:
    """A skip connection that passes a whole inner residual block and a down/up-sampling path (U-Net style):
    x(1,2,8,8) -> Quant u4 -> Conv3x3 pad 1 -> Relu -> Quant u4 (a) -> a + [Conv3x3 pad 1 -> Relu -> Quant u4]
    -> Quant u5 -> MaxPool 2 -> Pad 1 -> Conv3x3 -> Relu -> Quant u4 -> Resize x2 -> + a -> Quant u5
    -> GlobalAveragePool -> Quant u8 -> Flatten -> MatMul -> out.  The stem's direct path to the outer Add must buffer the
    inner block and the whole down/up path, not only the way to the inner Add."""
    b = Builder(seed, name_prefix)
    s = np.float32(2.0 ** -3)
    x = b.quant("x", np.float32(2.0 ** -4), 4, signed=False)
    a = b.node("Conv", [x, b.qweights((4, 2, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    a = b.quant(b.node("Relu", [a]), s, 4, signed=False)
    r = b.node("Conv", [a, b.qweights((4, 4, 3, 3), 4)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    r = b.quant(b.node("Relu", [r]), s, 4, signed=False)
    y = b.quant(b.node("Add", [a, r]), s, 5, signed=False)
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])                                  # 4 x 4
    y = b.node("Pad", [y, b.const([0, 0, 1, 1, 0, 0, 1, 1], "pads", np.int64)], mode="constant")      # 6 x 6
    y = b.node("Conv", [y, b.qweights((4, 4, 3, 3), 4)], kernel_shape=[3, 3])                       # 4 x 4
    y = b.quant(b.node("Relu", [y]), s, 4, signed=False)
    roi = b.const(np.zeros(0, np.float32), "roi")
    up = b.node("Resize", [y, roi, b.const(np.asarray([1, 1, 2, 2], np.float32), "scales")], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")                  # 8 x 8
    z = b.quant(b.node("Add", [up, a]), s, 5, signed=False)
    z = b.quant(b.node("GlobalAveragePool", [z]), np.float32(2.0 ** -4), 8, signed=False)
    out = b.node("MatMul", [b.node("Flatten", [z], axis=1), b.qweights((4, 3), 4)])
    return b.model([1, 2, 8, 8], out, [1, 3], "nested_skip")
