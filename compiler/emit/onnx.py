"""ONNX emitter: the integer IR as a standard ONNX graph that ONNX Runtime runs on its CPU or CUDA provider and
that yields exactly the reference integers (the ``gpu`` backend runs it; users may run ``gpu/model.onnx``
anywhere).

The graph takes ``x``: int64 (N, *IR input shape), NHWC, integers of the model's input type -- what
``Session.quantize_input`` gives -- and returns ``y``: int64 (N, *IR output shape), the integer logits.

Exactness.  Every value between the two Casts is a float64 (``double``) holding an integer.  float64 represents
every integer of magnitude <= 2**53 exactly, and a sum, product, comparison, max, power-of-two scaling or
round-half-to-even of such integers whose exact result is again of magnitude <= 2**53 is computed exactly (IEEE 754
rounds only results that are not representable).  So the graph is exact when no intermediate, in *any* summation
order the runtime may choose (BLAS blocking, GPU reductions), exceeds 2**53.  For a dot product
acc = bias + sum_i w_i * x_i every partial sum is bounded by |bias| + sum_i |w_i| * max|x| (triangle inequality),
whatever the order; ``_check_bound`` computes that bound for each op and refuses (UnsupportedOp, naming the layer)
a graph where it reaches 2**53.  The IR's accumulators are at most 48 bits (passes/infer_bitwidths.py), so real
models are far inside the bound.  Double precision also keeps TF32 and reduced-precision GEMM out: they apply to
float32 only.

Why float64 and not integer ops: ONNX Runtime has no int64 MatMul or Conv on CUDA and no double Conv on CPU; a
Conv is therefore lowered to a gather of its windows (im2col) and a float64 MatMul.  Types each op is used with,
per ONNX Runtime's registered kernels (docs/OperatorKernels.md of onnxruntime, checked for both providers):

    Cast (int64 <-> double, bool -> double), Reshape, Unsqueeze, Gather (double data, int64 indices), Concat,
    Pad (double), MatMul (double), Add / Mul (double), ReduceSum (double), ReduceMax (double),
    Max / Min (double), Round (double), GreaterOrEqual (double -> bool): CPU and CUDA providers both.
    Not usable: Conv (CPU: float only), MatMul int64 (CUDA: floats only), MatMulInteger / ConvInteger (8-bit).

One entry per IR op in ``OPS`` (keyed by the IR node class): a function that appends the op's ONNX nodes, and one
that bounds its intermediates.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convflow.compiler.ir.graph import (Add, Concat, Conv2D, Dense, Flatten, Graph, MaxPool, Pad, Shift, SumPool,
                                        Threshold, Upsample)
from convflow.hw.errors import UnsupportedOp

from .names import comment_safe

OPSET = 17
EXACT_LIMIT = 2 ** 53     # every integer of magnitude <= 2**53 is a float64
MODEL_FILE = "model.onnx"


class _Builder:
    """Accumulates ONNX nodes and initialisers with unique names derived from the layer names."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []
        self.count = 0

    def name(self, layer: str, what: str) -> str:
        self.count += 1
        return f"{layer}/{what}_{self.count}"

    def const(self, layer: str, what: str, array) -> str:
        name = self.name(layer, what)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, layer: str, op_type: str, inputs: list, **attrs) -> str:
        out = self.name(layer, op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


# ---- windows: the one mechanism behind Conv2D, MaxPool and SumPool ----

def _window_indices(in_shape, kernel, stride, pads) -> np.ndarray:
    """(OH*OW, KH*KW) indices into the input's H*W positions, plus one extra position H*W that stands for padding."""
    h, w = in_shape[0], in_shape[1]
    top, left, bottom, right = pads
    kh, kw = kernel
    oh = (h + top + bottom - kh) // stride[0] + 1
    ow = (w + left + right - kw) // stride[1] + 1
    pad_index = h * w
    idx = np.full((oh * ow, kh * kw), pad_index, dtype=np.int64)
    for oy in range(oh):
        for ox in range(ow):
            for ky in range(kh):
                for kx in range(kw):
                    y, x = oy * stride[0] + ky - top, ox * stride[1] + kx - left
                    if 0 <= y < h and 0 <= x < w:
                        idx[oy * ow + ox, ky * kw + kx] = y * w + x
    return idx, oh, ow


def _windows(b: _Builder, layer: str, x: str, in_shape, kernel, stride, pads, pad_value) -> tuple:
    """x (N, H, W, C) double -> (N, OH*OW, KH*KW, C) double, out-of-image taps reading ``pad_value``."""
    h, w, c = in_shape
    idx, oh, ow = _window_indices(in_shape, kernel, stride, pads)
    flat = b.op(layer, "Reshape", [x, b.const(layer, "shape", np.array([0, h * w, c], np.int64))])
    padded = b.op(layer, "Pad", [flat, b.const(layer, "pads", np.array([0, 0, 0, 0, 1, 0], np.int64)),
                                 b.const(layer, "pad_value", np.array(float(pad_value)))], mode="constant")
    return b.op(layer, "Gather", [padded, b.const(layer, "windows", idx)], axis=1), oh, ow


# ---- one entry per IR op: emit(builder, node, graph, inputs) -> output name; bound(node, graph) -> magnitude ----

def _emit_conv(b, node: Conv2D, graph, inputs):
    layer = node.name
    in_shape = graph.tensors[node.inputs[0]].shape
    win, oh, ow = _windows(b, layer, inputs[0], in_shape, node.kernel, node.stride, node.pads, node.pad_value)
    kh, kw, cin, cout = node.weights.shape
    w = node.weights.astype(np.float64)
    if node.depthwise:
        # out[p, c] = sum_k win[p, k, c] * w[k, c]
        prod = b.op(layer, "Mul", [win, b.const(layer, "weights", w.reshape(kh * kw, cout))])
        acc = b.op(layer, "ReduceSum", [prod, b.const(layer, "axes", np.array([2], np.int64))], keepdims=0)
    else:
        # im2col: (N, P, KH*KW*Cin) @ (KH*KW*Cin, Cout); the (ky, kx, ci) order matches weights' layout
        cols = b.op(layer, "Reshape", [win, b.const(layer, "shape", np.array([0, oh * ow, kh * kw * cin], np.int64))])
        acc = b.op(layer, "MatMul", [cols, b.const(layer, "weights", w.reshape(kh * kw * cin, cout))])
    acc = b.op(layer, "Add", [acc, b.const(layer, "bias", node.bias.astype(np.float64))])
    return b.op(layer, "Reshape", [acc, b.const(layer, "shape", np.array([0, oh, ow, cout], np.int64))])


def _emit_dense(b, node: Dense, graph, inputs):
    acc = b.op(node.name, "MatMul", [inputs[0], b.const(node.name, "weights", node.weights.astype(np.float64))])
    return b.op(node.name, "Add", [acc, b.const(node.name, "bias", node.bias.astype(np.float64))])


def _emit_threshold(b, node: Threshold, graph, inputs):
    # out[.., c] = out_base + #{j : x[.., c] >= t[c, j]}: compare x (.., C, 1) with t (C | 1, J), count along J
    layer = node.name
    x = b.op(layer, "Unsqueeze", [inputs[0], b.const(layer, "axes", np.array([-1], np.int64))])
    reached = b.op(layer, "GreaterOrEqual", [x, b.const(layer, "thresholds", _clamped_thresholds(node, graph))])
    count = b.op(layer, "ReduceSum", [b.op(layer, "Cast", [reached], to=11),
                                      b.const(layer, "axes", np.array([-1], np.int64))], keepdims=0)
    return b.op(layer, "Add", [count, b.const(layer, "out_base", np.array(float(node.out_base)))])


def _clamped_thresholds(node: Threshold, graph) -> np.ndarray:
    """Thresholds as float64, clamped to [in.min, in.max + 1] of the input type: the same counts for every input
    of that type, and every value exactly representable."""
    t_in = graph.tensors[node.inputs[0]].dtype
    return np.clip(node.thresholds.astype(np.int64), t_in.min, t_in.max + 1).astype(np.float64)


def _emit_shift(b, node: Shift, graph, inputs):
    # x * 2**-shift is exact in binary floating point (an exponent change); ONNX Round rounds half to even, as
    # the IR's Shift does
    layer = node.name
    scaled = b.op(layer, "Mul", [inputs[0], b.const(layer, "scale", np.array(2.0 ** -node.shift))])
    rounded = b.op(layer, "Round", [scaled])
    low = b.op(layer, "Max", [rounded, b.const(layer, "lo", np.array(float(node.lo)))])
    return b.op(layer, "Min", [low, b.const(layer, "hi", np.array(float(node.hi)))])


def _emit_pool(reduce_op: str):
    def emit(b, node, graph, inputs):
        t_in = graph.tensors[node.inputs[0]]
        pad = t_in.dtype.min if isinstance(node, MaxPool) else 0     # the reference kernels' padding
        win, oh, ow = _windows(b, node.name, inputs[0], t_in.shape, node.kernel, node.stride, node.pads, pad)
        if reduce_op == "ReduceSum":
            red = b.op(node.name, "ReduceSum", [win, b.const(node.name, "axes", np.array([2], np.int64))], keepdims=0)
        else:
            red = b.op(node.name, "ReduceMax", [win], axes=[2], keepdims=0)     # axes an attribute until opset 18
        return b.op(node.name, "Reshape", [red, b.const(node.name, "shape",
                                                         np.array([0, oh, ow, t_in.shape[2]], np.int64))])
    return emit


def _emit_add(b, node: Add, graph, inputs):
    a = b.op(node.name, "Mul", [inputs[0], b.const(node.name, "mul_a", np.array(float(node.mul_a)))])
    c = b.op(node.name, "Mul", [inputs[1], b.const(node.name, "mul_b", np.array(float(node.mul_b)))])
    return b.op(node.name, "Add", [a, c])


def _emit_flatten(b, node: Flatten, graph, inputs):
    return b.op(node.name, "Reshape", [inputs[0], b.const(node.name, "shape", np.array([0, -1], np.int64))])


def _emit_concat(b, node: Concat, graph, inputs):
    return b.op(node.name, "Concat", list(inputs), axis=-1)


def _emit_pad(b, node: Pad, graph, inputs):
    top, left, bottom, right = node.pads
    pads = np.array([0, top, left, 0, 0, bottom, right, 0], np.int64)
    return b.op(node.name, "Pad", [inputs[0], b.const(node.name, "pads", pads),
                                  b.const(node.name, "value", np.array(float(node.value)))], mode="constant")


def _emit_upsample(b, node: Upsample, graph, inputs):
    # out[y, x] = in[y // sy, x // sx]: a Gather of rows, then of columns (indices are exact, no Resize rounding)
    h, w, _ = graph.tensors[node.inputs[0]].shape
    sy, sx = node.scale
    rows = b.op(node.name, "Gather", [inputs[0], b.const(node.name, "rows", np.arange(h * sy) // sy)], axis=1)
    return b.op(node.name, "Gather", [rows, b.const(node.name, "columns", np.arange(w * sx) // sx)], axis=2)


def _magnitude(graph, name: str) -> int:
    t = graph.tensors[name].dtype
    return max(abs(t.min), abs(t.max))


def _bound_mvu(node, graph) -> int:
    m = _magnitude(graph, node.inputs[0])
    if isinstance(node, Conv2D):
        m = max(m, abs(int(node.pad_value)))
    w = np.abs(node.weights.astype(np.int64)).reshape(-1, node.weights.shape[-1])
    # |bias| + sum |w| * max|x| bounds every partial sum of every output channel, in any order
    return int((np.abs(node.bias.astype(np.int64)) + w.sum(axis=0) * m).max())


def _bound_sumpool(node, graph) -> int:
    return _magnitude(graph, node.inputs[0]) * int(np.prod(node.kernel))


def _bound_add(node, graph) -> int:
    return (_magnitude(graph, node.inputs[0]) * abs(node.mul_a) + _magnitude(graph, node.inputs[1]) * abs(node.mul_b))


def _bound_input(node, graph) -> int:
    return max(_magnitude(graph, name) for name in node.inputs)


def _bound_threshold(node, graph) -> int:
    return max(_magnitude(graph, node.inputs[0]) + 1, abs(node.out_base) + node.thresholds.shape[1])


# IR class -> (emit, bound of its intermediates).  A new op adds one line here.
OPS = {
    Conv2D: (_emit_conv, _bound_mvu),
    Dense: (_emit_dense, _bound_mvu),
    Threshold: (_emit_threshold, _bound_threshold),
    Shift: (_emit_shift, _bound_input),        # the scaling is exact whatever the magnitude; clip bounds the rest
    MaxPool: (_emit_pool("ReduceMax"), _bound_input),
    SumPool: (_emit_pool("ReduceSum"), _bound_sumpool),
    Add: (_emit_add, _bound_add),
    Flatten: (_emit_flatten, _bound_input),
    Concat: (_emit_concat, _bound_input),
    Pad: (_emit_pad, lambda node, graph: max(_bound_input(node, graph), abs(node.value))),
    Upsample: (_emit_upsample, _bound_input),
}


def _check_bound(node, graph, bound: int):
    worst = max(bound, _magnitude(graph, node.output))
    if worst > EXACT_LIMIT:
        raise UnsupportedOp(f"layer {node.name!r} ({node.op}): intermediate values up to {worst} exceed 2**53, "
                            "beyond what float64 holds exactly; no exact ONNX graph for the gpu backend")


def build_onnx(graph: Graph, model_name: str | None = None):
    """The IR graph as an onnx.ModelProto (checked with onnx.checker)."""
    import onnx
    from onnx import TensorProto, helper

    b = _Builder()
    inp, out = graph.input_tensor, graph.output_tensor
    values = {graph.input: b.op("input", "Cast", ["x"], to=TensorProto.DOUBLE)}
    for node in graph.nodes:
        entry = OPS.get(type(node))
        if entry is None:
            raise UnsupportedOp(f"layer {node.name!r}: op {node.op} has no ONNX export (compiler/emit/onnx.py)")
        emit, bound = entry
        _check_bound(node, graph, bound(node, graph))
        values[node.output] = emit(b, node, graph, [values[name] for name in node.inputs])
    b.nodes.append(helper.make_node("Cast", [values[graph.output]], ["y"], name="output/cast", to=TensorProto.INT64))
    source = graph.meta.get("source_path") or model_name or graph.name
    g = helper.make_graph(
        b.nodes, comment_safe(model_name or graph.name),
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", *inp.shape])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", *out.shape])],
        initializer=b.initializers,
        doc_string=(f"Generated by convflow.compiler.emit.onnx from {comment_safe(str(source))}: the integer IR, "
                    f"exact in float64. Input x: int64 NHWC integers of type {inp.dtype}; output y: int64 "
                    f"integers of type {out.dtype} (real = scale * y + offset, see the artifact's manifest.json)."))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="convflow")
    model.ir_version = 8            # what onnx 1.17 and every ONNX Runtime since 1.10 read
    onnx.checker.check_model(model)
    return model


def write_onnx(graph: Graph, out_dir, model_name: str | None = None) -> Path:
    """Write ``out_dir/model.onnx``; returns its path."""
    import onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MODEL_FILE
    onnx.save(build_onnx(graph, model_name), str(path))
    return path
