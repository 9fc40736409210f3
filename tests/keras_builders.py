"""QKeras models in the shapes hls4ml users write, one or more per layer kind convflow takes, with random weights
(seeded; no training: the numbers only have to be exercised).  TensorFlow and QKeras are imported inside the
builders, so importing this module stays light.

``KERAS_MODELS`` maps a name to (builder, keras_exact): keras_exact says whether Keras's own float32 output is exact
on the integer grid (every scale a power of two, every BatchNorm constant exact), so that model.predict must equal
convflow's integers times the output scale bit for bit; otherwise only convflow's reference and the QONNX execution
are compared.
"""
from __future__ import annotations

import numpy as np


def _q():
    import qkeras
    from tensorflow import keras

    return qkeras, keras


def randomise(model, seed: int, scale: float = 0.6):
    """Random normal weights (biases too: the converter must carry them) and BatchNorm statistics with some
    negative gammas."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for weight, value in zip(layer.weights, layer.get_weights()):
            name = weight.name.split("/")[-1]
            if "moving_variance" in name:
                values.append(rng.uniform(0.3, 2.5, value.shape).astype(np.float32))
            elif "gamma" in name:
                values.append((rng.uniform(0.5, 1.5, value.shape) * rng.choice([-1, 1, 1], value.shape))
                              .astype(np.float32))
            elif "iteration" in name:
                values.append(value)
            else:
                values.append((rng.normal(size=value.shape) * scale).astype(np.float32))
        layer.set_weights(values)
    return model


def exact_batchnorm(layer, seed: int):
    """BatchNorm constants Keras computes exactly: gamma = +-2^k, moving variance + epsilon = 4^j (rsqrt exact),
    mean and beta on a 2^-3 grid, so x * a + b is exact in float32 and Keras's output stays on the integer grid."""
    rng = np.random.default_rng(seed)
    c = layer.gamma.shape[0]
    gamma = (2.0 ** rng.integers(-1, 2, c) * rng.choice([-1, 1], c)).astype(np.float32)
    target = (4.0 ** rng.integers(-1, 2, c)).astype(np.float32)
    var = (target - np.float32(layer.epsilon)).astype(np.float32)
    assert np.all(var + np.float32(layer.epsilon) == target)
    mean = (np.round(rng.normal(size=c) * 8) / 8).astype(np.float32)
    beta = (np.round(rng.normal(size=c) * 8) / 8).astype(np.float32)
    layer.set_weights([gamma, beta, mean, var])


def _input(shape, name="x", bits=8, signed=False, integer=0):
    qkeras, keras = _q()
    inp = keras.Input(shape=shape, name=name)
    return inp, qkeras.QActivation(qkeras.quantized_bits(bits, integer, keep_negative=signed, alpha=1),
                                   name=f"{name}_quant")(inp)


def qb(bits=4, integer=0, alpha=1, symmetric=False, keep_negative=True):
    qkeras, _ = _q()
    return qkeras.quantized_bits(bits, integer, symmetric=symmetric, keep_negative=keep_negative, alpha=alpha)


# --------------------------------------------------------------------------------------------- models
def dense_mlp(seed=0):
    """hls4ml's jet-tagger shape: QDense - quantized_relu x3 (6-bit) - QDense - softmax; no input quantiser (the
    compiler feeds a fixed-point input), a symmetric kernel quantiser, a QDense with a quantiser activation."""
    qkeras, keras = _q()
    inp = keras.Input(shape=(16,), name="features")
    x = qkeras.QDense(24, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc1")(inp)
    x = qkeras.QActivation("quantized_relu(6, 0)", name="relu1")(x)
    x = qkeras.QDense(12, kernel_quantizer=qb(6, symmetric=True), bias_quantizer=qb(6), name="fc2",
                      activation=qkeras.quantized_relu(4, 1))(x)
    x = qkeras.QDense(5, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="output")(x)
    x = keras.layers.Activation("softmax", name="softmax")(x)
    return randomise(keras.Model(inp, x, name="dense_mlp"), seed)


def conv2d(seed=0):
    """QConv2D same / valid / stride 2, quantized_relu, MaxPooling2D with stride != pool and SAME padding,
    quantized_bits activations (signed), Flatten, QDense."""
    qkeras, keras = _q()
    inp, x = _input((12, 10, 3))
    x = qkeras.QConv2D(6, (3, 3), padding="same", kernel_quantizer=qb(4), bias_quantizer=qb(4), name="conv1")(x)
    x = qkeras.QActivation("quantized_relu(4, 1)", name="relu1")(x)
    x = keras.layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="pool1")(x)            # 6 x 5
    x = qkeras.QConv2D(8, (3, 3), strides=(2, 2), kernel_quantizer=qb(4), bias_quantizer=qb(6, 2),
                       name="conv2", activation="quantized_bits(5, 2, alpha=1)")(x)                     # 2 x 2
    x = keras.layers.Flatten(name="flatten")(x)
    x = qkeras.QDense(4, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    return randomise(keras.Model(inp, x, name="conv2d"), seed)


def conv1d(seed=0):
    """A 1-D signal net: QConv1D same / causal / stride 2, MaxPooling1D, ZeroPadding1D, AveragePooling1D,
    UpSampling1D, GlobalAveragePooling1D, QDense."""
    qkeras, keras = _q()
    inp, x = _input((24, 2), signed=True)
    x = qkeras.QConv1D(6, 5, padding="same", kernel_quantizer=qb(4), bias_quantizer=qb(4), name="c1")(x)
    x = qkeras.QActivation("quantized_relu(4, 1)", name="r1")(x)
    x = keras.layers.MaxPooling1D(2, name="p1")(x)                                                    # 12
    x = keras.layers.ZeroPadding1D((1, 2), name="zp")(x)                                              # 15
    x = qkeras.QConv1D(5, 3, strides=2, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="c2")(x)   # 7
    x = qkeras.QActivation("quantized_bits(5, 2)", name="q2")(x)
    x = keras.layers.UpSampling1D(2, name="up")(x)                                                    # 14
    x = qkeras.QConv1D(4, 3, padding="causal", kernel_quantizer=qb(4), bias_quantizer=qb(4), name="c3",
                       activation="quantized_relu(4, 1)")(x)
    x = keras.layers.AveragePooling1D(2, name="ap")(x)                                                # 7
    x = qkeras.QActivation("quantized_bits(6, 2)", name="q3")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    x = qkeras.QActivation("quantized_bits(8, 3)", name="q4")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    return randomise(keras.Model(inp, x, name="conv1d"), seed)


def conv1d_flatten(seed=0):
    """QConv1D then Flatten (Keras's (W, C) order) and Reshape((-1,)) into QDense, no input quantiser."""
    qkeras, keras = _q()
    inp = keras.Input(shape=(10, 3), name="signal")
    x = qkeras.QConv1D(4, 3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="c1",
                       activation="quantized_relu(4, 0)")(inp)
    x = keras.layers.Reshape((-1,), name="reshape")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    return randomise(keras.Model(inp, x, name="conv1d_flatten"), seed)


def depthwise(seed=0):
    """QDepthwiseConv2D (depth multiplier 2, stride 2, same) - BatchNormalization - quantized_relu - QConv2D 1x1 -
    GlobalAveragePooling2D - QActivation - QDense (a MobileNet block)."""
    qkeras, keras = _q()
    inp, x = _input((9, 9, 4))
    x = qkeras.QDepthwiseConv2D((3, 3), strides=(2, 2), padding="same", depth_multiplier=2,
                                depthwise_quantizer=qb(4), bias_quantizer=qb(4), name="dw")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = qkeras.QActivation("quantized_relu(4, 1)", name="relu")(x)
    x = qkeras.QConv2D(6, (1, 1), kernel_quantizer=qb(4), bias_quantizer=qb(4), name="pw",
                       activation="quantized_relu(4, 1)")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = qkeras.QActivation("quantized_bits(8, 2)", name="gap_quant")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    model = randomise(keras.Model(inp, x, name="depthwise"), seed)
    exact_batchnorm(model.get_layer("bn"), seed)
    return model


def separable(seed=0):
    """QSeparableConv2D (depth multiplier 1, same) and one with a stride, into QDense (rewritten into depthwise
    + pointwise)."""
    qkeras, keras = _q()
    inp, x = _input((8, 8, 3))
    x = qkeras.QSeparableConv2D(5, (3, 3), padding="same", depthwise_quantizer=qb(4), pointwise_quantizer=qb(4),
                                bias_quantizer=qb(4), name="sep1", activation="quantized_relu(4, 1)")(x)
    x = qkeras.QSeparableConv2D(4, (3, 3), strides=(2, 2), depth_multiplier=2, depthwise_quantizer=qb(4),
                                pointwise_quantizer=qb(4), bias_quantizer=qb(6, 2), name="sep2")(x)
    x = qkeras.QActivation("quantized_bits(6, 2)", name="q2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    return randomise(keras.Model(inp, x, name="separable"), seed)


def fused_batchnorm(seed=0):
    """QConv2DBatchnorm and QDepthwiseConv2DBatchnorm (BatchNorm folded before quantisation), QDenseBatchnorm."""
    qkeras, keras = _q()
    from convflow.compiler.frontend.keras_layers import convflow_layers

    dense_bn = getattr(qkeras, "QDenseBatchnorm", None) or convflow_layers()["QDenseBatchnorm"]
    inp, x = _input((8, 8, 2))
    x = qkeras.QConv2DBatchnorm(6, (3, 3), padding="same", kernel_quantizer=qb(6, 2), bias_quantizer=qb(8, 3),
                                name="conv_bn", activation="quantized_relu(4, 1)")(x)
    x = qkeras.QDepthwiseConv2DBatchnorm((3, 3), strides=(2, 2), depthwise_quantizer=qb(6, 2),
                                         bias_quantizer=qb(8, 3), name="dw_bn")(x)
    x = qkeras.QActivation("quantized_relu(4, 1)", name="relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_bn(8, kernel_quantizer=qb(6, 2), bias_quantizer=qb(8, 3), name="fc_bn",
                 activation="quantized_relu(5, 2)")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    return randomise(keras.Model(inp, x, name="fused_batchnorm"), seed)


def batchnorm(seed=0):
    """QConv2D - BatchNormalization (random statistics, negative gammas) - quantized_relu; QDense - BatchNorm."""
    qkeras, keras = _q()
    inp, x = _input((6, 6, 3))
    x = qkeras.QConv2D(5, (3, 3), kernel_quantizer=qb(4), bias_quantizer=qb(4), name="conv")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = qkeras.QActivation("quantized_relu(4, 1)", name="relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = qkeras.QDense(6, kernel_quantizer=qb(4), use_bias=False, name="fc1")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = qkeras.QActivation("quantized_bits(6, 2)", name="q2")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc2")(x)
    return randomise(keras.Model(inp, x, name="batchnorm"), seed)


def activations(seed=0):
    """Every activation quantiser convflow takes: quantized_bits signed / unsigned / symmetric, quantized_relu,
    quantized_tanh (hard), ternary (threshold 0.5 and QKeras's default 0.33), binary; power-of-two weights."""
    qkeras, keras = _q()
    inp, x = _input((12,), bits=8, signed=True, integer=2)
    x = qkeras.QDense(10, kernel_quantizer=qkeras.quantized_po2(4), bias_quantizer=qb(6, 2), name="po2")(x)
    x = qkeras.QActivation(qkeras.quantized_tanh(4), name="tanh")(x)
    x = qkeras.QDense(10, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc1")(x)
    x = qkeras.QActivation(qkeras.ternary(threshold=0.5), name="ternary_half")(x)
    x = qkeras.QDense(10, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc2")(x)
    x = qkeras.QActivation(qkeras.ternary(), name="ternary")(x)
    x = qkeras.QDense(10, kernel_quantizer=qb(4, symmetric=True), bias_quantizer=qb(4), name="fc3")(x)
    x = qkeras.QActivation(qkeras.quantized_tanh(5, symmetric=True), name="tanh_sym")(x)
    x = qkeras.QDense(8, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc4")(x)
    x = qkeras.QActivation(qb(5, 1, keep_negative=False), name="unsigned")(x)
    x = qkeras.QDense(8, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc5")(x)
    x = qkeras.QActivation(qkeras.binary(alpha=1), name="binary")(x)
    x = qkeras.QDense(4, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="out")(x)
    return randomise(keras.Model(inp, x, name="activations"), seed, scale=1.0)


def binary_net(seed=0):
    """A binarised network (XNOR-popcount layers): binary weights and activations, ternary weights, a QDense."""
    qkeras, keras = _q()
    inp, x = _input((8, 8, 1))
    x = qkeras.QConv2D(8, (3, 3), kernel_quantizer=qb(4), bias_quantizer=qb(4), name="conv1")(x)
    x = qkeras.QActivation(qkeras.binary(), name="bin1")(x)
    x = qkeras.QConv2D(8, (3, 3), kernel_quantizer=qkeras.binary(alpha=1), use_bias=False, name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = qkeras.QActivation(qkeras.binary(), name="bin2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = qkeras.QDense(4, kernel_quantizer=qkeras.ternary(alpha=1), use_bias=False, name="fc")(x)
    model = randomise(keras.Model(inp, x, name="binary_net"), seed)
    exact_batchnorm(model.get_layer("bn"), seed)
    return model


def alphas(seed=0):
    """Weight scales QKeras computes: alpha="auto_po2" (per output channel, from the trained weights), explicit
    power-of-two arrays, a scalar alpha, on QConv2D, QDepthwiseConv2D and QDense, and binary / ternary weights with
    auto_po2."""
    qkeras, keras = _q()
    inp, x = _input((7, 7, 3))
    x = qkeras.QConv2D(6, (3, 3), kernel_quantizer=qb(4, alpha="auto_po2", symmetric=True), bias_quantizer=qb(6, 2),
                       name="auto_po2", activation="quantized_relu(4, 1)")(x)
    x = qkeras.QDepthwiseConv2D((3, 3), depthwise_quantizer=qb(4, alpha="auto_po2", symmetric=True),
                                bias_quantizer=qb(6, 2), name="dw_auto_po2", activation="quantized_relu(4, 1)")(x)
    arr = (2.0 ** np.array([-1, 0, 1, 0, -2, 1, 0, 0])).tolist()
    x = qkeras.QConv2D(8, (1, 1), kernel_quantizer=qb(4, alpha=arr), bias_quantizer=qb(6, 2), name="array",
                       activation="quantized_relu(4, 1)")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = qkeras.QDense(6, kernel_quantizer=qkeras.binary(alpha="auto_po2"), bias_quantizer=qb(6, 2),
                      name="binary_auto", activation="quantized_relu(4, 1)")(x)
    x = qkeras.QDense(6, kernel_quantizer=qkeras.ternary(alpha="auto_po2"), bias_quantizer=qb(6, 2),
                      name="ternary_auto", activation="quantized_relu(4, 1)")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4, alpha=0.5), bias_quantizer=qb(4), name="scalar_alpha")(x)
    return randomise(keras.Model(inp, x, name="alphas"), seed)


def learned_alphas(seed=0):
    """Scales that are not powers of two: alpha="auto" and an explicit float array (Keras's float32 sums then
    round differently from the integers, so only convflow and the QONNX execution are compared)."""
    qkeras, keras = _q()
    inp, x = _input((6, 6, 2))
    x = qkeras.QConv2D(4, (3, 3), kernel_quantizer=qb(4, alpha="auto", symmetric=True), bias_quantizer=qb(6, 2),
                       name="auto", activation="quantized_relu(4, 1)")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(5, alpha=[0.37, 1.3, 0.81]), bias_quantizer=qb(4), name="fc")(x)
    return randomise(keras.Model(inp, x, name="learned_alphas"), seed)


def pools(seed=0):
    """QAveragePooling2D with an average quantiser (x area x quantised 1 / area) and without, AveragePooling2D,
    QGlobalAveragePooling2D with an average quantiser and activation, MaxPooling2D."""
    qkeras, keras = _q()
    inp, x = _input((12, 12, 2))
    x = qkeras.QConv2D(4, (3, 3), padding="same", kernel_quantizer=qb(4), bias_quantizer=qb(4), name="conv",
                       activation="quantized_relu(4, 1)")(x)
    x = qkeras.QAveragePooling2D((2, 2), average_quantizer=qb(8, 0), activation="quantized_bits(6, 2)",
                                 name="qavg")(x)                                                       # 6 x 6
    x = qkeras.QAveragePooling2D((3, 3), name="qavg_plain")(x)                                         # 2 x 2
    x = qkeras.QActivation("quantized_bits(6, 2)", name="q1")(x)
    x = keras.layers.UpSampling2D((3, 3), name="up")(x)                                                # 6 x 6
    x = keras.layers.AveragePooling2D((2, 2), name="avg")(x)                                           # 3 x 3
    x = qkeras.QActivation("quantized_bits(6, 2)", name="q2")(x)
    x = qkeras.QGlobalAveragePooling2D(average_quantizer=qb(8, 0), activation="quantized_bits(8, 2)",
                                       name="qgap")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    return randomise(keras.Model(inp, x, name="pools"), seed)


def residual(seed=0):
    """Add of two quantised branches on one grid, Concatenate, ZeroPadding2D, UpSampling2D, MaxPooling2D, and a
    three-way Add."""
    qkeras, keras = _q()
    inp, x = _input((8, 8, 3))
    a = qkeras.QConv2D(4, (1, 1), kernel_quantizer=qb(4), bias_quantizer=qb(4), name="stem",
                       activation="quantized_relu(4, 1)")(x)
    b = qkeras.QConv2D(4, (3, 3), padding="same", kernel_quantizer=qb(4), bias_quantizer=qb(4), name="branch",
                       activation="quantized_relu(4, 1)")(a)
    s = keras.layers.Add(name="add")([a, b])
    s = qkeras.QActivation("quantized_relu(4, 2)", name="add_quant")(s)
    c = keras.layers.Concatenate(name="concat")([s, a])                                                # 8 ch
    c = keras.layers.MaxPooling2D(2, name="pool")(c)                                                   # 4 x 4
    c = keras.layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad")(c)                                   # 5 x 5
    d = qkeras.QConv2D(4, (2, 2), kernel_quantizer=qb(4), bias_quantizer=qb(4), name="conv",
                       activation="quantized_relu(4, 1)")(c)                                           # 4 x 4
    u = keras.layers.UpSampling2D(2, name="up")(d)                                                     # 8 x 8
    e = keras.layers.Add(name="add3")([u, a, b])
    e = qkeras.QActivation("quantized_bits(6, 3)", name="add3_quant")(e)
    f = keras.layers.Flatten(name="flatten")(keras.layers.MaxPooling2D(4, name="pool2")(e))
    f = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(f)
    return randomise(keras.Model(inp, f, name="residual"), seed)


def sequential(seed=0):
    """A Sequential model (the layers' input shape on the first), with a Dropout and a ReLU-then-quantiser pair."""
    qkeras, keras = _q()
    model = keras.Sequential([
        qkeras.QActivation(qb(8, 0, keep_negative=False), input_shape=(6, 6, 1), name="in_quant"),
        qkeras.QConv2D(4, (3, 3), kernel_quantizer=qb(4), bias_quantizer=qb(4), name="conv"),
        keras.layers.ReLU(name="relu"),
        qkeras.QActivation("quantized_relu(4, 1)", name="relu_quant"),
        keras.layers.Dropout(0.3, name="dropout"),
        keras.layers.Flatten(name="flatten"),
        qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc"),
    ], name="sequential")
    return randomise(model, seed)


KERAS_MODELS = {
    "dense_mlp": (dense_mlp, True), "conv2d": (conv2d, True), "conv1d": (conv1d, True),
    "conv1d_flatten": (conv1d_flatten, True), "depthwise": (depthwise, True), "separable": (separable, True),
    "fused_batchnorm": (fused_batchnorm, False), "batchnorm": (batchnorm, False),
    "activations": (activations, True), "binary_net": (binary_net, True), "alphas": (alphas, True),
    "learned_alphas": (learned_alphas, False), "pools": (pools, True), "residual": (residual, True),
    "sequential": (sequential, True),
}


# --------------------------------------------------------------------------------------------- refused models
def _refused(layer_fn, shape=(6, 6, 2)):
    def build():
        _, keras = _q()
        inp, x = _input(shape)
        return keras.Model(inp, layer_fn(x), name="refused")
    return build


def _crop(x):
    return _q()[1].layers.Cropping2D(1, name="crop")(x)


def _multiply(x):
    keras = _q()[1]
    return keras.layers.Multiply(name="times")([x, x])


# name -> (builder, what the one-line error must say): models convflow must refuse, naming the layer
UNSUPPORTED = {
    "cropping": (_refused(_crop), r"layer 'crop' \(Cropping2D, \{cropping=.*\}\) is not supported; convflow takes "
                                  r".*QConv2D"),
    "multiply": (_refused(_multiply), r"layer 'times' \(Multiply, .*is not supported"),
    "po2_activation": (_refused(lambda x: _q()[0].QActivation(_q()[0].quantized_po2(4), name="po2_act")(x)),
                       r"layer 'po2_act' \(QActivation, .*quantized_po2.*not exact.*convflow takes quantized_bits"),
    "real_tanh": (_refused(lambda x: _q()[0].QActivation(_q()[0].quantized_tanh(4, use_real_tanh=True),
                                                          name="tanh")(x)), r"layer 'tanh' .*use_real_tanh"),
    "float_conv": (_refused(lambda x: _q()[1].layers.Conv2D(2, (3, 3), name="float_conv")(x)),
                   r"layer 'float_conv' \(Conv2D.*is not supported"),
    "unquantised_kernel": (_refused(lambda x: _q()[0].QConv2D(2, (3, 3), name="noq")(x)),
                           r"layer 'noq' \(QConv2D.*kernel has no quantiser"),
    "avg_same": (_refused(lambda x: _q()[1].layers.AveragePooling2D(3, strides=2, padding="same", name="avg")(x)),
                 r"layer 'avg' \(AveragePooling2D.*SAME padding of an average pool"),
    "lambda": (_refused(lambda x: _q()[1].layers.Lambda(lambda t: t * 2, name="times2")(x)),
               r"layer 'times2' \(Lambda.*write it as a Keras layer"),
    "dilation": (_refused(lambda x: _q()[0].QConv2D(2, (3, 3), dilation_rate=2, kernel_quantizer=qb(4),
                                                     name="dilated")(x), shape=(8, 8, 2)),
                 r"layer 'dilated' .*dilation is not supported"),
    "auto_activation": (_refused(lambda x: _q()[0].QActivation(qb(4, alpha="auto", symmetric=True),
                                                               name="auto_act")(x)),
                        r"layer 'auto_act' .*alpha='auto' on an activation"),
    "leaky_quantized_relu": (_refused(lambda x: _q()[0].QActivation("quantized_relu(4, 0, negative_slope=0.25)",
                                                                    name="leaky")(x)),
                             r"layer 'leaky' .*negative_slope"),
}
