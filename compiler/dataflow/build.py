"""build_plan(graph): the hardware plan of an IR graph (dataflow/plan.py), built once for every back end."""
from __future__ import annotations

from convflow.compiler.ir.graph import Graph
from convflow.hw.errors import ModelError, UnsupportedOp

from .builders import BUILDERS
from .fifo_depths import size_fork_fifos
from .plan import Plan
from .plumbing import fork

_OUTPUT = "graph output"      # the reader key of the design's output port


def build_plan(graph: Graph) -> Plan:
    """The stages implementing ``graph``: its input arrives one element per beat, its output leaves one element
    per beat; a tensor read by several stages is forked; FIFOs behind forks are sized from the branches."""
    plan = Plan(graph)
    streams = {}           # (tensor, reader) -> the Stream that carries tensor to that reader

    def publish(tensor: str) -> None:
        readers = [(id(node), slot) for node in graph.nodes for slot, name in enumerate(node.inputs)
                   if name == tensor] + ([_OUTPUT] if tensor == graph.output else [])
        if not readers:
            raise ModelError(f"tensor {tensor!r} is computed but never read; run the clean-up passes")
        for reader, stream in zip(readers, fork(plan, tensor, len(readers))):
            streams[(tensor, reader)] = stream

    publish(graph.input)
    for node in graph.nodes:
        builder = BUILDERS.get(type(node))
        if builder is None:
            raise UnsupportedOp(f"{node.op} {node.name!r}: no hardware stage for this op")
        inputs = [streams[(name, (id(node), slot))] for slot, name in enumerate(node.inputs)]
        plan.cur = inputs[0]
        builder(plan, node, inputs)
        publish(node.output)
    plan.cur = streams[(graph.output, _OUTPUT)]
    plan.adapt(1, "output")
    plan.output = plan.cur
    size_fork_fifos(plan)
    return plan
