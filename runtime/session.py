"""Session: the one host API for running an artifact on any backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convflow.compiler.ir.floatops import InputQuantizer

from . import layout
from .artifact import Artifact
from .backends import get_backend
from .inputs import check_batch, warn_codes


class Session:
    """``Session(path, backend="reference").run(x)`` -> integer logits; ``.predict(x)`` -> dequantised floats
    (with the source model's final softmax, where it has one); ``.trace(x)`` -> every layer's values by name.

    ``x`` may be integers of the model's input type, or floats in the model's real input domain, which are
    quantised exactly as the source model's input quantiser does (round half to even, clip); a batch (N, ...) or
    one sample without the batch axis (its result then has none either).  Every batch is checked first
    (runtime/inputs.py): a wrong shape or dtype, a non-finite float or an integer outside the input type is an
    InputError, for every backend; integers off the quantiser's grid, or that look like raw data rather than its
    codes, get an InputWarning naming the range it expects."""

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
        if np.issubdtype(x.dtype, np.integer):
            if self.graph.host is not None:          # (a graph built by hand has no input quantiser)
                warn_codes(x, self.input_range, self.input_quantizer.quantizer.scale, self.graph.host.input.implicit)
        else:
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
        """Integer outputs (int64) for a batch (or for one sample without the batch axis)."""
        x, single = self._batch(x)
        out = self.backend.run(self.quantize_input(x))
        return out[0] if single else out

    @property
    def softmax(self) -> str | None:
        """The name of the source model's final softmax, which stays on the host (None: the model has none)."""
        return self.graph.host.output.softmax if self.graph.host is not None else None

    def predict(self, x: np.ndarray, softmax: bool | None = None) -> np.ndarray:
        """Dequantised float outputs (scale * int + offset; the host-side affine of the model's tail), then the
        source model's final softmax over the last axis where it has one (``softmax=None``; True / False to force
        it on or off).  ``run`` returns the accelerator's integers."""
        out = self.output_tensor.dequantize(self.run(x))
        if softmax or (softmax is None and self.softmax):
            shifted = np.exp(out - out.max(axis=-1, keepdims=True))
            out = shifted / shifted.sum(axis=-1, keepdims=True)
        return out

    def trace(self, x: np.ndarray) -> dict:
        """Every layer's output for ``x``, keyed by the source model's layer name, in execution order:
        ``{name: LayerTrace(op, tensor, ints, floats)}`` (``floats`` = the integers dequantised, what the source
        model's layer computes), the model input first under its own name.  Computed by the reference interpreter,
        the oracle the other backends equal bit for bit: csim, rtlsim, the device and gpu stream only the design's
        final output, so on those backends the trace also runs the backend and records whether its output equals
        the traced output layer (``trace.backend_equal``).  convflow.compare_to_keras / compare_to_onnx put the
        trace beside the source model's own layers (runtime/trace.py compares them)."""
        from .trace import trace_session

        return trace_session(self, x)

    def _batch(self, x) -> tuple:
        """(a batch, whether ``x`` was one sample without the batch axis)."""
        arr = x if isinstance(x, np.ndarray) else None
        if arr is None:
            try:
                arr = np.asarray(x)
            except (ValueError, TypeError):
                return x, False                 # ragged: check_batch says so
        if arr.ndim >= 1 and arr.shape in (layout.source_shape(self.graph), tuple(self.input_tensor.shape)) \
                and arr.shape[1:] not in (layout.source_shape(self.graph), tuple(self.input_tensor.shape)):
            return arr[None], True
        return x, False

    @property
    def stats(self) -> dict:
        return self.backend.stats

    def close(self):
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
