"""Loading a model file into a cleaned-up QONNX ModelWrapper.

QKeras files go through qonnx's own converter (qonnx.converters.from_keras); every model then goes through
qonnx's clean-up (constant folding, shape inference, unique names, Brevitas domains resolved), so that the
lowering sees one canonical form whatever produced the file.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from convflow.hw.errors import ModelError

QUANT_DOMAINS = ("onnx.brevitas", "finn.custom_op.general", "qonnx.custom_op.general")
KERAS_SUFFIXES = (".h5", ".keras", ".json")


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    digest.update(Path(path).read_bytes())
    if Path(path).suffix == ".json":       # a Keras JSON architecture comes with its weights file
        weights = _keras_weights_for(Path(path))
        if weights is not None:
            digest.update(weights.read_bytes())
    return digest.hexdigest()


def _keras_weights_for(json_path: Path):
    for candidate in (json_path.with_name(json_path.stem + "_weights.h5"), json_path.with_suffix(".h5")):
        if candidate.is_file():
            return candidate
    return None


def load_keras_model(path: Path):
    """A QKeras model from .h5 / .keras, or from .json + <stem>_weights.h5 (hls4ml example-models layout)."""
    from qkeras.utils import _add_supported_quantized_objects  # lazy: TensorFlow is heavy
    import tensorflow as tf

    custom = {}
    _add_supported_quantized_objects(custom)
    if path.suffix == ".json":
        weights = _keras_weights_for(path)
        if weights is None:
            raise ModelError(f"{path}: a Keras JSON model needs its weights beside it ({path.stem}_weights.h5)")
        model = tf.keras.models.model_from_json(path.read_text(), custom_objects=custom)
        model.load_weights(str(weights))
        return model
    return tf.keras.models.load_model(str(path), custom_objects=custom, compile=False)


def strip_softmax(model):
    """Softmax stays on the host: a Keras model whose last layer is a softmax activation is cut before it."""
    import tensorflow as tf

    last = model.layers[-1]
    act = getattr(last, "activation", None)
    name = getattr(act, "__name__", "") or getattr(getattr(act, "get_config", lambda: {}), "__name__", "")
    if last.__class__.__name__ == "Activation" and name == "softmax":
        return tf.keras.Model(model.inputs, model.layers[-2].output, name=model.name)
    return model


def keras_input_quantizer(model):
    """(scale, bits, signed) of a leading QActivation(quantized_bits(...)) with a power-of-two scale, else None.

    qonnx 0.4's converter drops such a layer (it strips the quantiser and leaves a linear activation, which emits
    no op), so the model's input quantiser would be lost; keras_to_qonnx puts it back as a Quant node."""
    layers = [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]
    if not layers or layers[0].__class__.__name__ != "QActivation":
        return None
    quantizer = layers[0].quantizer
    if quantizer.__class__.__name__ != "quantized_bits":
        return None
    cfg = quantizer.get_config()
    if cfg.get("alpha") not in (None, 1, 1.0) or cfg.get("symmetric"):
        raise ModelError(f"layer {layers[0].name!r}: an input quantized_bits needs alpha=1 and symmetric=0 "
                         f"(a power-of-two scale) to map exactly; found {cfg}")
    signed = int(bool(cfg["keep_negative"]))
    bits = int(cfg["bits"])
    return 2.0 ** -(bits - int(cfg["integer"]) - signed), bits, signed


def keras_to_qonnx(model):
    """QKeras model -> onnx.ModelProto with Quant nodes, through qonnx's converter."""
    from onnx import TensorProto, helper
    from qonnx.converters import from_keras

    onnx_model, _ = from_keras(model, name=model.name)
    input_quant = keras_input_quantizer(model)
    graph = onnx_model.graph
    inp = graph.input[0].name
    if input_quant and not any(n.op_type == "Quant" and n.input[0] == inp for n in graph.node):
        scale, bits, signed = input_quant
        quantized = inp + "_quantized"
        for node in graph.node:
            node.input[:] = [quantized if name == inp else name for name in node.input]
        params = []
        for key, value in (("scale", scale), ("zeropt", 0.0), ("bitwidth", float(bits))):
            params.append(f"{inp}_{key}")
            graph.initializer.append(helper.make_tensor(params[-1], TensorProto.FLOAT, [], [value]))
        graph.node.insert(0, helper.make_node("Quant", [inp] + params, [quantized], name="input_quantizer",
                                              domain="qonnx.custom_op.general", signed=signed, narrow=0,
                                              rounding_mode="ROUND"))
    return onnx_model


def separate_repeated_inputs(proto):
    """A copy of ``proto`` in which no node reads one tensor twice (Concat(x, x), Add(x, x)): each repeat reads it
    through an Identity instead.  qonnx 0.4's clean-up renames a tensor only where a node reads it first
    (ModelWrapper.rename_tensor), which leaves the repeat reading a name nothing produces.  ``proto`` itself is
    returned when nothing repeats."""
    from onnx import helper

    if all(len(set(n for n in node.input if n)) == len([n for n in node.input if n]) for node in proto.graph.node):
        return proto
    proto = type(proto).FromString(proto.SerializeToString())
    nodes = []
    for node in proto.graph.node:
        seen = set()
        for i, name in enumerate(node.input):
            if name and name in seen:
                again = f"{name}_again_{node.name or len(nodes)}_{i}"
                nodes.append(helper.make_node("Identity", [name], [again], name=again))
                node.input[i] = again
            seen.add(name)
        nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto


def load_model(source):
    """Path (.onnx, .h5, .keras, .json) or an onnx.ModelProto -> cleaned qonnx ModelWrapper."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    if isinstance(source, onnx.ModelProto):
        proto = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        if path.suffix in KERAS_SUFFIXES:
            proto = keras_to_qonnx(strip_softmax(load_keras_model(path)))
        elif path.suffix == ".onnx":
            try:
                proto = onnx.load(str(path))
            except Exception as exc:  # onnx raises DecodeError and friends
                raise ModelError(f"{path}: not a readable ONNX file ({exc})") from None
        else:
            raise ModelError(f"{path}: unknown model format {path.suffix!r} (want .onnx, .h5, .keras or .json)")
    try:
        model = cleanup_model(ModelWrapper(separate_repeated_inputs(proto)))
    except Exception as exc:
        raise ModelError(f"qonnx could not clean up the model: {exc}") from None
    if len(model.graph.input) != 1:
        raise ModelError(f"model has {len(model.graph.input)} inputs; convflow takes exactly one")
    if len(model.graph.output) != 1:
        raise ModelError(f"model has {len(model.graph.output)} outputs; convflow takes exactly one")
    return model
