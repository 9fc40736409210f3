"""The contract every backend meets (tested for all of them by tests/test_backend_contract.py).

A backend is constructed from a loaded Artifact and runs batches of *integer* inputs (N, *input shape) of the
graph's input type, returning the graph's output integers (N, *output shape) as int64.  It never rounds floats
and never approximates: if it cannot run here (no tool, no board, no GPU) its constructor raises ToolMissing.
"""
from __future__ import annotations

import numpy as np


class Backend:
    name = "base"
    # True where outputs are integers that must equal the reference bit for bit.  The qonnx backend returns the
    # source model's float output, which verify compares after dividing by the output scale.
    integer_exact = True

    def __init__(self, artifact, **options):
        self.artifact = artifact
        self.graph = artifact.graph
        self.options = options
        # Measurements from the last run (cycles per frame, latency ...) for backends that measure them.
        self.stats: dict = {}

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass
