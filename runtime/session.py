"""Session: the one host API for running an artifact on any backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convflow.compiler.ir.floatops import InputQuantizer

from . import layout
from .artifact import Artifact
from .backends import get_backend
from .inputs import check_batch


class Session:
    """``Session(path, backend="reference").run(x)`` -> integer logits; ``.predict(x)`` -> dequantised floats.

    ``x`` may be integers of the model's input type, or floats in the model's real input domain, which are
    quantised exactly as the source model's input quantiser does (round half to even, clip).  Every batch is
    checked first (runtime/inputs.py): a wrong shape or dtype, a non-finite float or an integer outside the input
    type is an InputError, for every backend."""

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
        """A batch in the source layout or NHWC -> IR integers.  Integer batches are taken as they are; float
        batches go through the model's own input quantiser (its pre-processing ops, then its Quant), exactly."""
        x = check_batch(self.graph, x)              # shape, dtype, range: refused at the door, never wrapped
        if not np.issubdtype(x.dtype, np.integer):
            # pre-processing constants may be per channel of the source layout: quantise in that layout
            if x.shape[1:] != layout.source_shape(self.graph) and x.shape[1:] == tuple(self.input_tensor.shape):
                x = layout.to_source(self.graph, x)
            x = self.input_quantizer(x)
        return layout.to_ir(self.graph, x).astype(np.int64)

    @property
    def input_quantizer(self) -> InputQuantizer:
        return self.graph.host.input.quantizer

    @property
    def input_range(self) -> tuple:
        """(lowest, highest) integer the model's input quantiser produces (narrow ranges exclude the type's min)."""
        q = self.input_quantizer.quantizer
        return q.level_min, q.level_max

    def run(self, x: np.ndarray) -> np.ndarray:
        """Integer outputs (int64) for a batch."""
        return self.backend.run(self.quantize_input(x))

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
