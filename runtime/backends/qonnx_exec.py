"""The qonnx backend: the source model's own float simulation, node by node (qonnx's execute_node).

It runs the cleaned source model stored in the artifact (source.onnx) and returns, as the integers the
accelerator should produce, the value of the model's *integer tap*: the ONNX tensor the IR output corresponds
to, divided by its scale -- an integer only if the tap is exactly that integer times the scale in float32;
otherwise the quotient is returned as it is, so that any equality check against the reference fails.

The nodes the IR computes as exact integer arithmetic (convolutions, matrix products, sums of two quantised
tensors, average pools) are evaluated exactly (qonnx_exact.py says why); quantisers, BatchNorm, activations,
maxima and reshapes run as the model defines them.

Exports fix the batch dimension at 1; the model is re-batched once per batch size (input dimension and Reshape
targets), so a batch runs in one pass instead of one pass per sample.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, affine_of_chain
from convflow.hw.errors import ToolMissing

from .. import layout
from . import qonnx_exact
from .base import Backend


class QonnxBackend(Backend):
    name = "qonnx"
    integer_exact = False     # returns the tap as floats in integer units; exact values still compare with ==

    def __init__(self, artifact, **options):
        super().__init__(artifact, **options)
        try:
            from qonnx.core.modelwrapper import ModelWrapper
        except ImportError as exc:   # pragma: no cover - qonnx is a core dependency
            raise ToolMissing(f"the qonnx backend needs the qonnx package ({exc})") from None
        self.model = ModelWrapper(str(artifact.source_path("source_onnx")))
        self.tap = self.graph.host.output.tap
        self.quantizer = self.graph.host.input.quantizer
        self._batched = {}

    # -- inputs: integers -> the float values the source model quantises to exactly those integers
    def float_inputs(self, ints: np.ndarray) -> np.ndarray:
        """Float inputs (source layout) that the model's own pre-processing and input quantiser map onto ``ints``
        (IR layout): the inverse of the pre-processing affine, then, where float rounding lands one off, a
        bisection over the float32 numbers between the neighbours."""
        ints = layout.to_source(self.graph, np.asarray(ints, np.int64))
        q = self.quantizer.quantizer
        real = ints.astype(np.float64) * np.asarray(q.scale, np.float64)
        a, b = (np.asarray(v, np.float64) for v in affine_of_chain(self.quantizer.ops))
        x = ((real - b) / a).astype(F32)
        wrong = self.quantizer(x) != ints
        if np.any(wrong):
            increasing = np.broadcast_to(a > 0, x.shape)            # per element: a factor may be negative
            x[wrong] = search_float_inputs(self.quantizer, ints, x, wrong, increasing)
            if np.any(self.quantizer(x) != ints):
                raise ValueError("cannot find float inputs that the model's input quantiser maps onto these "
                                 "integers")
        return x

    def batched_model(self, n: int):
        if n not in self._batched:
            self._batched[n] = rebatch(self.model, n)
        return self._batched[n]

    def run(self, x: np.ndarray) -> np.ndarray:
        from qonnx.core.onnx_exec import execute_node

        x_src = self.float_inputs(np.asarray(x))
        n = x_src.shape[0]
        model = self.batched_model(n)
        inp = model.graph.input[0].name
        context = model.make_empty_exec_context()
        context[inp] = x_src.reshape(tuple(model.get_tensor_shape(inp))).astype(F32)
        # the standard ops' opset (exporters list custom domains first too)
        opset = next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")),
                     model.model.opset_import[0].version)
        exact = self.graph.host.exact_ops
        for node in model.graph.node:         # topologically sorted (qonnx's clean-up)
            if node.name in exact:
                context.update(qonnx_exact.evaluate(node, context, exact[node.name]))
            else:
                execute_node(node, context, model.graph, opset_version=opset)
        tap = np.asarray(context[self.tap.tensor], np.float64)
        self.stats = {"source_output": np.asarray(context[self.graph.host.output.source_output])}
        return tap_to_ir(tap, self.tap, self.graph)


def _f32_order(x: np.ndarray) -> np.ndarray:
    """float32 -> int64 keys in the same order (negative floats have their bits reversed)."""
    bits = np.asarray(x, F32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _f32_from_order(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, np.int64)
    bits = np.where(keys < 0, (-keys) | -0x80000000, keys).astype(np.int32)
    return bits.view(F32)


def search_float_inputs(quantizer, ints, x, where, increasing, span: int = 1 << 12) -> np.ndarray:
    """For the elements ``where``: the smallest float32 within ``span`` float steps of ``x`` whose quantised
    value reaches the wanted integer (the quantiser of an affine pre-processing is monotonic; ``increasing``, a
    bool or one per element of x, says which way).  The quantiser runs on whole batches shaped as x, so that
    pre-processing constants per channel or per element meet the elements they belong to."""
    target = ints[where]
    up = np.broadcast_to(np.asarray(increasing, bool), x.shape)[where]
    centre = _f32_order(x[where])
    lo, hi = centre - span, centre + span
    trial = np.array(x, F32)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        trial[where] = _f32_from_order(mid)
        got = quantizer(trial)[where]
        reached = np.where(up, got >= target, got <= target)
        hi = np.where(reached, mid, hi)
        lo = np.where(reached, lo, mid + 1)
    return _f32_from_order(lo)


def tap_to_ir(tap: np.ndarray, info, graph) -> np.ndarray:
    """The tap tensor (ONNX layout, real values) -> IR layout, in units of the IR output's integer scale: the
    integer where the tap is exactly (in float32) that integer times the scale, the plain quotient otherwise."""
    out_shape = tuple(graph.output_tensor.shape)
    n = tap.shape[0]
    if len(info.axes) in (3, 4):
        tap = np.transpose(tap, np.argsort(info.axes))       # back to (N, H, W, C), or a signal's (N, W, C)
    tap = tap.reshape(n, -1)
    if info.flat_perm is not None:
        tap = tap[:, np.asarray(info.flat_perm)]
    tap = tap.reshape((n,) + out_shape)
    scale = np.asarray(info.scale, np.float64)
    ints = np.rint(tap / scale)
    exact = (ints * scale).astype(F32) == tap.astype(F32)
    return np.where(exact, ints, tap / scale)


def rebatch(model, n: int):
    """A copy of ``model`` with batch size n (exports fix it at 1)."""
    from qonnx.transformation.infer_shapes import InferShapes
    import onnx

    if n == 1:
        return model
    m = model.transform(InferShapes())
    m = type(model)(onnx.ModelProto.FromString(m.model.SerializeToString()))
    for vi in list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == 1:
            dims[0].dim_value = n
    batched = {m.graph.input[0].name}        # tensors that carry the batch (not constants reshaped, e.g. biases)
    for node in m.graph.node:
        if any(name in batched for name in node.input):
            batched.update(node.output)
    for node in m.graph.node:
        if node.op_type == "Reshape" and node.input[0] in batched:
            target = m.get_initializer(node.input[1])
            if target is not None and target.size and target[0] == 1:
                target = target.copy()
                target[0] = n
                m.set_initializer(node.input[1], target)
    del m.graph.value_info[:]
    return m.transform(InferShapes())


BACKEND = QonnxBackend
