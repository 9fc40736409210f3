"""A Keras / QKeras model -> a QONNX model (onnx.ModelProto): one converter per Keras layer class (CONVERTERS),
each emitting the ONNX nodes that compute the layer's numbers, named after the layer.

Why convflow converts QKeras itself rather than through qonnx 0.4's converter (qonnx.converters.from_keras over
tf2onnx), measured on this project's pinned versions: that converter stops with a raw exception on
QConv2DBatchnorm, QDepthwiseConv2D, QSeparableConv2D, QAveragePooling2D and QGlobalAveragePooling2D; when a
quantiser's own handler fails (alpha="auto_po2" or an array, quantized_po2, a ternary threshold other than 0.5) it
writes no Quant node at all and goes on with the float weights, saying so only in tf2onnx's log; it writes binary()
as a 1-bit narrow signed Quant, whose only level is 0; its scales are powers of two per tensor; and qonnx's clean-up
renames every node.  Here the quantised weights come from QKeras itself, on any grid (keras_quantizers.py), the
layers the graph cannot take directly are first rewritten into equal ones (keras_rewrites.py), every node keeps its
layer's name, and anything else stops with one UnsupportedOp naming the layer, its class and config.

The graph being written, and how tensors move between Keras's and ONNX's layouts, is keras_graph.py.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from convflow.hw.errors import ModelError, UnsupportedOp

from .keras_graph import QDOMAIN, F32, KTensor, OnnxGraph

OPSET = 13


def _keras_shape(layer) -> tuple:
    shape = layer.output_shape
    if isinstance(shape, list):
        raise UnsupportedOp("layers with several outputs are not supported")
    return tuple(int(d) for d in shape[1:])


def _same_pads(in_sizes, kernel, strides) -> tuple:
    """TensorFlow's SAME padding: (begins, ends) per spatial axis, the odd pixel at the end."""
    begins, ends = [], []
    for size, k, s in zip(in_sizes, kernel, strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins, ends


def _pads(layer, x: KTensor, kernel, strides) -> list:
    padding = layer.padding
    spatial = x.shape[:-1]
    if padding == "valid":
        return [0] * (2 * len(kernel))
    if padding == "same":
        begins, ends = _same_pads(spatial, kernel, strides)
        return begins + ends
    if padding == "causal" and len(kernel) == 1:
        return [kernel[0] - 1, 0]
    raise UnsupportedOp(f"padding {padding!r} is not supported")


def _check_plain_window(layer, rank: int) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UnsupportedOp("data_format channels_first is not supported (Keras's default channels_last is)")
    if any(d != 1 for d in getattr(layer, "dilation_rate", (1,) * rank)):
        raise UnsupportedOp("dilation is not supported")


# ------------------------------------------------------------------------------------------- converters
def convert_conv(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """QConv1D / QConv2D: Conv with the quantised kernel (Keras (K..., Cin/g, Cout) -> ONNX (Cout, Cin/g, K...)),
    the quantised bias, TensorFlow's padding, then the layer's activation."""
    rank = len(layer.kernel_size)
    _check_plain_window(layer, rank)
    x = g.to_onnx(inputs[0])
    order = (rank + 1, rank) + tuple(range(rank))
    kernel = g.weights(layer.name, layer.kernel_quantizer_internal, layer.kernel.numpy(),
                       lambda a: np.transpose(a, order), 0, "kernel")
    operands = [x.name, kernel]
    if layer.use_bias:
        operands.append(g.weights(layer.name, layer.bias_quantizer_internal, layer.bias.numpy(), lambda a: a, 0,
                                  "bias"))
    strides = list(layer.strides)
    out = g.add("Conv", operands, layer.name, kernel_shape=list(layer.kernel_size), strides=strides,
                pads=_pads(layer, inputs[0], layer.kernel_size, strides), group=int(getattr(layer, "groups", 1)),
                dilations=[1] * rank)
    return g.activation(KTensor(out, _keras_shape(layer), "onnx"), layer.activation, layer.name)


def convert_depthwise(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """QDepthwiseConv2D: a Conv with group = channels; the kernel (KH, KW, C, M) becomes (C x M, 1, KH, KW), output
    channel c M + m reading input channel c, as Keras orders a depth multiplier's outputs."""
    _check_plain_window(layer, 2)
    x = g.to_onnx(inputs[0])
    kh, kw, channels, multiplier = (int(d) for d in layer.depthwise_kernel.shape)

    def to_onnx(a):
        return np.transpose(np.reshape(a, (kh, kw, 1, channels * multiplier)), (3, 2, 0, 1))

    kernel = g.weights(layer.name, layer.depthwise_quantizer_internal, layer.depthwise_kernel.numpy(), to_onnx, 0,
                       "kernel")
    operands = [x.name, kernel]
    if layer.use_bias:
        operands.append(g.weights(layer.name, layer.bias_quantizer_internal, layer.bias.numpy(), lambda a: a, 0,
                                  "bias"))
    strides = list(layer.strides)
    out = g.add("Conv", operands, layer.name, kernel_shape=[kh, kw], strides=strides,
                pads=_pads(layer, inputs[0], (kh, kw), strides), group=channels, dilations=[1, 1])
    return g.activation(KTensor(out, _keras_shape(layer), "onnx"), layer.activation, layer.name)


def convert_dense(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """QDense: MatMul with the quantised kernel (in, out), Add of the quantised bias, the activation."""
    x = g.flat(g.to_keras(inputs[0])) if len(inputs[0].shape) == 1 else None
    if x is None:
        raise UnsupportedOp(f"a Dense layer on a {len(inputs[0].shape) + 1}-D tensor (convflow takes "
                            "(batch, features): add a Flatten before it)")
    kernel = g.weights(layer.name, layer.kernel_quantizer_internal, layer.kernel.numpy(), lambda a: a, 1, "kernel")
    out = KTensor(g.add("MatMul", [x.name, kernel], layer.name), _keras_shape(layer), "keras")
    if layer.use_bias:
        bias = g.weights(layer.name, layer.bias_quantizer_internal, layer.bias.numpy(), lambda a: a, 0, "bias")
        out = g.like(out, g.add("Add", [out.name, bias], f"{layer.name}_bias"))
    return g.activation(out, layer.activation, layer.name)


def convert_batchnorm(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """BatchNormalization (inference): x * a + b per channel, with a = rsqrt(moving variance + epsilon) * gamma and
    b = beta - moving mean * a computed by TensorFlow, which is how Keras's fused and plain batch norms compute it
    (one Mul, one Add, each rounded in float32)."""
    import tensorflow as tf

    x = inputs[0]
    axes = [a % (len(x.shape) + 1) for a in np.atleast_1d(layer.axis)]
    if axes != [len(x.shape)]:
        raise UnsupportedOp(f"a batch norm over axis {layer.axis}; convflow normalises channels (the last axis)")
    a = tf.math.rsqrt(layer.moving_variance + layer.epsilon)
    if layer.gamma is not None:
        a = a * layer.gamma
    b = -layer.moving_mean * a if layer.beta is None else layer.beta - layer.moving_mean * a
    shape = x.channel_shape()
    y = g.add("Mul", [x.name, g.const(f"{layer.name}_a", np.reshape(np.asarray(a, F32), shape))], f"{layer.name}_mul")
    y = g.add("Add", [y, g.const(f"{layer.name}_b", np.reshape(np.asarray(b, F32), shape))], layer.name)
    return g.like(x, y)


def convert_qactivation(g: OnnxGraph, layer, inputs: list) -> KTensor:
    return g.activation(inputs[0], layer.quantizer, layer.name, own=True)


def convert_activation(g: OnnxGraph, layer, inputs: list) -> KTensor:
    return g.activation(inputs[0], layer.activation, layer.name, own=True)


def convert_relu(g: OnnxGraph, layer, inputs: list) -> KTensor:
    if layer.max_value is not None or float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
        raise UnsupportedOp("a ReLU with max_value, negative_slope or threshold is not supported")
    return g.like(inputs[0], g.add("Relu", [inputs[0].name], layer.name))


def convert_softmax(g: OnnxGraph, layer, inputs: list) -> KTensor:
    if np.atleast_1d(layer.axis).tolist() != [-1]:
        raise UnsupportedOp("a softmax over another axis than the last")
    from tensorflow import keras

    return g.activation(inputs[0], keras.activations.softmax, layer.name, own=True)


def convert_identity(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """Dropout and noise layers do nothing in inference."""
    return inputs[0]


def _window(layer) -> tuple:
    kernel = tuple(int(k) for k in np.atleast_1d(layer.pool_size))
    strides = tuple(int(s) for s in np.atleast_1d(layer.strides if layer.strides is not None else kernel))
    return kernel, strides


def convert_max_pool(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """MaxPooling1D / 2D: MaxPool; TensorFlow's SAME padding never wins a maximum, as ONNX's padding does not."""
    kernel, strides = _window(layer)
    _check_plain_window(layer, len(kernel))
    x = g.to_onnx(inputs[0])
    out = g.add("MaxPool", [x.name], layer.name, kernel_shape=list(kernel), strides=list(strides),
                pads=_pads(layer, inputs[0], kernel, strides))
    return KTensor(out, _keras_shape(layer), "onnx")


def _average_pool(g: OnnxGraph, layer, inputs: list) -> KTensor:
    kernel, strides = _window(layer)
    _check_plain_window(layer, len(kernel))
    pads = _pads(layer, inputs[0], kernel, strides)
    if any(pads):
        raise UnsupportedOp("SAME padding of an average pool (TensorFlow leaves the padding out of each window's "
                            "count, so edge windows divide by less); use padding='valid'")
    x = g.to_onnx(inputs[0])
    out = g.add("AveragePool", [x.name], layer.name, kernel_shape=list(kernel), strides=list(strides))
    return KTensor(out, _keras_shape(layer), "onnx")


def convert_average_pool(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """AveragePooling1D / 2D: AveragePool (the window sum divided by its size, as TensorFlow divides)."""
    return _average_pool(g, layer, inputs)


def _qkeras_average(g: OnnxGraph, layer, t: KTensor, area: int) -> KTensor:
    """QKeras's average quantiser: the float average times the window area, times the quantised 1 / area."""
    if layer.average_quantizer_internal is not None:
        q_factor = np.asarray(layer.average_quantizer_internal(1.0 / area), F32).reshape(())
        t = g.like(t, g.add("Mul", [t.name, g.const(f"{layer.name}_area", F32(area))], f"{layer.name}_area"))
        t = g.like(t, g.add("Mul", [t.name, g.const(f"{layer.name}_factor", q_factor)], f"{layer.name}_factor"))
    return g.activation(t, layer.activation, layer.name)


def convert_qaverage_pool(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """QAveragePooling2D: the average pool, then QKeras's average quantiser and activation."""
    t = _average_pool(g, layer, inputs)
    return _qkeras_average(g, layer, t, int(np.prod(_window(layer)[0])))


def _global_average(g: OnnxGraph, layer, inputs: list) -> KTensor:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UnsupportedOp("data_format channels_first is not supported")
    x = g.to_onnx(inputs[0])
    out = g.add("GlobalAveragePool", [x.name], layer.name)
    shape = _keras_shape(layer)
    if len(shape) > 1:                             # keepdims: a 1 x 1 image
        return KTensor(out, shape, "onnx")
    return KTensor(out, shape, "onnx", rank=len(inputs[0].shape) + 1)


def convert_global_average(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """GlobalAveragePooling1D / 2D: GlobalAveragePool, its 1 x 1 image held until the (N, C) matrix is needed."""
    return _global_average(g, layer, inputs)


def convert_qglobal_average(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """QGlobalAveragePooling2D: the global average, then QKeras's average quantiser and activation."""
    t = _global_average(g, layer, inputs)
    return _qkeras_average(g, layer, t, int(np.prod(inputs[0].shape[:-1])))


def convert_add(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """Add: a chain of ONNX Adds in one layout."""
    operands = g.same_layout(inputs)
    out = operands[0]
    for i, other in enumerate(operands[1:]):
        out = g.like(out, g.add("Add", [out.name, other.name], layer.name if i == len(operands) - 2 else
                                f"{layer.name}_{i}"))
    return out


def convert_concatenate(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """Concatenate along channels (the last Keras axis: ONNX axis 1 in the image layout)."""
    rank = len(inputs[0].shape) + 1
    if layer.axis % rank != rank - 1:
        raise UnsupportedOp(f"a concatenation along axis {layer.axis}; convflow concatenates channels (axis -1)")
    operands = g.same_layout(inputs)
    axis = 1 if operands[0].layout == "onnx" or operands[0].rank == 2 else -1
    out = g.add("Concat", [t.name for t in operands], layer.name, axis=axis)
    return g.like(operands[0], out, _keras_shape(layer))


def convert_zero_padding(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """ZeroPadding1D / 2D: Pad with zeros on the spatial axes."""
    padding = np.asarray(layer.padding).reshape(-1, 2)        # ((top, bottom), (left, right)) or ((left, right),)
    x = g.to_onnx(inputs[0])
    pads = [0, 0] + padding[:, 0].tolist() + [0, 0] + padding[:, 1].tolist()
    out = g.add("Pad", [x.name, g.const(f"{layer.name}_pads", pads, np.int64)], layer.name, mode="constant")
    return KTensor(out, _keras_shape(layer), "onnx")


def convert_upsampling(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """UpSampling1D / 2D (nearest): Resize with whole scales, asymmetric coordinates, floor -- each pixel repeated."""
    if getattr(layer, "interpolation", "nearest") != "nearest":
        raise UnsupportedOp(f"interpolation {layer.interpolation!r}; only nearest-neighbour upsampling is exact")
    _check_plain_window(layer, 2)
    size = [int(s) for s in np.atleast_1d(layer.size)]
    x = g.to_onnx(inputs[0])
    out = g.add("Resize", [x.name, "", g.const(f"{layer.name}_scales", [1.0, 1.0] + size)], layer.name,
                mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return KTensor(out, _keras_shape(layer), "onnx")


def convert_flatten(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """Flatten in Keras's order (channels last)."""
    x = g.to_keras(inputs[0])
    if x.rank == 2:
        return x
    return KTensor(g.add("Flatten", [x.name], layer.name, axis=1), _keras_shape(layer), "keras")


def convert_reshape(g: OnnxGraph, layer, inputs: list) -> KTensor:
    """Reshape to one axis is a flatten; any other target shape is refused."""
    if len(layer.target_shape) != 1:
        raise UnsupportedOp(f"a reshape to {layer.target_shape}; convflow takes reshapes that flatten "
                            "(target shape (-1,) or (features,))")
    return convert_flatten(g, layer, inputs)


CONVERTERS = {
    "QConv1D": convert_conv, "QConv2D": convert_conv, "QDepthwiseConv2D": convert_depthwise, "QDense": convert_dense,
    "QActivation": convert_qactivation, "Activation": convert_activation, "ReLU": convert_relu,
    "Softmax": convert_softmax, "BatchNormalization": convert_batchnorm,
    "MaxPooling1D": convert_max_pool, "MaxPooling2D": convert_max_pool,
    "AveragePooling1D": convert_average_pool, "AveragePooling2D": convert_average_pool,
    "QAveragePooling2D": convert_qaverage_pool,
    "GlobalAveragePooling1D": convert_global_average, "GlobalAveragePooling2D": convert_global_average,
    "QGlobalAveragePooling2D": convert_qglobal_average,
    "Add": convert_add, "Concatenate": convert_concatenate,
    "ZeroPadding1D": convert_zero_padding, "ZeroPadding2D": convert_zero_padding,
    "UpSampling1D": convert_upsampling, "UpSampling2D": convert_upsampling,
    "Flatten": convert_flatten, "Reshape": convert_reshape,
    "Dropout": convert_identity, "SpatialDropout1D": convert_identity, "SpatialDropout2D": convert_identity,
    "GaussianNoise": convert_identity, "GaussianDropout": convert_identity, "AlphaDropout": convert_identity,
    "ActivityRegularization": convert_identity,
}
# what keras_rewrites.py turns into the layers above
REWRITTEN = ("QConv2DBatchnorm", "QDepthwiseConv2DBatchnorm", "QDenseBatchnorm", "QSeparableConv2D")


# ------------------------------------------------------------------------------------------- the model
_NOISY_KEYS = ("name", "trainable", "dtype", "kernel_range", "bias_range", "build_config", "activity_regularizer")


def _summary(value):
    if isinstance(value, dict) and "class_name" in value:
        inner = value.get("config") or {}
        return f"{value['class_name']}({', '.join(f'{k}={_summary(v)}' for k, v in inner.items() if v is not None)})"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(str(_summary(v)) for v in value) + ")"
    if isinstance(value, str):                     # e.g. a Lambda's marshalled code: one short line
        text = " ".join(value.split())
        return text if len(text) <= 40 else text[:40] + "..."
    return value


def config_summary(config: dict) -> str:
    """A layer's config in one short line: what decides its numbers, not its initialisers and regularisers."""
    items = [f"{k}={_summary(v)}" for k, v in config.items() if k not in _NOISY_KEYS and v is not None
             and not any(k.endswith(s) for s in ("_initializer", "_regularizer", "_constraint"))]
    text = " ".join(", ".join(items).split())
    return "{" + (text if len(text) < 240 else text[:240] + "...") + "}"


def supported_layers() -> str:
    return ", ".join(sorted(set(CONVERTERS) | set(REWRITTEN)))


def _inbound(entry: dict) -> list:
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise UnsupportedOp(f"it is called {len(nodes)} times (shared layers are not supported)")
    if not nodes:
        return []
    inbound = nodes[0]["args"] if isinstance(nodes[0], dict) else nodes[0]
    names = []
    for item in inbound:
        name, node_index, tensor_index = item[0], item[1], item[2]
        if node_index or tensor_index:
            raise UnsupportedOp("it reads a shared layer's second call or a second output (not supported)")
        names.append(name)
    return names


def convert_model(model, name: str) -> onnx.ModelProto:
    """A functional Keras model made of CONVERTERS' layers -> a QONNX ModelProto named ``name``."""
    config = model.get_config()
    if len(config.get("input_layers", [])) != 1 or len(config.get("output_layers", [])) != 1:
        raise ModelError(f"Keras model {model.name!r} has {len(config.get('input_layers', []))} inputs and "
                         f"{len(config.get('output_layers', []))} outputs; convflow takes exactly one of each")
    g = OnnxGraph()
    tensors: dict = {}
    graph_input = None
    for entry in config["layers"]:
        layer = model.get_layer(entry["name"])
        cls = entry["class_name"]
        where = f"layer {layer.name!r} ({cls}, {config_summary(entry.get('config', {}))})"
        if cls == "InputLayer":
            shape = tuple(layer.output_shape[0][1:] if isinstance(layer.output_shape, list) else
                          layer.output_shape[1:])
            if any(d is None for d in shape):
                raise ModelError(f"{where}: the input has an unknown dimension {shape}; give the model a fixed "
                                 "input shape")
            graph_input = KTensor(g.unique(layer.name), tuple(int(d) for d in shape), "keras")
            tensors[layer.name] = graph_input
            continue
        converter = CONVERTERS.get(cls)
        if converter is None:
            hint = " (a nested model: convflow takes one flat model)" if hasattr(layer, "layers") else \
                " (write it as a Keras layer)" if cls in ("TFOpLambda", "Lambda", "SlicingOpLambda") else ""
            raise UnsupportedOp(f"{where} is not supported{hint}; convflow takes {supported_layers()}")
        try:
            inputs = [tensors[n] for n in _inbound(entry)]
            tensors[layer.name] = converter(g, layer, inputs)
        except UnsupportedOp as exc:
            raise UnsupportedOp(f"{where}: {exc}") from None
        except Exception as exc:         # a pattern this converter did not foresee: still one line naming the layer
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise UnsupportedOp(f"{where} could not be converted: {type(exc).__name__}: {first}") from exc
    out = tensors[config["output_layers"][0][0]]
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info(graph_input.name, TensorProto.FLOAT, graph_input.onnx_shape)],
        [helper.make_tensor_value_info(out.name, TensorProto.FLOAT, out.onnx_shape)], g.initializers)
    proto = helper.make_model(graph, producer_name="convflow (QKeras)",
                              opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(QDOMAIN, 1)])
    proto.ir_version = 8
    return proto
