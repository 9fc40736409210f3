"""The reference backend: the IR executed in exact integer numpy (the oracle for every other backend)."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.interpret import run_graph

from .base import Backend


class ReferenceBackend(Backend):
    name = "reference"

    def run(self, x: np.ndarray) -> np.ndarray:
        return run_graph(self.graph, x)


BACKEND = ReferenceBackend
