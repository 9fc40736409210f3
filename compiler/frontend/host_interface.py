"""The host's side of the model (ir/host.py): its input quantiser and layout, and where its output comes from.

* ``quantize_host_input``: the model's input quantiser, met on the raw input (after any float pre-processing ops,
  which then run on the host too), becomes the IR input tensor and the host input record.
* ``implicit_input_quantizer``: a layer reads the raw float input with no quantiser in between: convflow feeds it
  as the fixed-point type of ``float_input`` (int16 x 2^-8 by default) and says so in the notes.
* ``host_output``: at the end of the walk, the model output's value names the IR output tensor; float ops still
  pending on it must be affine and are left to the compile passes (absorbed, or the output's dequantisation).
"""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.floatops import F32, InputQuantizer, Quantizer
from convflow.compiler.ir.graph import IntType
from convflow.compiler.ir.host import HostInput, HostOutput, IntTap
from convflow.hw.errors import ModelError, UnsupportedOp

from .layout import input_axes
from .values import HostFloat, IntVal, Pending


def quantize_host_input(ctx, node, host: HostFloat, q: Quantizer, quantised: str | None = None) -> IntVal:
    """The model input through quantiser ``q`` at ``node``; ``quantised`` is the ONNX tensor holding the quantised
    values whose readers tell the layout (the node's output, or for an implicit quantiser the input itself)."""
    if ctx.input_name is not None:
        raise UnsupportedOp(f"node {node.name!r}: a second quantiser on the model input")
    if np.asarray(q.scale).size != 1:
        raise UnsupportedOp(f"node {node.name!r}: the input quantiser must have one scale (per tensor)")
    if q.bipolar:
        raise UnsupportedOp(f"node {node.name!r}: a bipolar input quantiser is not supported yet")
    onnx_shape = host.shape
    axes = input_axes(ctx, quantised or node.output[0], onnx_shape)
    image = len(onnx_shape) in (3, 4)          # an NCHW image or an NCW signal (the IR's 1 x W image)
    ir_shape = tuple(onnx_shape[a] for a in np.argsort(axes))[1:] if image else onnx_shape[1:]
    if len(onnx_shape) == 3:
        ir_shape = (1,) + ir_shape
    dtype = IntType.for_range(q.level_min, q.level_max)
    name = ctx.new_tensor("input", ir_shape, dtype, float(np.asarray(q.scale)))
    ctx.input_name = name
    # source sample -> IR sample: reshape to the quantiser's ONNX shape, then transpose to NHWC (and reshape)
    ctx.host_input = HostInput(InputQuantizer(host.ops, q), tuple(host.source_shape[1:]), tuple(onnx_shape[1:]),
                               [int(a) - 1 for a in np.argsort(axes)[1:]] if image else None)
    return IntVal(name, axes, node.output[0])


def implicit_input_quantizer(ctx, node, host: HostFloat, tensor: str) -> IntVal:
    """A layer reads the raw float input (as ONNX tensor ``tensor``): feed it as the fixed-point type of
    ``ctx.float_input``; the readers of ``tensor`` tell its layout."""
    fi = ctx.float_input
    q = Quantizer("quant", np.asarray(fi["scale"], F32), 0.0, int(fi["bits"]), bool(fi["signed"]), False,
                  "ROUND", node="<implicit input quantizer>")
    name = f"{ctx.source_input}"
    value = quantize_host_input(ctx, node, host, q, quantised=tensor)
    value.onnx_name = name   # the float input itself carries the (on-grid) values
    ctx.notes.append(
        f"the model input {name!r} has no quantiser: convflow feeds it as {IntType(q.bits, q.signed)} with "
        f"scale 2^{int(np.log2(fi['scale']))} (inputs off that grid are rounded half to even; "
        "change with --input-bits/--input-frac-bits)")
    ctx.host_input.implicit = True
    return value


def host_output(ctx, out_name: str) -> tuple:
    """(IR output tensor name, HostOutput) for the ONNX tensor ``out_name`` the model's result is read from."""
    value = ctx.values.get(out_name)
    if isinstance(value, IntVal) and ctx.ir(value).bipolar:
        raise UnsupportedOp(f"the model ends in a bipolar activation ({out_name!r}); convflow returns the integer "
                            "tensor before it (remove the final binarisation, or add a layer after it)")
    pending = ctx.pending(value) if isinstance(value, IntVal) else value
    if isinstance(pending, Pending) and not all(op.is_affine for op in pending.ops):
        raise UnsupportedOp(f"the model ends in non-linear float ops ({', '.join(pending.names)}) with no "
                            "quantiser after them")
    if not isinstance(pending, Pending):
        raise ModelError(f"model output {out_name!r} does not depend on a quantised computation")
    if pending.axes is not None and pending.ops:
        raise UnsupportedOp(f"the model ends in float ops ({', '.join(pending.names)}) moved by a transpose or "
                            "reshape after its last layer; quantise the output, or move the ops before the transpose")
    if ctx.input_name is None:
        raise ModelError("model input is never quantised")
    base = pending.base
    tap = IntTap(base.onnx_name, list(base.axes),
                 flat_perm=None if base.flat_perm is None else base.flat_perm.tolist())
    output = HostOutput(out_name, tap, pending_ops=list(pending.ops), pending_taps=list(pending.taps),
                        pending_names=list(pending.names))
    return base.ir, output
