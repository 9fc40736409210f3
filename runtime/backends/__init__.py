"""Backends, one file each, registered by name.  ``get_backend(name)`` imports the backend's module lazily, so
``import convflow.runtime`` never pulls in onnxruntime, TensorFlow or a simulator."""
from __future__ import annotations

import importlib

from convflow.hw.errors import ConvflowError

# name -> module that defines it (imported only when the backend is asked for)
BACKEND_MODULES = {
    "reference": "convflow.runtime.backends.reference",
    "qonnx": "convflow.runtime.backends.qonnx_exec",
    "csim": "convflow.runtime.backends.csim",
    "rtlsim": "convflow.runtime.backends.rtlsim",
    "device": "convflow.runtime.backends.device",
    "gpu": "convflow.runtime.backends.gpu",
}


class UnknownBackend(ConvflowError):
    pass


def get_backend(name: str):
    """The Backend class registered as ``name``."""
    module_name = BACKEND_MODULES.get(name)
    if module_name is None:
        raise UnknownBackend(f"unknown backend {name!r}; known backends: {', '.join(BACKEND_MODULES)}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise UnknownBackend(f"backend {name!r} is not part of this convflow build yet "
                                 f"(known: {', '.join(n for n in BACKEND_MODULES if _exists(n))})") from None
        raise
    return module.BACKEND


def _exists(name: str) -> bool:
    return importlib.util.find_spec(BACKEND_MODULES[name]) is not None


def available_backends() -> list:
    return [n for n in BACKEND_MODULES if _exists(n)]
