"""Pass: choose PE (output channels in parallel) and SIMD (inputs in parallel) for every matrix-vector unit.

The search lives with the plan it prices (dataflow/folding.py): every layer is folded just enough for the design's
pace, balanced to its slowest stage, for a target (cycles or frames per second) or to fit a device.  With no target
the pace is the input interface's own (one input element per cycle by default): faster layers would only idle.
This pass sets the folding on the graph and records the target in graph.meta["target_cycles"]; compile_model keeps
the whole Folding (dataflow.folding.fold) for the manifest.
"""
from __future__ import annotations

from convflow.compiler.dataflow.folding import fold
from convflow.compiler.ir.graph import Graph


def choose_folding(graph: Graph, target_cycles: int | None = None, overrides: dict | None = None,
                   **options) -> Graph:
    """Set node.pe / node.simd on every MVU node; ``overrides`` maps a layer name to (pe, simd).  ``options``:
    target_fps, clock_mhz, budget (dataflow.folding.fold)."""
    folding = fold(graph, target_cycles=target_cycles, overrides=overrides, **options)
    graph.meta["target_cycles"] = folding.target_cycles
    return graph
