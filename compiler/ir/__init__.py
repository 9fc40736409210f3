"""The integer IR: graph types (graph.py), the host interface around it (host.py), the exact reference interpreter
(interpret.py), float-op semantics of the source models (floatops.py), (de)serialisation (serialize.py)."""
from .graph import (Add, Concat, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Node, NODE_TYPES, Pad, Requantize,
                    Shift, SumPool, Tensor, Threshold, Upsample)
from .host import HostInput, HostInterface, HostOutput, IntTap
from .interpret import run_graph

__all__ = ["Add", "Concat", "Conv2D", "Dense", "Flatten", "Graph", "HostInput", "HostInterface", "HostOutput", "IntTap",
           "IntType", "MaxPool", "Node", "NODE_TYPES", "Pad", "Requantize", "Shift", "SumPool", "Tensor", "Threshold", "Upsample",
           "run_graph"]
