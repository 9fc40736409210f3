"""Lower a cleaned QONNX graph into the integer IR.

One walk over the ONNX nodes in topological order, keeping for each ONNX tensor what it is (values.py).  Each
supported op has one handler below; the table ``HANDLERS`` is the list of what convflow takes.  Anything else
stops with an UnsupportedOp that names the node and its op type.

The numeric contract: every IR tensor is an integer tensor; float ops are either exact re-scalings (absorbed into
scales and integer biases), integer thresholds derived from the exact float semantics, or the host-side input
quantiser / output dequantisation.
"""
from __future__ import annotations

import itertools

import numpy as np
from onnx import helper, numpy_helper

from convflow.compiler.ir.floatops import F32, FloatOp, InputQuantizer, Quantizer, affine_of_chain, apply_chain
from convflow.compiler.ir.graph import (Add, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Shift, SumPool,
                                        Tensor, Threshold)
from convflow.compiler.passes.absorb_scales import absorb_leading_ops
from convflow.compiler.passes.fold_batchnorm import fold_batchnorm
from convflow.compiler.passes.infer_bitwidths import mvu_node_range
from convflow.compiler.passes.requantize import as_shift, derive_thresholds
from convflow.hw.errors import ModelError, UnsupportedOp

from .values import Const, HostFloat, IntVal, Pending, QConst

NHWC_OF_NCHW = (0, 3, 1, 2)      # onnx NCHW tensor = ir NHWC tensor .transpose(0, 3, 1, 2)
IDENTITY4 = (0, 1, 2, 3)

# A model input that has no quantiser of its own is fed as this fixed-point type (overridable per compile).
DEFAULT_FLOAT_INPUT = {"bits": 16, "signed": True, "scale": 2.0 ** -8}


def reshape_as_perm(in_shape, out_shape):
    """The transpose permutation a 4-D Reshape is equivalent to (it only moves size-1 axes), or None.
    Keras exports turn NHWC into NCHW with a Reshape when there is one channel."""
    if len(in_shape) != 4 or len(out_shape) != 4:
        return None
    for perm in itertools.permutations(range(4)):
        if perm[0] != 0 or tuple(in_shape[p] for p in perm) != tuple(out_shape):
            continue
        moved = [p for p in perm if in_shape[p] != 1]
        if moved == sorted(moved):           # data order unchanged: the reshape is this transpose
            return perm
    return None


class Lowering:
    def __init__(self, model, name: str, float_input=None):
        self.model = model
        self.graph_proto = model.graph
        self.values: dict = {}
        self.tensors: dict = {}
        self.nodes: list = []
        self.meta: dict = {"notes": []}
        self.input_name = None
        self.float_input = dict(DEFAULT_FLOAT_INPUT, **(float_input or {}))
        self.name = name
        self.output_name = None          # set when a final softmax is left to the host
        self._consumers = {}
        for node in self.graph_proto.node:
            for inp in node.input:
                self._consumers.setdefault(inp, []).append(node)

    # ------------------------------------------------------------------ helpers
    def shape(self, name: str) -> tuple:
        shape = self.model.get_tensor_shape(name)
        if shape is None:
            raise ModelError(f"tensor {name!r} has no inferred shape")
        return tuple(int(d) for d in shape)

    def new_tensor(self, hint: str, shape, dtype: IntType, scale) -> str:
        name = hint
        i = 1
        while name in self.tensors:
            name = f"{hint}_{i}"
            i += 1
        self.tensors[name] = Tensor(name, tuple(int(s) for s in shape), dtype, np.asarray(scale, np.float64))
        return name

    def ir(self, value: IntVal) -> Tensor:
        return self.tensors[value.ir]

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

    def quantizer(self, node) -> Quantizer:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        decode = (lambda v: v.decode() if isinstance(v, bytes) else v)
        if node.op_type == "BipolarQuant":
            return Quantizer("bipolar", np.asarray(self.const(node.input[1], node, "scale"), F32), bits=1,
                             signed=True, node=node.name)
        if node.op_type == "Trunc":
            zp = self.const(node.input[2], node, "zero point")
            return Quantizer("trunc", np.asarray(self.const(node.input[1], node, "scale"), F32), float(zp),
                             bits=int(self.const(node.input[4], node, "output bit width")),
                             signed=True, rounding=decode(attrs.get("rounding_mode", "FLOOR")),
                             in_bits=int(self.const(node.input[3], node, "input bit width")), node=node.name)
        scale = np.asarray(self.const(node.input[1], node, "scale"), F32)
        zeropt = np.asarray(self.const(node.input[2], node, "zero point"), F32)
        bits = self.const(node.input[3], node, "bit width")
        if zeropt.size != 1 or float(zeropt) != round(float(zeropt)):
            raise UnsupportedOp(f"node {node.name!r} (Quant): zero point must be one integer (got {zeropt})")
        if float(bits) != int(bits) or not 1 <= int(bits) <= 32:
            raise UnsupportedOp(f"node {node.name!r} (Quant): bit width {bits} is not an integer in 1..32")
        return Quantizer("quant", scale, float(zeropt), int(bits), bool(attrs.get("signed", 1)),
                         bool(attrs.get("narrow", 0)), decode(attrs.get("rounding_mode", "ROUND")), node=node.name)

    # ------------------------------------------------------------------ walk
    def run(self) -> Graph:
        for init in self.graph_proto.initializer:
            self.values[init.name] = Const(numpy_helper.to_array(init))
        inp = self.graph_proto.input[0]
        shape = self.shape(inp.name)
        if shape[0] != 1 and shape[0] > 0:
            self.meta["notes"].append(f"model batch dimension {shape[0]} ignored")
        self.values[inp.name] = HostFloat([], shape, shape)
        self.source_input = inp.name
        for node in self.graph_proto.node:
            handler = HANDLERS.get(node.op_type)
            if handler is None:
                raise UnsupportedOp(f"node {node.name!r}: op type {node.op_type} is not supported "
                                    f"(supported: {', '.join(sorted(HANDLERS))})")
            handler(self, node)
        return self.finish(self.output_name or self.graph_proto.output[0].name)

    def finish(self, out_name: str) -> Graph:
        value = self.values.get(out_name)
        if isinstance(value, Pending):
            if not all(op.is_affine for op in value.ops):
                raise UnsupportedOp(f"the model ends in non-linear float ops ({', '.join(value.names)}) with no "
                                    "quantiser after them")
            value = self.absorb(value)
        if isinstance(value, Pending) and not value.ops:
            value = value.base
        tap_scale = None
        if isinstance(value, Pending):
            base = value.base
            t = self.ir(base)
            tap_scale = np.asarray(t.scale, np.float64).tolist()
            a, b = affine_of_chain(value.ops, t.channels)
            t.offset = b
            t.scale = np.broadcast_to(t.scale, (t.channels,)) * a
            self.meta["notes"].append(f"the float ops after the last integer layer ({', '.join(value.names)}) "
                                      "stay on the host as dequantisation")
            value = base
        if not isinstance(value, IntVal):
            raise ModelError(f"model output {out_name!r} does not depend on a quantised computation")
        if self.input_name is None:
            raise ModelError("model input is never quantised")
        self.meta["source_output"] = out_name
        if tap_scale is None:
            tap_scale = np.asarray(self.ir(value).scale, np.float64).tolist()
        self.meta["source_int_tap"] = {"tensor": value.onnx_name, "axes": list(value.axes), "scale": tap_scale,
                                       "flat_perm": None if value.flat_perm is None else value.flat_perm.tolist()}
        graph = Graph(self.name, self.tensors, self.nodes, self.input_name, value.ir, self.meta)
        return graph

    def value_out(self, node, value):
        self.values[node.output[0]] = value

    # ------------------------------------------------------------------ input quantisation
    def quantize_host_input(self, node, host: HostFloat, q: Quantizer) -> IntVal:
        if self.input_name is not None:
            raise UnsupportedOp(f"node {node.name!r}: a second quantiser on the model input")
        if np.asarray(q.scale).size != 1:
            raise UnsupportedOp(f"node {node.name!r}: the input quantiser must have one scale (per tensor)")
        if q.bipolar:
            raise UnsupportedOp(f"node {node.name!r}: a bipolar input quantiser is not supported yet")
        onnx_shape = host.shape
        axes = self.input_axes(node.output[0], onnx_shape)
        ir_shape = tuple(onnx_shape[a] for a in np.argsort(axes))[1:] if len(onnx_shape) == 4 else onnx_shape[1:]
        dtype = IntType.for_range(q.level_min, q.level_max)
        name = self.new_tensor("input", ir_shape, dtype, float(np.asarray(q.scale)))
        self.input_name = name
        self.meta["input_quantizer"] = InputQuantizer(host.ops, q).to_dict()
        self.meta["source_input_shape"] = list(host.source_shape[1:])
        # source sample -> IR sample: reshape to the quantiser's ONNX shape, then transpose to NHWC
        self.meta["source_to_ir"] = {"onnx_shape": list(onnx_shape[1:]),
                                     "perm": [int(a) - 1 for a in np.argsort(axes)[1:]] if len(onnx_shape) == 4
                                     else None}
        return IntVal(name, axes, node.output[0])

    def input_axes(self, tensor: str, shape: tuple) -> tuple:
        """ONNX 4-D tensors are NCHW unless the graph transposes them NHWC->NCHW before a layer (as Keras
        exports do); then the data is NHWC already."""
        if len(shape) != 4:
            return tuple(range(len(shape)))
        seen = tensor
        for _ in range(16):
            consumers = self._consumers.get(seen, [])
            if len(consumers) != 1:
                break
            nxt = consumers[0]
            if nxt.op_type == "Reshape":
                perm = reshape_as_perm(self.shape(nxt.input[0]), self.shape(nxt.output[0]))
                if perm == (0, 3, 1, 2):
                    return IDENTITY4
                break
            if nxt.op_type == "Transpose":
                perm = tuple(helper.get_attribute_value(a) for a in nxt.attribute if a.name == "perm")[0]
                if tuple(perm) == (0, 3, 1, 2):
                    return IDENTITY4
                break
            if nxt.op_type not in ("Quant", "Mul", "Add", "Sub", "Div", "Relu", "Identity"):
                break
            seen = nxt.output[0]
        return NHWC_OF_NCHW

    def implicit_input_quantizer(self, node, host: HostFloat) -> IntVal:
        """A layer reads the raw float input: feed it as the fixed-point type of ``float_input``."""
        fi = self.float_input
        q = Quantizer("quant", np.asarray(fi["scale"], F32), 0.0, int(fi["bits"]), bool(fi["signed"]), False,
                      "ROUND", node="<implicit input quantiser>")
        name = f"{self.source_input}"
        value = self.quantize_host_input(node, host, q)
        value.onnx_name = name   # the float input itself carries the (on-grid) values
        self.meta["notes"].append(
            f"the model input {name!r} has no quantiser: convflow feeds it as {IntType(q.bits, q.signed)} with "
            f"scale 2^{int(np.log2(fi['scale']))} (inputs off that grid are rounded half to even; "
            "change with --input-bits/--input-frac-bits)")
        self.meta["implicit_input_quantizer"] = True
        return value

    def as_int(self, node, index: int = 0) -> IntVal:
        value = self.get(node.input[index], node)
        if isinstance(value, HostFloat):
            return self.implicit_input_quantizer(node, value)
        if isinstance(value, Pending):
            if not value.ops:
                return value.base
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}) reads float values "
                                f"({', '.join(value.names)} after an integer layer) that no quantiser "
                                "re-quantised; insert a Quant / QActivation before it")
        if not isinstance(value, IntVal):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): input {node.input[index]!r} is not a "
                                "quantised activation")
        return value

    # ------------------------------------------------------------------ requantisation
    def absorb(self, pending: Pending) -> Pending:
        """Move exact leading ops of the chain into the producing MVU's bias / the accumulator scale."""
        producer = self.producer_node(pending.base.ir)
        t = self.ir(pending.base)
        if producer is None or not producer.has_mvu:
            return pending
        if pending.base.flat_perm is not None and pending.base.axes != (0, 1):
            return pending
        lo, hi = self.mvu_acc_range(producer)
        bias_lo, bias_hi = lo - producer.bias, hi - producer.bias
        scale = np.broadcast_to(t.scale, (t.channels,))
        ops, new_scale, new_bias = absorb_leading_ops(pending.ops, scale, producer.bias, bias_lo, bias_hi)
        if len(ops) == len(pending.ops):
            return pending
        producer.bias = new_bias
        t.scale = new_scale if not np.all(new_scale == new_scale[0]) else np.asarray(new_scale[0])
        absorbed = len(pending.ops) - len(ops)
        # the ONNX tensor that now equals the IR tensor (for the qonnx backend's integer tap)
        tap = pending.taps[absorbed - 1] or pending.base.onnx_name
        base = IntVal(pending.base.ir, pending.base.axes, tap, pending.base.flat_perm)
        return pending.without_leading(absorbed, base)

    def producer_node(self, ir_name: str):
        for n in self.nodes:
            if n.output == ir_name:
                return n
        return None

    def mvu_acc_range(self, node):
        t_in = self.tensors[node.inputs[0]].dtype
        return mvu_node_range(node, t_in.min, t_in.max)

    def value_range(self, value: IntVal):
        """Per-channel integer range of an IR tensor (exact for MVU outputs, the type's range otherwise)."""
        t = self.ir(value)
        producer = self.producer_node(value.ir)
        if producer is not None and producer.has_mvu:
            return self.mvu_acc_range(producer)
        c = t.channels
        return np.full(c, t.dtype.min, np.int64), np.full(c, t.dtype.max, np.int64)

    def requantize(self, node, value, q: Quantizer) -> IntVal:
        pending = value if isinstance(value, Pending) else Pending(value)
        pending = self.absorb(pending)
        base = pending.base
        t = self.ir(base)
        if q.bipolar:
            raise UnsupportedOp(f"node {node.name!r}: bipolar (1-bit) activations are not supported yet")
        channels = t.channels
        scale = np.broadcast_to(np.asarray(t.scale, np.float64), (channels,))
        q_scale = np.asarray(q.scale, F32)
        if q_scale.size > 1:
            q_scale = self.per_channel(q.scale, base, node)
            q = Quantizer(**{**q.__dict__, "scale": q_scale})
        ops = pending.ops
        lo, hi = self.value_range(base)
        producer = self.producer_node(base.ir)

        def level_fn_signed(sign):
            def level_fn(acc):
                real = (acc * sign[None, :]).astype(np.float64) * scale[None, :]
                return q.levels(apply_chain(ops, real.astype(F32)))
            return level_fn

        ones = np.ones(channels, np.int64)
        probe = level_fn_signed(ones)(np.stack([lo, hi]))
        flip = probe[1] < probe[0]
        if np.any(flip):
            if producer is None or not producer.has_mvu or len(self.consumers_of(base.ir)) > 0:
                raise UnsupportedOp(f"node {node.name!r}: the float ops before it decrease with the integer "
                                    "input, and there is no layer of ours to negate")
            producer.weights = producer.weights.copy()
            producer.weights[..., flip] *= -1
            producer.bias = np.where(flip, -producer.bias, producer.bias)
            lo, hi = self.value_range(base)
        sign = np.where(flip, -1, 1).astype(np.int64)
        where = f"node {node.name!r} ({node.op_type} after {', '.join(pending.names) or 'the layer'})"
        thresholds = derive_thresholds(level_fn_signed(sign), lo, hi, q.level_min, q.level_max, where)
        out_type = IntType.for_range(q.level_min, q.level_max)
        out_scale = np.asarray(q_scale, np.float64) if np.asarray(q_scale).size > 1 else float(q_scale)
        if np.any(flip):
            # the IR tensor now holds the negated accumulator for the flipped channels
            t.scale = scale * sign
        out_name = self.new_tensor(node.output[0], t.shape, out_type, out_scale)
        shift = as_shift(thresholds, lo, hi, q.level_min, q.level_max)
        if shift is not None:
            self.nodes.append(Shift(node.name, [base.ir], out_name, shift=shift, lo=q.level_min, hi=q.level_max))
        else:
            rows = thresholds[:1] if np.all(thresholds == thresholds[:1]) else thresholds
            self.nodes.append(Threshold(node.name, [base.ir], out_name, thresholds=rows, out_base=q.level_min))
        return IntVal(out_name, base.axes, node.output[0], base.flat_perm)

    def consumers_of(self, ir_name: str):
        return [n for n in self.nodes if ir_name in n.inputs]

    # ------------------------------------------------------------------ op handlers
    def on_quant(self, node):
        value = self.get(node.input[0], node)
        q = self.quantizer(node)
        if isinstance(value, Const):
            ints = q.levels(value.value)
            self.value_out(node, QConst(ints, np.asarray(q.scale, F32), node.name))
        elif isinstance(value, HostFloat):
            self.value_out(node, self.quantize_host_input(node, value, q))
        elif isinstance(value, (IntVal, Pending)):
            self.value_out(node, self.requantize(node, value, q))
        else:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): cannot quantise {type(value).__name__}")

    def weights(self, node, index: int) -> QConst:
        value = self.get(node.input[index], node)
        if isinstance(value, Const):
            w = value.value
            if np.all(w == np.round(w)) and np.abs(w).max() < 2 ** 16:
                return QConst(w.astype(np.int64), np.asarray(1.0, F32), node.name)   # integer-valued weights
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): weights {node.input[index]!r} are not "
                                "quantised (add a Quant node / QKeras quantizer)")
        if not isinstance(value, QConst):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): weights {node.input[index]!r} must be a "
                                "(quantised) constant")
        return value

    def mvu_scale(self, node, x: IntVal, w_ints: np.ndarray, w_scale: np.ndarray, out_axis: int) -> np.ndarray:
        """The accumulator's scale: input scale x weight scale, per tensor or per output channel."""
        s_in = np.asarray(self.ir(x).scale, np.float64)
        if s_in.size > 1:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): input has per-channel scales; a layer "
                                "needs one input scale")
        ws = np.asarray(w_scale, np.float64)
        if ws.size == 1:
            return s_in * ws.reshape(())
        # broadcast as the Quant node did, then demand one value per output channel
        full = np.moveaxis(np.broadcast_to(ws, w_ints.shape), out_axis, 0).reshape(w_ints.shape[out_axis], -1)
        if not np.all(full == full[:, :1]):
            raise UnsupportedOp(f"node {node.name!r}: weight scale of shape {ws.shape} is neither per tensor nor "
                                "per output channel")
        return s_in * full[:, 0]

    def on_matmul(self, node):
        x = self.as_int(node, 0)
        w = self.weights(node, 1)
        if w.ints.ndim != 2:
            raise UnsupportedOp(f"node {node.name!r} (MatMul): weights must be 2-D")
        self.dense(node, x, w.ints, w.scale, out_axis=1)

    def on_gemm(self, node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            raise UnsupportedOp(f"node {node.name!r} (Gemm): only transB, alpha = beta = 1 are supported")
        x = self.as_int(node, 0)
        w = self.weights(node, 1)
        ints, scale, axis = w.ints, w.scale, 1
        if attrs.get("transB", 0):
            ints = ints.T
            scale = np.asarray(scale).T if np.ndim(scale) == 2 else scale
        out = self.dense(node, x, ints, scale, out_axis=axis)
        if len(node.input) > 2 and node.input[2]:
            self.add_bias(node, out, node.input[2])

    def dense(self, node, x: IntVal, w_ints: np.ndarray, w_scale, out_axis: int):
        t = self.ir(x)
        if len(t.shape) != 1:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): input of IR shape {t.shape} must be "
                                "flattened first")
        weights = w_ints if x.flat_perm is None else w_ints[x.flat_perm]
        if weights.shape[0] != t.shape[0]:
            raise ModelError(f"node {node.name!r}: weights have {weights.shape[0]} rows, input has {t.shape[0]}")
        cout = weights.shape[1]
        scale = self.mvu_scale(node, x, w_ints, w_scale, out_axis)
        acc_type = IntType(32, True)            # refined by infer_bitwidths
        out = self.new_tensor(node.output[0], (cout,), acc_type, scale)
        self.nodes.append(Dense(node.name, [x.ir], out, weights=weights.astype(np.int64),
                                bias=np.zeros(cout, np.int64)))
        value = IntVal(out, (0, 1), node.output[0])
        self.value_out(node, value)
        return value

    def add_bias(self, node, value: IntVal, const_name: str):
        bias = self.get(const_name, node)
        const = bias.value if isinstance(bias, Const) else (bias.ints * bias.scale).astype(F32) \
            if isinstance(bias, QConst) else None
        if const is None:
            raise UnsupportedOp(f"node {node.name!r}: bias must be a constant")
        if node.op_type == "Conv":      # a Conv bias is one value per output channel (axis 1), not broadcast
            const = self.along_axis1(const, value)
        self.value_out(node, Pending(value).then([FloatOp("add", self.per_channel(const, value, node))], node))

    def on_conv(self, node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x = self.as_int(node, 0)
        if x.axes != NHWC_OF_NCHW:
            raise UnsupportedOp(f"node {node.name!r} (Conv): input is not a 4-D NCHW activation")
        w = self.weights(node, 1)
        t = self.ir(x)
        h, wd, cin = t.shape
        cout, cin_g, kh, kw = w.ints.shape
        group = attrs.get("group", 1)
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedOp(f"node {node.name!r} (Conv): auto_pad is not supported; use explicit pads")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise UnsupportedOp(f"node {node.name!r} (Conv): dilation is not supported")
        depthwise = group != 1
        if depthwise and not (group == cin == cout and cin_g == 1):
            raise UnsupportedOp(f"node {node.name!r} (Conv): grouped convolution with group={group} "
                                "(only depthwise, group = channels, is supported)")
        pads = tuple(attrs.get("pads", [0, 0, 0, 0]))
        stride = tuple(attrs.get("strides", [1, 1]))
        weights = np.transpose(w.ints, (2, 3, 1, 0))              # (KH, KW, Cin/g, Cout)
        scale = self.mvu_scale(node, x, w.ints, w.scale, 0)
        oh = (h + pads[0] + pads[2] - kh) // stride[0] + 1
        ow = (wd + pads[1] + pads[3] - kw) // stride[1] + 1
        out = self.new_tensor(node.output[0], (oh, ow, cout), IntType(32, True), scale)
        self.nodes.append(Conv2D(node.name, [x.ir], out, weights=weights.astype(np.int64),
                                 bias=np.zeros(cout, np.int64), stride=stride,
                                 pads=(pads[0], pads[1], pads[2], pads[3]), depthwise=depthwise))
        value = IntVal(out, NHWC_OF_NCHW, node.output[0])
        self.value_out(node, value)
        if len(node.input) > 2 and node.input[2]:
            self.add_bias(node, value, node.input[2])

    def on_elementwise(self, node):
        """Mul / Add / Sub / Div with a constant on one side."""
        a, b = (self.get(n, node) for n in node.input)
        if isinstance(a, Const) and isinstance(b, Const):
            raise ModelError(f"node {node.name!r}: constant-only op left after clean-up")
        if node.op_type == "Add" and not isinstance(a, Const) and not isinstance(b, Const) \
                and not isinstance(a, QConst) and not isinstance(b, QConst):
            return self.residual_add(node)
        const_first = isinstance(a, (Const, QConst))
        c_val, v = (a, b) if const_first else (b, a)
        const = c_val.value if isinstance(c_val, Const) else (c_val.ints * c_val.scale).astype(F32)
        kind = {"Mul": "mul", "Add": "add", "Sub": "rsub" if const_first else "sub", "Div": "div"}[node.op_type]
        if kind == "div" and const_first:
            raise UnsupportedOp(f"node {node.name!r} (Div): constant / tensor is not supported")
        if isinstance(v, HostFloat):
            if np.asarray(const).size != 1:
                raise UnsupportedOp(f"node {node.name!r}: input pre-processing with per-element constants")
            self.value_out(node, HostFloat(v.ops + [FloatOp(kind, np.asarray(const, F32).reshape(()))],
                                           v.shape, v.source_shape))
            return
        if isinstance(v, IntVal):
            v = Pending(v)
        if not isinstance(v, Pending):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}) on {type(v).__name__}")
        op = FloatOp(kind, self.per_channel(const, v.base, node))
        self.value_out(node, v.then([op], node))

    def residual_add(self, node):
        a = self.as_int(node, 0)
        b = self.as_int(node, 1)
        ta, tb = self.ir(a), self.ir(b)
        if ta.shape != tb.shape or a.axes != b.axes:
            raise UnsupportedOp(f"node {node.name!r} (Add): operands of shapes {ta.shape} and {tb.shape}")
        sa, sb = np.asarray(ta.scale, np.float64), np.asarray(tb.scale, np.float64)
        if sa.size > 1 or sb.size > 1:
            raise UnsupportedOp(f"node {node.name!r} (Add): operands need per-tensor scales")
        s_out = min(float(sa), float(sb))
        mul_a, mul_b = float(sa) / s_out, float(sb) / s_out
        if mul_a != round(mul_a) or mul_b != round(mul_b):
            raise UnsupportedOp(f"node {node.name!r} (Add): operand scales {float(sa)} and {float(sb)} are not "
                                "integer multiples of each other")
        out = self.new_tensor(node.output[0], ta.shape, IntType(32, True), s_out)
        self.nodes.append(Add(node.name, [a.ir, b.ir], out, mul_a=int(mul_a), mul_b=int(mul_b)))
        self.value_out(node, IntVal(out, a.axes, node.output[0], a.flat_perm))

    def on_relu(self, node):
        v = self.get(node.input[0], node)
        if isinstance(v, IntVal):
            v = Pending(v)
        if not isinstance(v, Pending):
            raise UnsupportedOp(f"node {node.name!r} (Relu) on {type(v).__name__}")
        self.value_out(node, v.then([FloatOp("relu")], node))

    def on_batchnorm(self, node):
        v = self.get(node.input[0], node)
        if isinstance(v, IntVal):
            v = Pending(v)
        if not isinstance(v, Pending):
            raise UnsupportedOp(f"node {node.name!r} (BatchNormalization) on {type(v).__name__}")
        eps = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (self.const(n, node, "BatchNorm parameter") for n in node.input[1:5])
        ops = fold_batchnorm(gamma, beta, mean, var, eps)
        ops = [FloatOp(op.kind, self.per_channel(self.along_axis1(op.const, v.base), v.base, node)) for op in ops]
        self.value_out(node, v.then(ops, node))

    def pool_params(self, node, x: IntVal):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if x.axes != NHWC_OF_NCHW:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): input is not a 4-D NCHW activation")
        if attrs.get("ceil_mode", 0):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): ceil_mode is not supported")
        kernel = tuple(attrs["kernel_shape"])
        stride = tuple(attrs.get("strides", kernel))
        pads = tuple(attrs.get("pads", [0, 0, 0, 0]))
        return kernel, stride, pads, attrs

    def pooled_shape(self, x, kernel, stride, pads):
        h, w, c = self.ir(x).shape
        return ((h + pads[0] + pads[2] - kernel[0]) // stride[0] + 1,
                (w + pads[1] + pads[3] - kernel[1]) // stride[1] + 1, c)

    def on_maxpool(self, node):
        x = self.as_int(node, 0)
        kernel, stride, pads, _ = self.pool_params(node, x)
        t = self.ir(x)
        out = self.new_tensor(node.output[0], self.pooled_shape(x, kernel, stride, pads), t.dtype, t.scale)
        self.nodes.append(MaxPool(node.name, [x.ir], out, kernel=kernel, stride=stride, pads=pads))
        self.value_out(node, IntVal(out, x.axes, node.output[0]))

    def on_avgpool(self, node):
        x = self.as_int(node, 0)
        t = self.ir(x)
        if node.op_type == "GlobalAveragePool":
            kernel, stride, pads = t.shape[:2], t.shape[:2], (0, 0, 0, 0)
        else:
            kernel, stride, pads, attrs = self.pool_params(node, x)
            if any(pads) and not attrs.get("count_include_pad", 0):
                raise UnsupportedOp(f"node {node.name!r} (AveragePool): padding without count_include_pad")
        out = self.new_tensor(node.output[0], self.pooled_shape(x, kernel, stride, pads), IntType(32, True),
                              t.scale)
        self.nodes.append(SumPool(node.name, [x.ir], out, kernel=tuple(kernel), stride=tuple(stride), pads=pads))
        # the float model divides the window sum by k: keep that division as a float op, exactly as it rounds
        k = float(np.prod(kernel))
        summed = Pending(IntVal(out, x.axes, node.output[0] + ":sum"))
        self.value_out(node, summed.then([FloatOp("div", np.asarray(k, F32))], node))

    def on_reshape(self, node):
        v = self.get(node.input[0], node)
        out_shape = self.shape(node.output[0])
        if isinstance(v, HostFloat):
            self.value_out(node, HostFloat(v.ops, out_shape, v.source_shape))
            return
        x = self.as_int(node, 0)
        in_shape = self.shape(node.input[0])
        perm = reshape_as_perm(in_shape, out_shape)
        if perm is not None and x.flat_perm is None:
            self.value_out(node, IntVal(x.ir, tuple(x.axes[p] for p in perm), node.output[0]))
        elif len(out_shape) == 2 and out_shape[1] == int(np.prod(in_shape[1:])) and len(in_shape) == 4:
            self.flatten(node, x)
        elif tuple(out_shape) == tuple(in_shape):
            self.value_out(node, x)
        else:
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): only flattening a 4-D activation to "
                                f"(batch, features) is supported (got {in_shape} -> {out_shape})")

    def flatten(self, node, x: IntVal):
        t = self.ir(x)
        ir_index = np.arange(int(np.prod(t.shape))).reshape((1,) + t.shape)
        onnx_order = np.transpose(ir_index, x.axes).reshape(-1)        # ONNX flat position -> IR flat index
        perm = np.empty_like(onnx_order)
        perm[onnx_order] = np.arange(onnx_order.size)                  # IR flat index -> ONNX flat position
        out = self.new_tensor(node.output[0], (int(np.prod(t.shape)),), t.dtype, t.scale)
        self.nodes.append(Flatten(node.name, [x.ir], out))
        identity = np.array_equal(perm, np.arange(perm.size))
        self.value_out(node, IntVal(out, (0, 1), node.output[0], None if identity else perm))

    def on_flatten(self, node):
        v = self.get(node.input[0], node)
        if isinstance(v, HostFloat):
            self.value_out(node, HostFloat(v.ops, self.shape(node.output[0]), v.source_shape))
            return
        x = self.as_int(node, 0)
        if len(self.ir(x).shape) == 1:
            self.value_out(node, x)
        else:
            self.flatten(node, x)

    def on_transpose(self, node):
        perm = tuple(next(helper.get_attribute_value(a) for a in node.attribute if a.name == "perm"))
        v = self.get(node.input[0], node)
        if isinstance(v, HostFloat):
            raise UnsupportedOp(f"node {node.name!r}: transpose of the model input before its quantiser")
        if isinstance(v, Pending) and v.ops:
            raise UnsupportedOp(f"node {node.name!r}: transpose inside a float op chain")
        x = v.base if isinstance(v, Pending) else v
        if x.flat_perm is not None or len(perm) != len(x.axes):
            raise UnsupportedOp(f"node {node.name!r} (Transpose) of a flattened tensor")
        axes = tuple(x.axes[p] for p in perm)
        self.value_out(node, IntVal(x.ir, axes, node.output[0]))

    def on_passthrough(self, node):
        self.value_out(node, self.get(node.input[0], node))

    def on_softmax(self, node):
        consumers = self._consumers.get(node.output[0], [])
        if consumers or node.output[0] != self.graph_proto.output[0].name:
            raise UnsupportedOp(f"node {node.name!r} (Softmax): only a final softmax is supported (it stays on "
                                "the host)")
        self.meta["notes"].append(f"final softmax {node.name!r} stays on the host: outputs are logits")
        self.output_name = node.input[0]


HANDLERS = {
    "Quant": Lowering.on_quant, "BipolarQuant": Lowering.on_quant, "Trunc": Lowering.on_quant,
    "MatMul": Lowering.on_matmul, "Gemm": Lowering.on_gemm, "Conv": Lowering.on_conv,
    "Mul": Lowering.on_elementwise, "Add": Lowering.on_elementwise, "Sub": Lowering.on_elementwise,
    "Div": Lowering.on_elementwise, "Relu": Lowering.on_relu, "BatchNormalization": Lowering.on_batchnorm,
    "MaxPool": Lowering.on_maxpool, "AveragePool": Lowering.on_avgpool, "GlobalAveragePool": Lowering.on_avgpool,
    "Reshape": Lowering.on_reshape, "Flatten": Lowering.on_flatten, "Transpose": Lowering.on_transpose,
    "Identity": Lowering.on_passthrough, "Dropout": Lowering.on_passthrough, "Softmax": Lowering.on_softmax,
}


def lower(model, name: str, float_input=None) -> Graph:
    return Lowering(model, name, float_input).run()
