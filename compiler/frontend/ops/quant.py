"""Quant, BipolarQuant, Trunc: quantise a constant (weights), the model input, or an integer tensor's float path."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32
from convflow.hw.errors import UnsupportedOp

from ..host_interface import quantize_host_input
from ..quantizers import read_quantizer
from ..requantize import requantize
from ..values import Const, HostFloat, IntVal, Pending, QConst


def on_quant(ctx, node):
    value = ctx.get(node.input[0], node)
    q = read_quantizer(ctx, node)
    if isinstance(value, Const):
        ctx.value_out(node, QConst(q.levels(value.value), np.asarray(q.scale, F32), node.name))
    elif isinstance(value, HostFloat):
        ctx.value_out(node, quantize_host_input(ctx, node, value, q))
    elif isinstance(value, (IntVal, Pending)):
        ctx.value_out(node, requantize(ctx, node, value, q))
    else:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): cannot quantise {type(value).__name__}")
