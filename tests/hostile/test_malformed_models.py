"""Malformed and unsupported models through `convflow compile`: exit 2, one line naming the node, tensor or file at
fault, no traceback, and nothing left at the output (nor a crash of a C++ library under us: a stride of 0 used to
kill the process with SIGFPE)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qonnx_builders import QDOMAIN, Builder, non_monotonic_model, unsupported_op_model

from .helpers import cli, listing, one_line_error


def tiny_conv(**overrides) -> onnx.ModelProto:
    """x(1,2,6,6) -> Quant s8 -> Conv3x3 (weights through a Quant) -> Relu -> Quant u4 -> Flatten -> MatMul; each
    keyword replaces one piece (an attribute, a constant) to break it."""
    b = Builder(0)
    in_scale = overrides.get("in_scale", np.float32(2.0 ** -6))
    x = b.quant("x", in_scale, overrides.get("in_bits", 8), signed=True)
    w = np.asarray(overrides.get("weights", b.rng.normal(size=(3, 2, 3, 3)).astype(np.float32) * 0.5))
    wq = b.node("Quant", [b.const(w, "w"), b.const(overrides.get("w_scale", np.float32(0.125)), "scale"),
                          b.const(np.float32(0), "zp"), b.const(np.float32(overrides.get("w_bits", 4)), "bits")],
                domain=QDOMAIN, signed=overrides.get("signed", 1), narrow=0,
                rounding_mode=overrides.get("rounding", "ROUND"))
    conv_attrs = dict(kernel_shape=[3, 3], strides=overrides.get("strides", [1, 1]),
                      pads=overrides.get("pads", [1, 1, 1, 1]), group=overrides.get("group", 1))
    y = b.node("Conv", [x, wq], **conv_attrs)
    y = b.quant(b.node("Relu", [y]), np.float32(2.0 ** -3), 4, signed=False,
                zeropt=overrides.get("zeropt", 0.0))
    f = b.node("Flatten", [y], axis=1)
    out = b.node("MatMul", [f, b.qweights((3 * 6 * 6, 4), 4)])
    model = b.model([1, 2, 6, 6], out, [1, 4], "tiny")
    if "opset" in overrides:
        model.opset_import[0].version = overrides["opset"]
    return model


def compile_fails(tmp_path, model, *needles):
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "out"
    r = cli("compile", path, "-o", out, timeout=300)
    one_line_error(r, 2, *needles)
    assert not out.exists() and [p for p in listing(tmp_path) if p != "model.onnx"] == []


@pytest.mark.parametrize("case, overrides, needles", [
    ("nan weight scale", {"w_scale": np.float32("nan")}, ["scale", "finite"]),
    ("inf input scale", {"in_scale": np.float32("inf")}, ["scale"]),
    ("zero scale", {"w_scale": np.float32(0)}, ["scale", "positive"]),
    ("negative scale", {"in_scale": np.float32(-0.5)}, ["scale", "positive"]),
    ("huge input scale", {"in_scale": np.float32(1e38)}, ["scale"]),
    ("nan weights", {"weights": np.full((3, 2, 3, 3), np.nan, np.float32)}, ["finite"]),
    ("inf weights", {"weights": np.full((3, 2, 3, 3), np.inf, np.float32)}, ["finite"]),
    ("bogus rounding", {"rounding": "BOGUS"}, ["rounding mode", "BOGUS"]),
    ("bit width 0", {"w_bits": 0}, ["bit width"]),
    ("bit width 33", {"w_bits": 33}, ["bit width"]),
    ("bit width 2.5", {"w_bits": 2.5}, ["bit width"]),
    ("signed 2", {"signed": 2}, ["signed"]),
    ("stride 0", {"strides": [0, 1]}, ["strides", "positive"]),
    ("negative pads", {"pads": [-1, 1, 1, 1]}, ["pads"]),
    ("group 0", {"group": 0}, ["group"]),
    ("fractional zero point", {"zeropt": 0.5}, ["zero point"]),
    ("opset 1", {"opset": 1}, ["opset 1"]),
    ("opset 99", {"opset": 99}, ["opset 99"]),
])
def test_malformed_model(tmp_path, case, overrides, needles):
    compile_fails(tmp_path, tiny_conv(**overrides), *needles)


def test_channel_mismatch(tmp_path):
    """Weights for 5 input channels on a 2-channel input."""
    compile_fails(tmp_path, tiny_conv(weights=np.ones((3, 5, 3, 3), np.float32) * 0.25), "Conv")


def test_output_is_the_input(tmp_path):
    node = helper.make_node("Identity", ["x"], ["y"], name="id")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    compile_fails(tmp_path, model)


def test_zero_size_dimension(tmp_path):
    model = tiny_conv()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 0
    compile_fails(tmp_path, model, "dimension")


def test_two_inputs(tmp_path):
    model = tiny_conv()
    model.graph.input.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3]))
    compile_fails(tmp_path, model, "input")


def test_unsupported_op_named(tmp_path):
    compile_fails(tmp_path, unsupported_op_model(), "Sigmoid", "supported")


def test_non_monotonic_float_path(tmp_path):
    compile_fails(tmp_path, non_monotonic_model())


def test_no_quantiser_on_a_layer_input(tmp_path):
    """A MatMul on a float chain that no quantiser re-quantised."""
    b = Builder(3)
    x = b.quant("x", np.float32(0.25), 4)
    m = b.node("MatMul", [x, b.qweights((4, 3), 4)])
    r = b.node("Relu", [m])
    out = b.node("MatMul", [r, b.qweights((3, 2), 4)])
    compile_fails(tmp_path, b.model([1, 4], out, [1, 2], "float_chain"), "MatMul", "quantis")


@pytest.mark.parametrize("name, content", [
    ("garbage.onnx", b"\x00\x01not a protobuf at all" * 50),
    ("empty.onnx", b""),
    ("model.pt", b"PK\x03\x04"),
    ("model.json", b"{this is not json"),
    ("model.h5", b"\x89HDF\r\n\x1a\n broken"),
])
def test_unreadable_model_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    r = cli("compile", path, "-o", out, timeout=300)
    one_line_error(r, 2, name)
    assert not out.exists()


def test_truncated_model_file(tmp_path):
    data = tiny_conv().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    r = cli("compile", path, "-o", tmp_path / "out", timeout=300)
    one_line_error(r, 2, "cut.onnx")


def test_a_folder_as_the_model(tmp_path):
    (tmp_path / "folder.onnx").mkdir()
    r = cli("compile", tmp_path / "folder.onnx", "-o", tmp_path / "out", timeout=300)
    one_line_error(r, 2)


def test_quantiser_initialiser_of_wrong_kind(tmp_path):
    """A bit width given as a tensor of several values."""
    model = tiny_conv()
    for init in model.graph.initializer:
        if init.name.startswith("bits"):
            init.CopyFrom(numpy_helper.from_array(np.array([4.0, 4.0], np.float32), init.name))
            break
    compile_fails(tmp_path, model, "bit width")
