"""QKeras -> QONNX export for the zoo, and running the exported graph.

``export_qonnx`` wraps qonnx 0.4's converter (``qonnx.converters.from_keras``) and fixes what it leaves out of
or gets loose in a zoo model:

1. The input quantiser. A ``QActivation(quantized_bits(...))`` is stripped to a Keras linear activation, which
   produces no TensorFlow op, so the converter emits no Quant node for it. We add it back: a ``Quant`` node on
   the graph input with the quantiser's scale / bit width / signedness, so the graph states its input grid.
   (The data sets lie on that grid, so this node is numerically the identity.)
2. Trailing ``Identity`` nodes (left by the converter, which disables tf2onnx's identity removal): removed.
3. The converter uses the domain ``qonnx.custom_op.general`` without importing it (``onnx.checker`` fails):
   an opset import for it (version 1) is added.
4. Quant parameters come as float64 scale / int64 zero point and bit width: stored as float32, as the QONNX
   spec says (exact: powers of two and small integers).

Everything else is the converter's output unchanged. Known converter behaviour worth knowing:
a bias that is all zeros is dropped (the Conv/MatMul then has no bias), and the batch dimension is fixed to 1
(``run_qonnx`` rewrites it to run a whole batch at once).
"""

from __future__ import annotations

import numpy as np

QONNX_DOMAIN = "qonnx.custom_op.general"


class ExportError(RuntimeError):
    """The model cannot be exported exactly; the message names the layer."""


def input_quantizer_params(model) -> dict:
    """Scale, bit width and signedness of the zoo model's first layer (its input quantiser).

    Only a ``QActivation`` with a ``quantized_bits`` quantiser of power-of-two scale (alpha 1 or None) qualifies.
    """
    layers = [l for l in model.layers if l.__class__.__name__ != "InputLayer"]
    first = layers[0] if layers else None
    if first is None or first.__class__.__name__ != "QActivation":
        raise ExportError(f"model {model.name!r}: the first layer must be the input quantiser QActivation, "
                          f"found {first.__class__.__name__ if first else 'nothing'}")
    q = first.quantizer
    if q.__class__.__name__ != "quantized_bits":
        raise ExportError(f"model {model.name!r}, layer {first.name!r}: input quantiser must be quantized_bits, "
                          f"found {q.__class__.__name__}")
    cfg = q.get_config()
    if cfg.get("alpha") not in (None, 1, 1.0) or cfg.get("symmetric"):
        raise ExportError(f"model {model.name!r}, layer {first.name!r}: input quantiser must have alpha=1 "
                          f"and symmetric=0 (a power-of-two scale), found {cfg}")
    signed = int(bool(cfg["keep_negative"]))
    bits = int(cfg["bits"])
    integer = int(cfg["integer"])
    return {"layer": first.name, "bits": bits, "signed": signed, "narrow": 0,
            "scale": 2.0 ** -(bits - integer - signed)}


def _add_input_quant(onnx_model, params):
    from onnx import TensorProto, helper

    g = onnx_model.graph
    inp = g.input[0].name
    out = inp + "_quant"
    consumers = [n for n in g.node if inp in n.input]
    for n in consumers:
        for i, name in enumerate(n.input):
            if name == inp:
                n.input[i] = out
    consts = {"scale": (TensorProto.FLOAT, params["scale"]), "zeropt": (TensorProto.FLOAT, 0.0),
              "bitwidth": (TensorProto.FLOAT, float(params["bits"]))}
    names = []
    for key, (dtype, value) in consts.items():
        name = f"{inp}_quant_{key}"
        g.initializer.append(helper.make_tensor(name, dtype, [], [value]))
        names.append(name)
    node = helper.make_node("Quant", [inp] + names, [out], name="input_quant", domain=QONNX_DOMAIN,
                            signed=params["signed"], narrow=params["narrow"], rounding_mode="ROUND")
    g.node.insert(0, node)


def _remove_identities(onnx_model):
    g = onnx_model.graph
    outputs = {o.name for o in g.output}
    while True:
        ident = next((n for n in g.node if n.op_type == "Identity"), None)
        if ident is None:
            return
        src, dst = ident.input[0], ident.output[0]
        if dst in outputs:
            # keep the graph output's name: rename the producer's output instead
            for n in g.node:
                for i, name in enumerate(n.output):
                    if name == src:
                        n.output[i] = dst
                for i, name in enumerate(n.input):
                    if name == src and n is not ident:
                        n.input[i] = dst
        else:
            for n in g.node:
                for i, name in enumerate(n.input):
                    if name == dst:
                        n.input[i] = src
        g.node.remove(ident)


def _float32_quant_params(onnx_model):
    """Store every Quant node's scale / zero point / bit width as float32, as the QONNX spec says.

    (The converter writes float64 scales and int64 zero points and bit widths.) All values are powers of two or
    small integers, so the cast is exact.
    """
    import onnx
    from onnx import numpy_helper

    inits = {i.name: i for i in onnx_model.graph.initializer}
    for n in onnx_model.graph.node:
        if n.op_type != "Quant":
            continue
        for name in n.input[1:]:
            init = inits.get(name)
            if init is None:
                continue
            arr = numpy_helper.to_array(init)
            new = arr.astype(np.float32)
            if not np.array_equal(new.astype(arr.dtype), arr):
                raise ExportError(f"Quant node {n.name!r}: parameter {name!r} = {arr} is not exact in float32")
            init.CopyFrom(numpy_helper.from_array(new, name))
            for vi in list(onnx_model.graph.value_info) + list(onnx_model.graph.input):
                if vi.name == name:
                    vi.type.tensor_type.elem_type = onnx.TensorProto.FLOAT


def export_qonnx(model, path: str | None = None, name: str | None = None, opset: int = 13):
    """Export a zoo QKeras model to QONNX; returns the ``onnx.ModelProto`` (and saves it to ``path`` if given).

    Graph input ``global_in`` (NHWC, batch 1, float32 on the input grid), output ``global_out`` (logits).
    """
    import onnx
    from qonnx.converters import from_keras
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if act is not None and getattr(act, "__name__", "") == "softmax":
        raise ExportError(f"model {model.name!r}: the last layer {last.name!r} has a softmax; "
                          "zoo models end in linear logits (softmax stays on the host)")
    params = input_quantizer_params(model)
    proto, _ = from_keras(model, name=name or model.name, opset=opset)
    if any(n.op_type == "Quant" and n.input[0] == proto.graph.input[0].name for n in proto.graph.node):
        raise ExportError(f"model {model.name!r}: converter already quantises the input; refusing to add another")
    _add_input_quant(proto, params)
    _remove_identities(proto)
    _float32_quant_params(proto)
    wrapper = cleanup_model(ModelWrapper(proto))
    proto = wrapper.model
    # the converter uses the qonnx domain without importing it, which onnx.checker rejects
    if not any(o.domain == QONNX_DOMAIN for o in proto.opset_import):
        proto.opset_import.append(onnx.helper.make_opsetid(QONNX_DOMAIN, 1))
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, path)
    return proto


def run_qonnx(onnx_model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Execute a QONNX model (path or ModelProto) with qonnx's reference executor on a batch ``x``.

    The exported graph has batch size 1; its Reshape constants carry the batch as -1/1, so we rewrite the batch
    dimension (qonnx ``ChangeBatchSize``) and run ``batch_size`` samples per call.
    """
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    proto = onnx.load(onnx_model) if isinstance(onnx_model, str) else onnx_model
    x = np.asarray(x, dtype=np.float32)
    outs = []
    cache = {}
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        n = len(chunk)
        if n not in cache:
            w = ModelWrapper(onnx.ModelProto.FromString(proto.SerializeToString()))
            w = w.transform(ChangeBatchSize(n)).transform(InferShapes())
            cache[n] = w
        w = cache[n]
        res = execute_onnx(w, {w.graph.input[0].name: chunk})
        outs.append(np.asarray(res[w.graph.output[0].name]))
    return np.concatenate(outs, axis=0) if outs else np.zeros((0,), np.float32)


def describe_onnx(onnx_model) -> list[dict]:
    """A plain listing of the graph's nodes (op type, domain, attributes, input shapes of constants)."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(onnx_model) if isinstance(onnx_model, str) else onnx_model
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    rows = []
    for n in proto.graph.node:
        attrs = {}
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            attrs[a.name] = v.decode() if isinstance(v, bytes) else (list(v) if isinstance(v, (list, tuple)) else v)
        inputs = []
        for i in n.input:
            if i in inits:
                arr = inits[i]
                inputs.append({"const": list(arr.shape)} if arr.size > 4 else {"const": arr.tolist()})
            else:
                inputs.append(i)
        rows.append({"op_type": n.op_type, "domain": n.domain, "attrs": attrs, "inputs": inputs,
                     "outputs": list(n.output)})
    return rows
