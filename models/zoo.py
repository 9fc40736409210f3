"""The model zoo: small QKeras models built to map exactly onto the integer accelerator.

Rules every zoo model follows (so that the QONNX export is bit-exact in integers):
- the first layer is the input quantiser ``QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1))``
  (unsigned 8 bits, scale 2^-8); the bundled data sets already lie on that grid (see ``convflow.models.data``);
- weights and biases: ``quantized_bits(bits, 0, alpha=1)`` (signed, scale 2^-(bits-1), power of two);
- activations: ``quantized_relu(bits, integer)`` (unsigned, scale 2^-(bits-integer), power of two);
- no BatchNorm, no softmax: the last layer is a QDense with linear activation (integer logits × scale);
  softmax stays on the host.

TensorFlow and QKeras are imported inside the builders only: importing this module stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

INPUT_QUANTIZER = "quantized_bits(8, 0, keep_negative=False, alpha=1)"


class ZooError(KeyError):
    """Unknown zoo model name."""

    def __str__(self):  # KeyError quotes its message; keep it a readable sentence
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    name: str
    dataset: str
    builder: Callable  # () -> keras.Model (uncompiled)
    input_shape: tuple
    epochs: int  # full training
    quick_epochs: int  # CI: a tiny run that still learns something
    quick_samples: int | None = None  # CI: train on the first N samples only (None = all)
    batch_size: int = 64
    learning_rate: float = 1e-3
    description: str = ""
    bits: dict = field(default_factory=dict)


def _q(bits, integer=0):
    """The zoo's weight/bias quantiser: signed, power-of-two scale 2^-(bits-1-integer)."""
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def _input_layers(shape):
    from qkeras import QActivation
    from tensorflow import keras

    inp = keras.Input(shape=shape, name="input")
    x = QActivation(INPUT_QUANTIZER, name="input_quant")(inp)
    return inp, x


def build_lenet_fmnist():
    """LeNet-style: [Conv 5x5 x16 - ReLU4 - MaxPool 2] x2 - Flatten - QDense 10; 4-bit weights and activations."""
    from qkeras import QActivation, QConv2D, QDense
    from tensorflow import keras

    wb = 4
    inp, x = _input_layers((28, 28, 1))
    x = QConv2D(16, (5, 5), padding="valid", kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="conv1")(x)
    x = QActivation("quantized_relu(4, 1)", name="relu1")(x)  # 24x24x16
    x = keras.layers.MaxPooling2D((2, 2), name="pool1")(x)  # 12x12x16
    x = QConv2D(16, (5, 5), padding="valid", kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="conv2")(x)
    x = QActivation("quantized_relu(4, 1)", name="relu2")(x)  # 8x8x16
    x = keras.layers.MaxPooling2D((2, 2), name="pool2")(x)  # 4x4x16
    x = keras.layers.Flatten(name="flatten")(x)  # 256
    x = QDense(10, kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="fc")(x)
    return keras.Model(inp, x, name="lenet_fmnist")


def build_cnn_digits():
    """Tiny ConvNet on 8x8 digits: Conv 3x3 x8 - ReLU4 - MaxPool 2 - Flatten - QDense 10; 4-bit."""
    from qkeras import QActivation, QConv2D, QDense
    from tensorflow import keras

    wb = 4
    inp, x = _input_layers((8, 8, 1))
    x = QConv2D(8, (3, 3), padding="valid", kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="conv1")(x)
    x = QActivation("quantized_relu(4, 1)", name="relu1")(x)  # 6x6x8
    x = keras.layers.MaxPooling2D((2, 2), name="pool1")(x)  # 3x3x8
    x = keras.layers.Flatten(name="flatten")(x)  # 72
    x = QDense(10, kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="fc")(x)
    return keras.Model(inp, x, name="cnn_digits")


def build_mlp_mnist5k():
    """MLP 784-64-32-10 on mnist5k; 4-bit weights, biases and activations."""
    from qkeras import QActivation, QDense
    from tensorflow import keras

    wb = 4
    inp, x = _input_layers((784,))
    x = QDense(64, kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="fc1")(x)
    x = QActivation("quantized_relu(4, 1)", name="relu1")(x)
    x = QDense(32, kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="fc2")(x)
    x = QActivation("quantized_relu(4, 1)", name="relu2")(x)
    x = QDense(10, kernel_quantizer=_q(wb), bias_quantizer=_q(wb), name="fc3")(x)
    return keras.Model(inp, x, name="mlp_mnist5k")


ZOO: dict[str, ModelSpec] = {
    "lenet-fmnist": ModelSpec(
        "lenet-fmnist", "fashion-mnist", build_lenet_fmnist, (28, 28, 1),
        epochs=10, quick_epochs=1, quick_samples=4096, batch_size=64, learning_rate=2e-3,
        description=build_lenet_fmnist.__doc__.strip(), bits={"input": 8, "weights": 4, "activations": 4}),
    "cnn-digits": ModelSpec(
        "cnn-digits", "digits", build_cnn_digits, (8, 8, 1),
        epochs=60, quick_epochs=8, batch_size=32, learning_rate=1e-2,
        description=build_cnn_digits.__doc__.strip(), bits={"input": 8, "weights": 4, "activations": 4}),
    "mlp-mnist5k": ModelSpec(
        "mlp-mnist5k", "mnist5k", build_mlp_mnist5k, (784,),
        epochs=30, quick_epochs=2, batch_size=64, learning_rate=2e-3,
        description=build_mlp_mnist5k.__doc__.strip(), bits={"input": 8, "weights": 4, "activations": 4}),
}


def model_names() -> list[str]:
    return sorted(ZOO)


def get_spec(name: str) -> ModelSpec:
    try:
        return ZOO[name]
    except KeyError:
        raise ZooError(f"unknown zoo model {name!r}; known: {', '.join(model_names())}") from None


def build_model(name: str):
    """A fresh, untrained, uncompiled QKeras model for zoo entry ``name``."""
    return get_spec(name).builder()
