"""Session: the one host API for running an artifact on any backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convflow.compiler.ir.interpret import round_half_even_shift  # noqa: F401  (re-exported for users)

from .artifact import Artifact
from .backends import get_backend


class Session:
    """``Session(path, backend="reference").run(x)`` -> integer logits; ``.predict(x)`` -> dequantised floats.

    ``x`` may be integers of the model's input type, or floats in the model's real input domain, which are
    quantised exactly as the source model's input quantiser does (round half to even, clip)."""

    def __init__(self, artifact, backend: str = "reference", **options):
        self.artifact = artifact if isinstance(artifact, Artifact) else Artifact.load(Path(artifact))
        self.graph = self.artifact.graph
        self.backend_name = backend
        self.backend = get_backend(backend)(self.artifact, **options)

    @property
    def input_tensor(self):
        return self.graph.input_tensor

    @property
    def output_tensor(self):
        return self.graph.output_tensor

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Real-valued input -> integers of the input type (the source model's own input quantiser)."""
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.integer):
            return x.astype(np.int64)
        t = self.input_tensor
        q = np.round(x.astype(np.float64) / t.scale)        # numpy rounds half to even, as QONNX's Quant does
        return np.clip(q, t.dtype.min, t.dtype.max).astype(np.int64)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Integer outputs (int64) for a batch."""
        x = np.asarray(x)
        if x.shape[1:] != tuple(self.input_tensor.shape) and x.shape[1:] == tuple(self.graph.meta.get("source_input_shape", ())):
            x = self.to_ir_layout(x)
        return self.backend.run(self.quantize_input(x))

    def to_ir_layout(self, x: np.ndarray) -> np.ndarray:
        """Source-model layout (e.g. NCHW) -> the IR's NHWC."""
        perm = self.graph.meta.get("source_to_ir_perm")
        if perm:
            x = np.transpose(x, [0] + [p + 1 for p in perm])
        return x.reshape((x.shape[0],) + tuple(self.input_tensor.shape))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Dequantised float outputs (scale * int + offset; the host-side affine of the model's tail)."""
        return self.output_tensor.dequantize(self.run(x))

    @property
    def stats(self) -> dict:
        return self.backend.stats

    def close(self):
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
