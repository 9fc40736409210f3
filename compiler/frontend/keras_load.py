"""Keras / QKeras models into memory: from .h5, .keras, or .json + weights files (hls4ml's example-models layout),
or a model object the user already holds (as hls4ml's ``convert_from_keras_model`` takes one).

Files are read with QKeras's custom objects registered (QInitializer, QDepthwiseConv2D, the quantisers ...), plus
the ones convflow supplies where the installed QKeras lacks them or cannot read its own files back
(keras_layers.py: QDenseBatchnorm, QActivation).  Whatever Keras,
h5py or QKeras raise on a file they cannot read becomes one ModelError naming the file.  TensorFlow is imported here,
lazily: nothing else of the frontend needs it.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from convflow.hw.errors import ModelError

KERAS_SUFFIXES = (".h5", ".keras", ".json")


def keras_weights_for(json_path: Path):
    """The weights file of a Keras JSON architecture: <stem>_weights.h5 (hls4ml's example models) or <stem>.h5."""
    for candidate in (json_path.with_name(json_path.stem + "_weights.h5"), json_path.with_suffix(".h5")):
        if candidate.is_file():
            return candidate
    return None


def custom_objects() -> dict:
    """QKeras's layers, quantisers and initialisers by name, and convflow's stand-ins for what this QKeras lacks."""
    from qkeras.utils import _add_supported_quantized_objects

    from .keras_layers import convflow_layers, qkeras_fixes

    objects = {}
    _add_supported_quantized_objects(objects)
    for name, cls in convflow_layers().items():
        objects.setdefault(name, cls)
    objects.update(qkeras_fixes())
    return objects


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def load_keras_file(path: Path):
    """A Keras model from ``path`` (.h5, .keras, or .json beside its weights)."""
    import tensorflow as tf

    objects = custom_objects()
    try:
        if path.suffix == ".json":
            weights = keras_weights_for(path)
            if weights is None:
                raise ModelError(f"{path}: a Keras JSON model needs its weights beside it ({path.stem}_weights.h5 "
                                 f"or {path.stem}.h5)")
            model = tf.keras.models.model_from_json(path.read_text(), custom_objects=objects)
            model.load_weights(str(weights))
            return model
        return tf.keras.models.load_model(str(path), custom_objects=objects, compile=False)
    except ModelError:
        raise
    except Exception as exc:          # Keras, h5py, json and QKeras raise anything from ValueError to OSError
        raise ModelError(f"{path}: not a loadable Keras model ({_first_line(exc)}); convflow reads .h5 / .keras "
                         "files saved by model.save, or .json with its _weights.h5") from None


def is_keras_model(source) -> bool:
    """Whether ``source`` is a Keras model object (checked without importing TensorFlow when it is not loaded)."""
    if "tensorflow" not in sys.modules and "keras" not in sys.modules:
        return False
    import tensorflow as tf

    return isinstance(source, tf.keras.Model)


@contextmanager
def keras_quiet():
    """TensorFlow's and Keras's chatter (oneDNN notes, CPU features, deprecation and serialisation warnings) is
    third-party noise on a user's terminal: kept out while convflow reads and converts a Keras model.  TensorFlow's
    C++ logging obeys TF_CPP_MIN_LOG_LEVEL only if it is set before TensorFlow is first imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf

        logger = tf.get_logger()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(level)
