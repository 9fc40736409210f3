"""convflow: quantized ConvNets (QKeras, Brevitas, any QONNX exporter) to FPGA streaming dataflow accelerators,
bit-exact on every backend.  The public API, for notebooks and scripts (the ``convflow`` command is the same
library from a shell):

    import convflow

    cfg = convflow.Config(target_fps=100_000, clock_mhz=100, folding={"conv1": {"pe": 4, "simd": 9}})
    art = convflow.compile(keras_model, "build/my_model", cfg)      # a path, a Keras/QKeras model, an ONNX model
    s = convflow.Session(art)                                       # backend="csim" / "rtlsim" / "gpu" / ...
    probs = s.predict(x)                                            # the source's final softmax applied
    layers = s.trace(x)                                             # every layer's integers and floats, by name
    convflow.compare_to_keras(keras_model, art, x)                  # the first layer where Keras differs

``import convflow`` stays light: the compiler (and TensorFlow, for a Keras model) is imported on first use.
Installed as the package's top level from runtime/api/ (the repository's top level is fixed); like the CLI it is
a front door over the compiler and the runtime.  docs/coming-from-hls4ml.md maps hls4ml's calls to these.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

from convflow.hw import VERSION as __version__

if TYPE_CHECKING:                       # for type checkers only: importing them costs numpy and more
    from pathlib import Path

    from convflow.compiler.config import Config

__all__ = ["compile", "Config", "LayerConfig", "InputPrecision", "Session", "Artifact", "compare_to_keras",
           "compare_to_onnx", "__version__"]

# name -> (module, attribute), imported when first asked for (PEP 562)
_LAZY = {
    "Config": ("convflow.compiler.config", "Config"),
    "LayerConfig": ("convflow.compiler.config", "LayerConfig"),
    "InputPrecision": ("convflow.compiler.config", "InputPrecision"),
    "Session": ("convflow.runtime.session", "Session"),
    "Artifact": ("convflow.runtime.artifact", "Artifact"),
    "compare_to_keras": ("convflow.compare", "compare_to_keras"),
    "compare_to_onnx": ("convflow.compare", "compare_to_onnx"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'convflow' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def compile(model: Any, output_dir: Union[str, os.PathLike],
            config: Union[Config, dict, str, os.PathLike, None] = None, **overrides: Any) -> Path:
    """Compile ``model`` into the artifact folder ``output_dir``; returns its path (a ``pathlib.Path``).

    ``model``: a model file (.onnx QONNX, .h5 / .keras, .json + _weights.h5), a Keras / QKeras model object, an
    ``onnx.ModelProto`` or a qonnx ``ModelWrapper``.  ``config``: a ``convflow.Config``, a dict of its fields, or
    the path of a YAML / JSON config file; ``overrides`` change single fields (``clock_mhz=150``), and ``name``,
    ``dataset`` and ``force`` are passed on to the compiler (the artifact's model name, the bundled data set it was
    trained on, writing into a folder that holds other files).  An existing artifact at ``output_dir`` is replaced
    atomically; a bad field is one UsageError naming it; a layer name of ``config.folding`` the model does not
    have is an error listing the model's layers.  The folding chosen is written to ``output_dir/folding.json``."""
    from pathlib import Path

    from convflow.compiler.compile import compile_model
    from convflow.compiler.config import Config

    passed = {k: overrides.pop(k) for k in ("name", "dataset", "force") if k in overrides}
    if config is None:
        cfg = Config()
    elif isinstance(config, Config):
        cfg = config
    elif isinstance(config, dict):
        cfg = Config.from_dict(config)
    elif isinstance(config, (str, Path)):
        cfg = Config.load(config)
    else:
        from convflow.hw.errors import UsageError

        raise UsageError(f"config: a convflow.Config, a dict or a config file path, not {type(config).__name__}")
    if overrides:
        cfg = cfg.replace(**overrides)
    return compile_model(model, output_dir, **cfg.compile_options(), **passed)
