"""The shared state of one lowering: what each ONNX tensor is (values.py), the IR tensors and nodes made so far.

Handlers (frontend/ops/*.py) read ONNX tensors through ``get`` / ``const`` / ``as_int`` and write with
``value_out``, ``new_tensor`` and ``emit``.  Nodes are only ever appended: a rewrite that needs to look ahead (moving a
bias into an accumulator, negating channels, thresholds) is a compile pass over the finished graph (passes/).
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from convflow.compiler.ir.floatops import F32, FloatOp
from convflow.compiler.ir.graph import IntType, Node, Tensor
from convflow.hw.errors import ModelError, UnsupportedOp

from .host_interface import implicit_input_quantizer
from .values import Const, HostFloat, IntVal, Pending

# A model input that has no quantiser of its own is fed as this fixed-point type (overridable per compile).
DEFAULT_FLOAT_INPUT = {"bits": 16, "signed": True, "scale": 2.0 ** -8}


def attributes(node) -> dict:
    """An ONNX node's attributes as Python values."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class LoweringContext:
    def __init__(self, model, name: str, float_input=None):
        self.model = model
        self.graph_proto = model.graph
        self.name = name
        self.float_input = dict(DEFAULT_FLOAT_INPUT, **(float_input or {}))
        self.values: dict = {}            # ONNX tensor name -> Const | QConst | HostFloat | IntVal | Pending
        self.tensors: dict = {}           # IR tensor name -> Tensor
        self.nodes: list = []             # IR nodes, in topological order
        self.notes: list = []             # what the user should know about this lowering (manifest "notes")
        self.host_input = None            # ir.host.HostInput, once the input quantiser is met
        self.source_input = None          # the ONNX graph input's name
        self.input_name = None            # the IR input tensor's name
        self.output_name = None           # set when a final softmax is left to the host: the tensor before it
        self.softmax = None               # that softmax's node name
        self.exact_ops: dict = {}         # ONNX nodes computed as exact integer ops, with their scales (ir/host.py)
        self.consumers: dict = {}         # ONNX tensor -> the ONNX nodes reading it
        for node in self.graph_proto.node:
            for inp in node.input:
                self.consumers.setdefault(inp, []).append(node)

    # ------------------------------------------------------------------ ONNX side
    def shape(self, name: str) -> tuple:
        shape = self.model.get_tensor_shape(name)
        if shape is None:
            raise ModelError(f"tensor {name!r} has no inferred shape")
        return tuple(int(d) for d in shape)

    def get(self, name: str, node):
        if name == "":
            return None
        if name not in self.values:
            raise ModelError(f"node {node.name!r} ({node.op_type}) reads {name!r}, which nothing produced")
        return self.values[name]

    def const(self, name: str, node, what: str) -> np.ndarray:
        value = self.get(name, node)
        if not isinstance(value, Const):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): {what} must be a constant")
        return value.value

    def value_out(self, node, value) -> None:
        self.values[node.output[0]] = value

    def as_int(self, node, index: int = 0) -> IntVal:
        """Input ``index`` of ``node`` as an integer IR tensor (quantising the raw model input if need be)."""
        value = self.get(node.input[index], node)
        if isinstance(value, HostFloat):
            return implicit_input_quantizer(self, node, value, node.input[index])
        if isinstance(value, Pending):
            if not value.ops:
                return value.view
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}) reads float values "
                                f"({', '.join(value.names)} after an integer layer) that no quantiser "
                                "re-quantised; insert a Quant / QActivation before it")
        if not isinstance(value, IntVal):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): input {node.input[index]!r} is not a "
                                "quantised activation")
        return value

    # ------------------------------------------------------------------ IR side
    def new_tensor(self, hint: str, shape, dtype: IntType, scale, bipolar: bool = False) -> str:
        name = hint
        i = 1
        while name in self.tensors:
            name = f"{hint}_{i}"
            i += 1
        self.tensors[name] = Tensor(name, tuple(int(s) for s in shape), dtype, np.asarray(scale, np.float64),
                                    bipolar=bipolar)
        return name

    def ir(self, value: IntVal) -> Tensor:
        return self.tensors[value.ir]

    def pending(self, value) -> Pending:
        """``value`` with float ops to follow.  A bipolar tensor holds bits b for the values 2b - 1: its float path
        starts by decoding them (x 2, - scale: exact in float32 for b in {0, 1})."""
        if isinstance(value, Pending):
            return value
        t = self.ir(value)
        if not t.bipolar:
            return Pending(value)
        scale = np.asarray(t.scale, F32).reshape(-1) if np.asarray(t.scale).size > 1 else np.asarray(t.scale, F32)
        return Pending(value, [FloatOp("mul", np.asarray(2, F32)), FloatOp("sub", scale)],
                       ["(bipolar decode)"], [None, None])

    def refuse_bipolar(self, node, *values) -> None:
        """Ops with no meaning on the bits of a bipolar tensor name themselves here."""
        for v in values:
            if isinstance(v, IntVal) and self.ir(v).bipolar:
                raise UnsupportedOp(f"node {node.name!r} ({node.op_type}) reads a bipolar (binarised) tensor; "
                                    "convflow takes binarised activations into Conv / MatMul / Gemm, MaxPool, "
                                    "reshapes and quantisers")

    def emit(self, node: Node) -> None:
        self.nodes.append(node)

    def record_exact(self, onnx_node, in_scales: list, out_scale, w_scale=None) -> None:
        """Note that ``onnx_node`` is an exact integer op of the IR, with the scales of its inputs (the grids their
        values lie on), its weights' and its output's, for the qonnx backend."""
        def plain(value):
            return np.asarray(value, np.float64).tolist()
        entry = {"op": onnx_node.op_type, "in_scales": [plain(s) for s in in_scales], "out_scale": plain(out_scale)}
        if w_scale is not None:
            entry["w_scale"] = plain(np.asarray(w_scale, np.float32))
        self.exact_ops[onnx_node.name] = entry

    # ------------------------------------------------------------------ constants against IR channels
    def per_channel(self, const: np.ndarray, value: IntVal, node) -> np.ndarray:
        """An ONNX constant broadcast against ``value`` -> one float32 per IR channel (or a scalar)."""
        c = np.asarray(const, F32)
        if c.size == 1:
            return c.reshape(())
        ir_t = self.ir(value)
        onnx_rank = len(value.axes)
        full = c.reshape((1,) * (onnx_rank - c.ndim) + c.shape) if c.ndim < onnx_rank else c
        axis = value.channel_axis
        others = [d for i, d in enumerate(full.shape) if i != axis]
        if any(d != 1 for d in others) or full.shape[axis] not in (1, ir_t.channels if value.flat_perm is None
                                                                     else len(value.flat_perm)):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): constant of shape {c.shape} is not "
                                f"per-channel for a tensor of IR shape {ir_t.shape}")
        vec = full.reshape(-1)
        if value.flat_perm is not None:
            vec = vec[value.flat_perm]
        return vec.astype(F32)

    @staticmethod
    def along_axis1(vec, value: IntVal) -> np.ndarray:
        """A per-channel vector of an op whose channels are ONNX axis 1 (Conv bias, BatchNorm), shaped to
        broadcast against ``value``."""
        shape = [1] * len(value.axes)
        shape[1] = -1
        return np.asarray(vec, F32).reshape(shape)
