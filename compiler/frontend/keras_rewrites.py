"""Keras-side rewrites: a QKeras model -> an equal Keras model made only of the layers keras_convert.py converts.

Each rewrite replaces one layer by the layers that compute the same numbers bit for bit in TensorFlow (its docstring
says why), and gets them their weights.  ``rewrite_model`` applies them all on the model's config and returns the
model itself when nothing needs rewriting.  The user's model is never touched: the rewritten one is a new model.
Tests compare ``predict`` of the two.
"""
from __future__ import annotations

import json

import numpy as np

from convflow.hw.errors import UnsupportedOp

from .keras_layers import folded_dense

# keys of a fused layer's config that belong to its BatchNorm (or its folding), not to the plain layer
_BN_KEYS = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
            "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
            "beta_constraint", "gamma_constraint", "renorm", "renorm_clipping", "renorm_momentum", "fused",
            "virtual_batch_size", "adjustment", "ema_freeze_delay", "folding_mode")


def _entry(entry: dict, class_name: str, config: dict, name: str | None = None, inbound=None) -> dict:
    """A layer entry of a functional config, as ``entry`` but of another class / config / name / input."""
    # (a build_config would build the new layer for the old one's input)
    new = {k: v for k, v in entry.items() if k not in ("module", "registered_name", "build_config")}
    new["class_name"] = class_name
    new["config"] = dict(config, name=name or entry["name"])
    new["name"] = name or entry["name"]
    if inbound is not None:
        new["inbound_nodes"] = inbound
    return new


def _plain_config(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in _BN_KEYS}


def _folded(layer, kernel):
    """(folded kernel, folded bias) as numpy float32, computed by TensorFlow as the fused layer's call does."""
    import tensorflow as tf

    bias = layer.bias if layer.use_bias else tf.zeros((int(kernel.shape[-1]),))
    folded_kernel, folded_bias = folded_dense(kernel, bias, layer.batchnorm)
    return np.asarray(folded_kernel, np.float32), np.asarray(folded_bias, np.float32)


def fold_conv_batchnorm(layer, entry: dict) -> list:
    """QConv2DBatchnorm -> QConv2D with the folded kernel and bias and the same quantisers and activation.
    In inference QKeras's layer computes inv = rsqrt(moving variance + eps) * gamma, quantises inv * kernel and
    inv * (bias - moving mean) + beta with its quantisers, convolves with them and adds the bias; the QConv2D gets
    exactly those two float32 tensors (the same TensorFlow ops, in the same order) and applies the same quantisers
    to them, so it computes the same numbers."""
    kernel, bias = _folded(layer, layer.kernel)
    config = dict(_plain_config(entry["config"]), use_bias=True)
    return [(_entry(entry, "QConv2D", config), [kernel, bias])]


def fold_depthwise_batchnorm(layer, entry: dict) -> list:
    """QDepthwiseConv2DBatchnorm -> QDepthwiseConv2D, as fold_conv_batchnorm; QKeras broadcasts inv over the kernel's
    last two axes (channels, depth multiplier), which is the same product as over the flattened output channel."""
    import tensorflow as tf

    kh, kw, channels, multiplier = (int(d) for d in layer.depthwise_kernel.shape)
    flat = tf.reshape(layer.depthwise_kernel, (kh, kw, 1, channels * multiplier))
    kernel, bias = _folded(layer, flat)
    config = dict(_plain_config(entry["config"]), use_bias=True)
    return [(_entry(entry, "QDepthwiseConv2D", config), [kernel.reshape(kh, kw, channels, multiplier), bias])]


def fold_dense_batchnorm(layer, entry: dict) -> list:
    """QDenseBatchnorm -> QDense, as fold_conv_batchnorm (the same fold of kernel and bias, keras_layers.py)."""
    kernel, bias = _folded(layer, layer.kernel)
    config = dict(_plain_config(entry["config"]), use_bias=True)
    return [(_entry(entry, "QDense", config), [kernel, bias])]


def split_separable(layer, entry: dict) -> list:
    """QSeparableConv2D -> QDepthwiseConv2D (no bias, linear) then QConv2D 1x1 (the bias and activation).
    QKeras quantises the two kernels with their own quantisers and calls tf.nn.separable_conv2d, which is
    depthwise_conv2d(x, depthwise) then conv2d(that, pointwise, 1x1, VALID) on a float32 intermediate; the two layers
    apply the same quantisers to the same kernels and run the same two convolutions."""
    config = entry["config"]
    depthwise_name = f"{entry['name']}_depthwise"
    depthwise = {k: config[k] for k in ("kernel_size", "strides", "padding", "data_format", "dilation_rate",
                                        "depth_multiplier", "depthwise_quantizer", "trainable", "dtype")
                 if k in config}
    depthwise.update(use_bias=False, activation="linear")
    pointwise = {k: config[k] for k in ("filters", "data_format", "use_bias", "bias_quantizer", "activation",
                                        "trainable", "dtype") if k in config}
    pointwise.update(kernel_size=(1, 1), strides=(1, 1), padding="valid", kernel_quantizer=config.get(
        "pointwise_quantizer"))
    weights = layer.get_weights()              # depthwise kernel, pointwise kernel (, bias)
    return [(_entry(entry, "QDepthwiseConv2D", depthwise, depthwise_name), [weights[0]]),
            (_entry(entry, "QConv2D", pointwise, inbound=[[[depthwise_name, 0, 0, {}]]]), weights[1:])]


REWRITES = {
    "QConv2DBatchnorm": fold_conv_batchnorm,
    "QDepthwiseConv2DBatchnorm": fold_depthwise_batchnorm,
    "QDenseBatchnorm": fold_dense_batchnorm,
    "QSeparableConv2D": split_separable,
}


def functional(model):
    """The model as a functional one (a Sequential model's layers, called on its inputs)."""
    import tensorflow as tf

    if isinstance(model, tf.keras.Sequential):
        return tf.keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def rewrite_model(model, custom_objects: dict):
    """``model`` (functional) with every layer of REWRITES replaced; the model itself if there is none."""
    import tensorflow as tf

    config = json.loads(model.to_json())["config"]    # serialised as a file holds it (quantisers as dicts)
    if not any(entry["class_name"] in REWRITES for entry in config["layers"]):
        return model
    layers, weights = [], {}
    for entry in config["layers"]:
        layer = model.get_layer(entry["name"])
        rewrite = REWRITES.get(entry["class_name"])
        try:
            replacements = rewrite(layer, entry) if rewrite else [(entry, layer.get_weights())]
        except Exception as exc:
            raise UnsupportedOp(f"layer {layer.name!r} ({entry['class_name']}) could not be rewritten into plain "
                                f"layers: {_first_line(exc)}") from exc
        for new_entry, new_weights in replacements:
            layers.append(new_entry)
            weights[new_entry["name"]] = new_weights
    config["layers"] = layers
    try:
        new_model = tf.keras.Model.from_config(config, custom_objects=custom_objects)
        for name, values in weights.items():
            new_model.get_layer(name).set_weights(values)
    except Exception as exc:
        raise UnsupportedOp(f"Keras model {model.name!r}: its rewritten layers ({', '.join(REWRITES)} replaced) do "
                            f"not build: {_first_line(exc)}") from exc
    return new_model


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
