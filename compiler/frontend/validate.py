"""Checks on a model at the door, before anything large is allocated or any tool sees it.

Two stages, because some faults must be caught before ONNX's own shape inference runs (a stride of 0 makes its
C++ divide by zero and kill the process with SIGFPE, no Python exception at all):

* ``check_structure(proto)`` -- on the model as loaded: an opset this toolchain knows, one input and one output,
  window attributes (kernel, strides, dilations, group) that are positive, pads that are not negative, every
  dimension of the declared shapes positive.
* ``check_values(model, max_elements)`` -- on the cleaned model (shapes inferred, constants folded): every tensor
  within ``max_elements`` elements, every float constant finite, every quantiser's scale finite and positive and
  its zero point, bit width and rounding mode meaningful, and an output that is not the input itself.

Every refusal is one ModelError / UnsupportedOp naming the node or tensor and what to do.
"""
from __future__ import annotations

import os

import numpy as np
from onnx import helper, numpy_helper

from convflow.compiler.ir.floatops import ROUNDING
from convflow.hw.errors import ModelError, UnsupportedOp

# the standard-domain opsets the frontend's handlers are written against (ONNX 1.17 reads up to 22)
OPSET_RANGE = (7, 22)
# the largest tensor (activation or constant) a model may have, in elements: far beyond any FPGA design, and small
# enough that compile's checks and the reference never exhaust memory (CONVFLOW_MAX_ELEMENTS overrides it)
DEFAULT_MAX_ELEMENTS = 1 << 24
# scales outside this range cannot come from training; they overflow the float32 the source model computes in
SCALE_RANGE = (2.0 ** -60, 2.0 ** 60)
_WINDOW_OPS = ("Conv", "MaxPool", "AveragePool", "ConvTranspose")


def max_elements() -> int:
    text = os.environ.get("CONVFLOW_MAX_ELEMENTS")
    if text is None:
        return DEFAULT_MAX_ELEMENTS
    try:
        value = int(text)
    except ValueError:
        raise ModelError(f"CONVFLOW_MAX_ELEMENTS={text!r} is not a whole number of elements") from None
    if value < 1:
        raise ModelError(f"CONVFLOW_MAX_ELEMENTS={text!r} must be at least 1")
    return value


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _size_refusal(what: str, dims, limit: int) -> str:
    size = int(np.prod([max(int(d), 1) for d in dims], dtype=np.float64))
    if size <= limit:
        return ""
    return (f"{what} of shape {[int(d) for d in dims]} has {size:,} elements, more than convflow's limit of "
            f"{limit:,} (CONVFLOW_MAX_ELEMENTS raises it)")


def check_structure(proto, where: str, limit: int) -> None:
    """``where``: the file (or "the model") for messages; ``limit``: the most elements one tensor may have.

    Sizes are checked here too, on the declared shapes and the constants' dims, because qonnx's clean-up allocates
    every tensor it infers (a 10000 x 10000 input took 6 GB there)."""
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    version = opsets.get("ai.onnx")
    if version is not None and not OPSET_RANGE[0] <= version <= OPSET_RANGE[1]:
        raise ModelError(f"{where}: ONNX opset {version}; convflow reads opsets {OPSET_RANGE[0]} to "
                         f"{OPSET_RANGE[1]} (re-export the model with one of them)")
    graph = proto.graph
    if not graph.node:
        raise ModelError(f"{where}: the graph has no nodes")
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelError(f"{where}: {len(inputs)} input(s) and {len(graph.output)} output(s); convflow takes a model "
                         "with exactly one of each")
    for value in list(inputs) + list(graph.output) + list(graph.value_info):
        dims = value.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value <= 0 and not (i == 0 and d.dim_value == 0):
                raise ModelError(f"{where}: tensor {value.name!r} has a dimension of size {d.dim_value}")
        if dims and all(d.HasField("dim_value") for d in dims):
            refusal = _size_refusal(f"tensor {value.name!r}", [d.dim_value for d in dims], limit)
            if refusal:
                raise ModelError(f"{where}: {refusal}")
    for init in graph.initializer:
        refusal = _size_refusal(f"constant {init.name!r}", init.dims, limit)
        if refusal:
            raise ModelError(f"{where}: {refusal}")
    for node in graph.node:
        if node.op_type not in _WINDOW_OPS:
            continue
        a = _attrs(node)
        for key in ("kernel_shape", "strides", "dilations"):
            if key in a and any(int(v) < 1 for v in a[key]):
                raise ModelError(f"node {node.name!r} ({node.op_type}): {key} {list(a[key])} must be positive")
        if "pads" in a and any(int(v) < 0 for v in a["pads"]):
            raise ModelError(f"node {node.name!r} ({node.op_type}): pads {list(a['pads'])} must not be negative")
        if "group" in a and int(a["group"]) < 1:
            raise ModelError(f"node {node.name!r} ({node.op_type}): group {a['group']} must be positive")


def _const(model, name: str):
    init = model.get_initializer(name)
    return None if init is None else np.asarray(init)


# what each input of a quantiser is, so a message about a constant says what the user would recognise
_QUANT_ROLES = {"Quant": ("input", "scale", "zero point", "bit width"),
                "BipolarQuant": ("input", "scale"),
                "Trunc": ("input", "scale", "zero point", "input bit width", "output bit width")}


def _role_of(graph, name: str) -> str:
    """' (the scale of Quant node 'q1')' for the first node that reads ``name``; '' when none does."""
    for node in graph.node:
        for i, feed in enumerate(node.input):
            if feed == name:
                roles = _QUANT_ROLES.get(node.op_type, ())
                role = roles[i] if i < len(roles) else f"input {i}"
                return f" (the {role} of {node.op_type} node {node.name!r})"
    return ""


def check_values(model, limit: int) -> None:
    """On the cleaned qonnx ModelWrapper."""
    graph = model.graph
    if graph.output[0].name == graph.input[0].name:
        raise ModelError(f"the model's output {graph.output[0].name!r} is its input: there is nothing to compile")
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.size > limit:
            raise ModelError(f"constant {init.name!r} has {array.size:,} elements, more than convflow's limit of "
                             f"{limit:,} (CONVFLOW_MAX_ELEMENTS raises it)")
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            bad = int(np.flatnonzero(~np.isfinite(array.reshape(-1)))[0])
            raise ModelError(f"constant {init.name!r}{_role_of(graph, init.name)} holds {array.reshape(-1)[bad]} "
                             f"(element {bad}): a model's weights, scales and parameters must be finite")
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        shape = model.get_tensor_shape(value.name)
        if shape and all(isinstance(d, int) for d in shape):
            size = int(np.prod([max(d, 1) for d in shape]))
            if size > limit or any(d <= 0 for d in shape[1:]):
                raise ModelError(f"tensor {value.name!r} of shape {list(shape)}: "
                                 + (f"{size:,} elements, more than convflow's limit of {limit:,} (CONVFLOW_MAX_"
                                    "ELEMENTS raises it)" if size > limit else "a dimension is not positive"))
    for node in graph.node:
        if node.op_type in ("Quant", "BipolarQuant", "Trunc"):
            _check_quantiser(model, node)


def _check_quantiser(model, node) -> None:
    scale = _const(model, node.input[1]) if len(node.input) > 1 else None
    if scale is not None:
        s = np.asarray(scale, np.float64)
        if not np.all(np.isfinite(s)) or np.any(s <= 0) or np.any(s < SCALE_RANGE[0]) or np.any(s > SCALE_RANGE[1]):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): scale {s.reshape(-1)[:4].tolist()} must be "
                                f"finite, positive and within {SCALE_RANGE[0]:g} .. {SCALE_RANGE[1]:g}")
    a = _attrs(node)
    mode = a.get("rounding_mode", b"ROUND")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if node.op_type != "BipolarQuant" and str(mode).upper() not in ROUNDING:
        raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): rounding mode {mode!r}; known: "
                            f"{', '.join(sorted(ROUNDING))}")
    for key in ("signed", "narrow"):
        if key in a and int(a[key]) not in (0, 1):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): {key}={a[key]} must be 0 or 1")
    if node.op_type in ("Quant", "Trunc") and len(node.input) > 2:
        zp = _const(model, node.input[2])
        if zp is not None and not np.all(np.isfinite(np.asarray(zp, np.float64))):
            raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): zero point {zp} must be finite")
    widths = node.input[3:5] if node.op_type == "Trunc" else node.input[3:4]
    for name in widths:
        bits = _const(model, name)
        if bits is not None:
            b = np.asarray(bits, np.float64).reshape(-1)
            if b.size != 1 or not np.isfinite(b[0]) or b[0] != round(b[0]) or not 1 <= b[0] <= 32:
                raise UnsupportedOp(f"node {node.name!r} ({node.op_type}): bit width {b.tolist()} must be one whole "
                                    "number from 1 to 32")
