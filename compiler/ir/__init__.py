"""The integer IR: graph types (graph.py), the exact reference interpreter (interpret.py), (de)serialisation."""
from .graph import (Add, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Node, NODE_TYPES, Shift, SumPool, Tensor,
                    Threshold)
from .interpret import run_graph

__all__ = ["Add", "Conv2D", "Dense", "Flatten", "Graph", "IntType", "MaxPool", "Node", "NODE_TYPES", "Shift",
           "SumPool", "Tensor", "Threshold", "run_graph"]
