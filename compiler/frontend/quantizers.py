"""Reading a QONNX quantiser node (Quant, BipolarQuant, Trunc) into a floatops.Quantizer."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, Quantizer
from convflow.hw.errors import UnsupportedOp

from .context import attributes


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def read_quantizer(ctx, node) -> Quantizer:
    attrs = attributes(node)
    if node.op_type == "BipolarQuant":
        return Quantizer("bipolar", np.asarray(ctx.const(node.input[1], node, "scale"), F32), bits=1,
                         signed=True, node=node.name)
    if node.op_type == "Trunc":
        zp = ctx.const(node.input[2], node, "zero point")
        return Quantizer("trunc", np.asarray(ctx.const(node.input[1], node, "scale"), F32), float(zp),
                         bits=int(ctx.const(node.input[4], node, "output bit width")),
                         signed=True, rounding=_text(attrs.get("rounding_mode", "FLOOR")),
                         in_bits=int(ctx.const(node.input[3], node, "input bit width")), node=node.name)
    scale = np.asarray(ctx.const(node.input[1], node, "scale"), F32)
    zeropt = np.asarray(ctx.const(node.input[2], node, "zero point"), F32)
    bits = ctx.const(node.input[3], node, "bit width")
    if zeropt.size != 1 or float(zeropt) != round(float(zeropt)):
        raise UnsupportedOp(f"node {node.name!r} (Quant): zero point must be one integer (got {zeropt})")
    if float(bits) != int(bits) or not 1 <= int(bits) <= 32:
        raise UnsupportedOp(f"node {node.name!r} (Quant): bit width {bits} is not an integer in 1..32")
    return Quantizer("quant", scale, float(zeropt), int(bits), bool(attrs.get("signed", 1)),
                     bool(attrs.get("narrow", 0)), _text(attrs.get("rounding_mode", "ROUND")), node=node.name)
