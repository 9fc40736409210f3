"""Lower a cleaned QONNX graph into the integer IR: one walk over the ONNX nodes in topological order.

For each ONNX tensor the walk keeps what it is (values.py) in a LoweringContext (context.py); each ONNX op has one
handler (handlers.py); anything else stops with an UnsupportedOp that names the node and its op type.  The walk
only appends IR nodes.  What needs the finished graph -- moving exact float ops into accumulators, negating
decreasing channels, integer thresholds, the output's dequantisation -- is done by the compile passes (passes/),
run from compile.py.

The numeric contract: every IR tensor is an integer tensor; float ops are either exact re-scalings (absorbed into
scales and integer biases), integer thresholds derived from the exact float semantics, or the host-side input
quantiser / output dequantisation (ir/host.py).
"""
from __future__ import annotations

from onnx import numpy_helper

from convflow.compiler.ir.graph import Graph
from convflow.compiler.ir.host import HostInterface
from convflow.hw.errors import ConvflowError, UnsupportedOp

from .context import LoweringContext, attributes
from .handlers import HANDLERS
from .host_interface import host_output
from .values import Const, HostFloat


def attribute_summary(node) -> str:
    text = ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in attributes(node).items())
    return "{" + (text if len(text) < 200 else text[:200] + "...") + "}"


def lower(model, name: str, float_input=None) -> Graph:
    ctx = LoweringContext(model, name, float_input)
    graph_proto = model.graph
    for init in graph_proto.initializer:
        ctx.values[init.name] = Const(numpy_helper.to_array(init))
    inp = graph_proto.input[0]
    shape = ctx.shape(inp.name)
    if shape[0] != 1 and shape[0] > 0:
        ctx.notes.append(f"model batch dimension {shape[0]} ignored")
    ctx.values[inp.name] = HostFloat([], shape, shape)
    ctx.source_input = inp.name
    for node in graph_proto.node:
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            raise UnsupportedOp(f"node {node.name!r}: op type {node.op_type} is not supported "
                                f"(supported: {', '.join(sorted(HANDLERS))})")
        try:
            handler(ctx, node)
        except ConvflowError:
            raise
        except Exception as exc:     # a pattern the handler did not foresee: still one line naming the node
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}, attributes {attribute_summary(node)}) could "
                                f"not be mapped: {type(exc).__name__}: {exc}") from exc
    output, host_out = host_output(ctx, ctx.output_name or graph_proto.output[0].name)
    host_out.softmax = ctx.softmax
    return Graph(name, ctx.tensors, ctx.nodes, ctx.input_name, output, {"notes": ctx.notes},
                 HostInterface(ctx.host_input, host_out, ctx.exact_ops))
