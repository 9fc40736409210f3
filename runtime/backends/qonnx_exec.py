"""The qonnx backend: the source model's own float simulation (qonnx.core.onnx_exec.execute_onnx).

It runs the cleaned source model stored in the artifact (source.onnx) and returns, as the integers the
accelerator should produce, the value of the model's *integer tap*: the ONNX tensor the IR output corresponds
to, divided by its scale.  If that quotient is not an integer the float model and the IR disagree, and the
result holds non-integers so that any equality check against the reference fails.

Exports fix the batch dimension at 1; the model is re-batched once per batch size (input dimension and Reshape
targets), so a batch runs in one pass instead of one pass per sample.
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, affine_of_chain
from convflow.hw.errors import ToolMissing

from .. import layout
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
        q = self.quantizer.quantizer
        real = ints.astype(np.float64) * np.asarray(q.scale, np.float64)
        a, b = affine_of_chain(self.quantizer.ops, 1)
        x = ((real - b[0]) / a[0]).astype(F32)
        back = self.quantizer(x)
        if not np.array_equal(back, ints):
            raise ValueError("cannot find float inputs that the model's input quantiser maps onto these integers")
        return layout.to_source(self.graph, x)

    def batched_model(self, n: int):
        if n not in self._batched:
            self._batched[n] = rebatch(self.model, n)
        return self._batched[n]

    def run(self, x: np.ndarray) -> np.ndarray:
        from qonnx.core.onnx_exec import execute_onnx

        x_src = self.float_inputs(np.asarray(x))
        n = x_src.shape[0]
        model = self.batched_model(n)
        inp = model.graph.input[0].name
        shape = tuple(model.get_tensor_shape(inp))
        context = execute_onnx(model, {inp: x_src.reshape(shape).astype(F32)}, return_full_exec_context=True)
        tap = np.asarray(context[self.tap.tensor], np.float64)
        self.stats = {"source_output": np.asarray(context[self.graph.host.output.source_output])}
        return tap_to_ir(tap, self.tap, self.graph)


def tap_to_ir(tap: np.ndarray, info, graph) -> np.ndarray:
    """The tap tensor (ONNX layout, real values) -> IR layout, in units of the IR output's integer scale."""
    out_shape = tuple(graph.output_tensor.shape)
    n = tap.shape[0]
    if len(info.axes) == 4:
        tap = np.transpose(tap, np.argsort(info.axes))       # back to (N, H, W, C)
    tap = tap.reshape(n, -1)
    if info.flat_perm is not None:
        tap = tap[:, np.asarray(info.flat_perm)]
    tap = tap.reshape((n,) + out_shape)
    return tap / np.asarray(info.scale, np.float64)


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
    for node in m.graph.node:
        if node.op_type == "Reshape":
            target = m.get_initializer(node.input[1])
            if target is not None and target.size and target[0] == 1:
                target = target.copy()
                target[0] = n
                m.set_initializer(node.input[1], target)
    del m.graph.value_info[:]
    return m.transform(InferShapes())


BACKEND = QonnxBackend
