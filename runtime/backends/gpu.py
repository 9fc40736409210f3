"""The gpu backend: the artifact's ``gpu/model.onnx`` (the integer IR as an exact float64 ONNX graph, written by
compiler/emit/onnx.py) run with ONNX Runtime.

Provider: CUDA where ``onnxruntime-gpu`` is installed and a GPU answers, otherwise ONNX Runtime's CPU provider,
with one notice saying so.  ``provider="cuda"`` demands CUDA (ToolMissing if it cannot start), ``provider="cpu"``
never tries it.  The graph computes in float64 with every intermediate below 2**53, so both providers give the
reference integers exactly (no float32, no TF32).

Measurements come from the run itself, so every input is computed exactly once: the first inputs go through one
at a time (batch-1 latency: the median), then the rest in batches of growing size (two batches of each, the faster
counts), and whatever is left at the fastest size.  ``stats``: provider, latency_ms (batch 1), frames_per_second
(best batch), best_batch, frames_per_second_by_batch.
"""
from __future__ import annotations

import time

import numpy as np

from convflow.hw.console import notice
from convflow.hw.errors import ArtifactError, ToolMissing

from .base import Backend

LATENCY_FRAMES = 16                    # single-frame runs timed for the batch-1 latency
BATCH_SIZES = (16, 64, 256, 1024)      # tried in this order, two batches each, while inputs last
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ToolMissing("the gpu backend needs ONNX Runtime: pip install onnxruntime (CPU) or onnxruntime-gpu "
                          "(CUDA; the `gpu` extra of convflow)") from None
    return onnxruntime


class GpuBackend(Backend):
    name = "gpu"

    def __init__(self, artifact, **options):
        super().__init__(artifact, **options)
        model = artifact.source_path("gpu") / "model.onnx"
        if not model.is_file():
            raise ArtifactError(f"{artifact.path}: the manifest names gpu/, but {model} is missing; recompile")
        ort = _onnxruntime()
        want = options.get("provider")
        if want not in (None, "cpu", "cuda"):
            raise ValueError(f"gpu backend: provider must be 'cpu' or 'cuda', not {want!r}")
        available = ort.get_available_providers()
        so = ort.SessionOptions()
        so.log_severity_level = 3          # ONNX Runtime's own warnings stay off the terminal
        providers = [CPU]
        if want != "cpu" and CUDA in available:
            providers = [CUDA, CPU]
        elif want == "cuda":
            raise ToolMissing("gpu backend: provider 'cuda' asked for, but this ONNX Runtime has no CUDA provider; "
                              "install onnxruntime-gpu in place of onnxruntime")
        self.session = ort.InferenceSession(str(model), so, providers=providers)
        self.provider = self.session.get_providers()[0]
        if self.provider != CUDA:
            if want == "cuda":
                raise ToolMissing("gpu backend: the CUDA provider did not start (no GPU, or a CUDA/cuDNN mismatch)")
            why = ("the CUDA provider did not start (no GPU?)" if CUDA in available
                   else "onnxruntime-gpu is not installed")
            if want != "cpu":
                notice(f"gpu backend: {why}; running gpu/model.onnx on ONNX Runtime's CPU provider")
        self.stats = {"provider": self.provider}

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": x})[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x), dtype=np.int64)
        n = x.shape[0]
        out_shape = tuple(self.graph.output_tensor.shape)
        if n == 0:
            return np.zeros((0, *out_shape), dtype=np.int64)
        outputs, done = [], 0
        latencies = []
        for i in range(min(n, LATENCY_FRAMES)):
            t0 = time.perf_counter()
            outputs.append(self._run(x[i:i + 1]))
            latencies.append(time.perf_counter() - t0)
        done = len(latencies)
        rate = {1: 1.0 / min(latencies)}
        for size in BATCH_SIZES:
            for _ in range(2):
                if n - done < size:
                    break
                t0 = time.perf_counter()
                outputs.append(self._run(x[done:done + size]))
                rate[size] = max(rate.get(size, 0.0), size / (time.perf_counter() - t0))
                done += size
        best = max(rate, key=rate.get)
        while done < n:
            outputs.append(self._run(x[done:done + best]))
            done += best
        self.stats = {"provider": self.provider, "latency_ms": 1e3 * float(np.median(latencies)),
                      "frames_per_second": rate[best], "best_batch": best,
                      "frames_per_second_by_batch": {str(k): round(v, 1) for k, v in sorted(rate.items())}}
        return np.concatenate(outputs).astype(np.int64, copy=False).reshape((n, *out_shape))


BACKEND = GpuBackend
