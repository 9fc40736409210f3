"""Keras layer classes convflow supplies where the installed QKeras has none or cannot read its own files, so that
every model QKeras saves deserialises.

* ``QActivation``: QKeras's own, reading its activation back from a config.  Given a quantiser object
  (``QActivation(quantized_bits(8, 0))``, as hls4ml's tutorials write it), QKeras 0.9 stores the object, Keras 2.15
  writes it to .keras / .json files as a {"class_name", "config"} dict, and QKeras's constructor then keeps that
  dict as its quantiser, so the model fails to load ("could not be deserialized properly"); .h5 files happen to
  work.  This subclass turns the dict back into the quantiser first.

* ``QDenseBatchnorm``: QKeras's Dense layer with its BatchNorm folded in before quantisation (QKeras master; not
  in the 0.9.0 release this project pins, whose loader then fails with "Unknown layer").  Same constructor
  arguments, config keys and weights (kernel, bias, the BatchNorm's gamma, beta, moving mean and variance, and an
  iteration counter, in QKeras's order), so its .h5 / .keras files load.  Only inference is defined: the
  BatchNorm statistics are the moving ones, as QKeras uses them once training stops; ``folded_dense`` is that
  computation, shared with the rewrite that turns the layer into a QDense (keras_rewrites.py).
"""
from __future__ import annotations

_CLASSES: dict = {}
_OVERRIDES: dict = {}

# the BatchNormalization arguments QDenseBatchnorm takes next to QDense's own
_BN_ARGS = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
            "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
            "beta_constraint", "gamma_constraint", "renorm", "renorm_clipping", "renorm_momentum", "fused",
            "virtual_batch_size", "adjustment")


def folded_dense(kernel, bias, batchnorm):
    """(kernel, bias) of a Dense layer with its BatchNorm folded in, in float32 by TensorFlow in QKeras's order:
    inv = rsqrt(moving variance + epsilon) * gamma, kernel * inv, inv * (bias - moving mean) + beta."""
    import tensorflow as tf

    inv = tf.math.rsqrt(batchnorm.moving_variance + batchnorm.epsilon)
    if batchnorm.gamma is not None:
        inv = inv * batchnorm.gamma
    folded_bias = inv * (bias - batchnorm.moving_mean)
    if batchnorm.beta is not None:
        folded_bias = folded_bias + batchnorm.beta
    return inv * kernel, folded_bias


def qkeras_fixes() -> dict:
    """{class name: class} replacing QKeras's own for deserialising (they subclass them, and keep their names)."""
    if _OVERRIDES:
        return _OVERRIDES
    import qkeras
    from qkeras.quantizers import get_quantizer

    class QActivation(qkeras.QActivation):
        """QKeras's QActivation, whose activation may come back from a file as a serialised quantiser."""

        @classmethod
        def from_config(cls, config):
            config = dict(config)
            if isinstance(config.get("activation"), dict):
                config["activation"] = get_quantizer(config["activation"])
            return cls(**config)

    _OVERRIDES["QActivation"] = QActivation
    return _OVERRIDES


def convflow_layers() -> dict:
    """{class name: class} of the stand-ins, defined once per process (they subclass QKeras's layers)."""
    if _CLASSES:
        return _CLASSES
    import tensorflow as tf
    from qkeras import QDense

    class QDenseBatchnorm(QDense):
        """QKeras's QDenseBatchnorm, for inference (see the module docstring)."""

        def __init__(self, units, ema_freeze_delay=None, folding_mode="ema_stats_folding", **kwargs):
            bn_args = {key: kwargs.pop(key) for key in _BN_ARGS if key in kwargs}
            bn_args.setdefault("epsilon", 0.001)
            super().__init__(units, **kwargs)
            self.batchnorm = tf.keras.layers.BatchNormalization(**bn_args)
            self.ema_freeze_delay = ema_freeze_delay
            self.folding_mode = folding_mode

        def build(self, input_shape):
            super().build(input_shape)
            self._iteration = tf.Variable(-1, trainable=False, name="iteration", dtype=tf.int64)
            self.batchnorm.build(tuple(input_shape[:-1]) + (self.units,))

        def call(self, inputs):
            bias = self.bias if self.use_bias else tf.zeros((self.units,))
            kernel, folded_bias = folded_dense(self.kernel, bias, self.batchnorm)
            if self.kernel_quantizer_internal is not None:
                kernel = self.kernel_quantizer_internal(kernel)
            if self.bias_quantizer_internal is not None:
                folded_bias = self.bias_quantizer_internal(folded_bias)
            outputs = tf.keras.backend.bias_add(tf.keras.backend.dot(inputs, kernel), folded_bias,
                                                data_format="channels_last")
            return self.activation(outputs) if self.activation is not None else outputs

        def get_config(self):
            config = super().get_config()
            bn_config = self.batchnorm.get_config()
            for key in _BN_ARGS:
                if key in bn_config:
                    config[key] = bn_config[key]
            config.update(ema_freeze_delay=self.ema_freeze_delay, folding_mode=self.folding_mode)
            return config

    _CLASSES["QDenseBatchnorm"] = QDenseBatchnorm
    return _CLASSES
