"""The frontend on real models: ../shared/models and hand-built QONNX graphs compile, and the reference backend's
integers equal the QONNX float execution (and Keras) exactly, compared as integers with ==."""
import numpy as np
import onnx
import pytest

from convflow.compiler.compile import compile_model
from convflow.hw.errors import ModelError, UnsupportedOp
from convflow.runtime import Session
from convflow.runtime.verify import verify

from conftest import JET, QKERAS_3LAYER, TFC
from qonnx_builders import (concat_model, conv_bn_model, learned_scales_model, non_monotonic_model, padding_model,
                            residual_model, separable_model, trunc_avgpool_model, unsupported_op_model,
                            upsample_model)


def assert_bit_exact(artifact, inputs, labels=None):
    expected, results = verify(artifact, inputs, ["qonnx"], labels=labels)
    qonnx = results[1]
    assert qonnx.error is None, qonnx.error
    assert qonnx.differing_outputs == 0, f"{qonnx.differing_samples} inputs differ, first #{qonnx.first_difference}"
    return expected


def jet_inputs(n, seed=0):
    """Standardised features on the int16 x 2^-8 grid the compiler feeds an unquantised input as."""
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.normal(size=(n, 16)) * 2 * 256), -32768, 32767).astype(np.int64)


def test_tfc_on_real_mnist_images(compiled):
    from convflow.models.data import load_dataset

    artifact = compiled(TFC, "tfc")
    x_train, y_train, x_test, y_test = load_dataset("mnist5k")
    images = np.concatenate([x_train, x_test]).reshape(-1, 1, 28, 28)     # TFC takes NCHW images
    labels = np.concatenate([y_train, y_test])
    session = Session(artifact)
    ints = session.quantize_input(images)
    assert set(np.unique(ints)) <= {-1, 0, 1}                               # 2-bit narrow input quantiser
    expected = assert_bit_exact(artifact, images, labels)
    assert np.mean(expected.argmax(1) == labels) > 0.93                    # Brevitas reports 96.6% on MNIST


def test_tfc_float_tail_stays_on_host(compiled):
    """TFC ends MatMul -> BatchNorm with no Quant: integers exact, floats equal up to float rounding."""
    artifact = compiled(TFC, "tfc")
    session = Session(artifact)
    qonnx = Session(artifact, "qonnx")
    rng = np.random.default_rng(1)
    x = rng.integers(-1, 2, size=(1000, 784))
    ints = session.run(x)
    assert np.array_equal(ints, qonnx.run(x))
    floats = session.predict(x)
    source = qonnx.stats["source_output"].reshape(floats.shape)
    assert np.allclose(floats, source, rtol=1e-6, atol=1e-6)
    assert np.array_equal(floats.argmax(1), source.argmax(1))
    assert np.any(session.output_tensor.offset != 0)


def test_jet_tagger_qonnx(compiled):
    artifact = compiled(JET, "jet")
    assert_bit_exact(artifact, jet_inputs(2000))
    notes = " ".join(Session(artifact).artifact.manifest["notes"])
    assert "no quantiser" in notes and "softmax" in notes


def test_qkeras_3layer_equals_keras_and_qonnx(compiled):
    import tensorflow as tf
    from convflow.compiler.frontend.load import load_keras_model

    artifact = compiled(QKERAS_3LAYER, "qkeras_3layer")
    x = jet_inputs(1500, seed=3)
    expected = assert_bit_exact(artifact, x)
    keras_model = load_keras_model(QKERAS_3LAYER)
    logits = tf.keras.Model(keras_model.inputs, keras_model.layers[-2].output)   # before the softmax
    keras_out = logits.predict((x * 2.0 ** -8).astype(np.float32), verbose=0).astype(np.float64)
    session = Session(artifact)
    assert np.array_equal(keras_out / session.output_tensor.scale, expected)


@pytest.mark.parametrize("builder", [conv_bn_model, residual_model, concat_model, learned_scales_model,
                                     padding_model, separable_model, upsample_model])
def test_hand_built_models(builder, tmp_path):
    artifact = compile_model(builder(seed=5), tmp_path / "a", name=builder.__name__)
    session = Session(artifact)
    lo, hi = session.input_range
    x = np.random.default_rng(7).integers(lo, hi + 1, size=(1200,) + session.input_tensor.shape)
    expected = assert_bit_exact(artifact, x)
    assert len(np.unique(expected)) > 10                                     # not a constant network


def test_negative_batchnorm_gamma_flips_weights(tmp_path):
    artifact = compile_model(conv_bn_model(seed=5), tmp_path / "a", name="cbn")
    graph = Session(artifact).graph
    conv = graph.nodes[0]
    scale = graph.tensors[conv.output].scale
    assert np.any(scale < 0)     # flipped channels carry the negated accumulator (gamma < 0 on every 3rd)


def test_unsupported_op_names_node_and_leaves_nothing(tmp_path):
    out = tmp_path / "art"
    with pytest.raises(UnsupportedOp, match=r"Sigmoid_0.*Sigmoid is not supported.*supported: "):
        compile_model(unsupported_op_model(), out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_float_branch_add_is_refused_by_name(tmp_path):
    with pytest.raises(UnsupportedOp, match=r"Add_0.*no quantiser"):
        compile_model(non_monotonic_model(), tmp_path / "a")


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf")
    with pytest.raises(ModelError, match="bad.onnx"):
        compile_model(bad, tmp_path / "a")
    with pytest.raises(ModelError, match="no such model file"):
        compile_model(tmp_path / "missing.onnx", tmp_path / "a")
    with pytest.raises(ModelError, match="unknown model format"):
        (tmp_path / "m.txt").write_text("x")
        compile_model(tmp_path / "m.txt", tmp_path / "a")


def test_existing_artifact_survives_failed_compile(tmp_path, compiled):
    out = tmp_path / "art"
    compile_model(TFC, out)
    before = (out / "manifest.json").read_text()
    with pytest.raises(UnsupportedOp):
        compile_model(unsupported_op_model(), out)
    assert (out / "manifest.json").read_text() == before


def test_unquantised_weights_are_refused(tmp_path):
    model = onnx.load(str(JET))
    # replace the first weight Quant's output with its raw float input: weights no longer quantised
    quant = next(n for n in model.graph.node if n.op_type == "Quant" and n.input[0].endswith("param0")
                 and "6" in n.name)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == quant.output[0]:
                node.input[i] = quant.input[0]
    model.graph.node.remove(quant)
    with pytest.raises(UnsupportedOp, match="not quantised"):
        compile_model(model, tmp_path / "a")


def test_artifact_with_the_host_interface_in_meta_still_loads(tmp_path):
    """Artifacts written before the host interface became a record kept it as keys of the graph's meta; they load
    and run the same."""
    import json

    artifact = compile_model(conv_bn_model(seed=2), tmp_path / "a", name="cbn")
    session = Session(artifact)
    x = np.random.default_rng(3).normal(size=(50, 3, 8, 8)).astype(np.float32)
    want = session.run(x)
    manifest_path = artifact / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    host = manifest["graph"].pop("host")
    manifest["graph"]["meta"].update({
        "input_quantizer": host["input"]["quantizer"], "source_input_shape": host["input"]["source_shape"],
        "source_to_ir": {"onnx_shape": host["input"]["onnx_shape"], "perm": host["input"]["perm"]},
        "source_output": host["output"]["source_output"], "source_int_tap": host["output"]["tap"]})
    manifest_path.write_text(json.dumps(manifest))
    legacy = Session(artifact)
    assert np.array_equal(legacy.run(x), want)
    assert np.array_equal(Session(artifact, "qonnx").run(legacy.quantize_input(x)), want)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learned_scales_zero_points_and_preprocessing(seed, tmp_path):
    """No scale is a power of two (learned, as Brevitas leaves them), two quantisers have zero points, and the input
    is normalised per channel before its quantiser: float images in, every integer equal to the QONNX execution,
    and the host's input quantisation equal to the model's own on the same floats."""
    artifact = compile_model(learned_scales_model(seed), tmp_path / "a", name="learned")
    x = np.random.default_rng(seed).normal(size=(1000, 3, 10, 10)).astype(np.float32)
    expected = assert_bit_exact(artifact, x)
    assert len(np.unique(expected)) > 100
    session = Session(artifact)
    ints = session.quantize_input(x)
    assert np.array_equal(ints, session.quantize_input(x.transpose(0, 2, 3, 1)))     # NHWC floats alike
    assert ints.min() < 0 < ints.max()                     # uint8 with zero point 128: levels -128 .. 127


@pytest.mark.parametrize("transform, nearest, ok", [("asymmetric", "floor", True), ("half_pixel", "round_prefer_floor", True),
                                                    ("tf_half_pixel_for_nn", "floor", True),
                                                    ("align_corners", "round_prefer_floor", False)])
def test_resize_coordinate_modes(tmp_path, transform, nearest, ok):
    """Nearest Resize is taken where ONNX's own coordinate rules repeat each pixel, and refused by name otherwise."""
    model = upsample_model(seed=3, transform=transform, nearest=nearest)
    if not ok:
        with pytest.raises(UnsupportedOp, match="Resize_0.*repeat"):
            compile_model(model, tmp_path / "a")
        return
    artifact = compile_model(model, tmp_path / "a")
    x = np.random.default_rng(4).integers(0, 256, size=(500, 5, 4, 3))
    assert_bit_exact(artifact, x)


def test_external_data_model(tmp_path):
    """A model saved as torch's exporter saves it (model.onnx + model.onnx.data) compiles from its file."""
    model = learned_scales_model(seed=6)
    path = tmp_path / "exported" / "model.onnx"
    path.parent.mkdir()
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=0)
    assert (path.parent / "model.onnx.data").stat().st_size > 1000
    artifact = compile_model(path, tmp_path / "a")
    x = np.random.default_rng(6).normal(size=(300, 3, 10, 10)).astype(np.float32)
    assert_bit_exact(artifact, x)


def test_unforeseen_handler_failure_names_the_node(tmp_path, monkeypatch):
    """Whatever goes wrong inside a handler, the error is one UnsupportedOp naming the ONNX node, its op and
    attributes."""
    from convflow.compiler.frontend import handlers

    def broken(ctx, node):
        raise KeyError("kernel_shape")
    monkeypatch.setitem(handlers.HANDLERS, "MaxPool", broken)
    with pytest.raises(UnsupportedOp, match=r"MaxPool_0' \(MaxPool, attributes \{.*kernel_shape=\[2, 2\].*KeyError"):
        compile_model(conv_bn_model(seed=1), tmp_path / "a")


@pytest.mark.parametrize("rounding", ["FLOOR", "ROUND", "CEIL"])
def test_trunc_average_pool(tmp_path, rounding):
    """Brevitas's TruncAvgPool (a window sum, then Trunc to fewer bits): exact thresholds of the Trunc."""
    artifact = compile_model(trunc_avgpool_model(seed=2, rounding=rounding), tmp_path / "a")
    x = np.random.default_rng(7).integers(0, 16, size=(1000, 8, 8, 2))
    expected = assert_bit_exact(artifact, x)
    assert len(np.unique(expected)) > 20
