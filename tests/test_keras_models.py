"""QKeras models as hls4ml users write them (tests/keras_builders.py: one or more per layer kind), compiled from the
model object in memory and from .h5 / .keras / .json files: the reference's integers equal the QONNX execution of the
converted model and, where Keras's float32 output is exact on the integer grid, Keras's own predict, compared with
==; a representative subset through csim and rtlsim.  Unsupported layers fail at compile time naming the layer."""
import numpy as np
import pytest

from convflow.compiler.compile import compile_model
from convflow.hw.errors import ModelError, UnsupportedOp
from convflow.runtime import Session
from convflow.runtime.verify import verify

from keras_builders import KERAS_MODELS, UNSUPPORTED, qb, randomise

N_INPUTS = 1000


def random_inputs(session, n, seed=0):
    lo, hi = session.input_range
    return np.random.default_rng(seed).integers(lo, hi + 1, size=(n,) + session.input_tensor.shape)


def keras_logits(model, session, x):
    """Keras's own float32 output for integer inputs x (IR layout), before a final softmax."""
    import tensorflow as tf

    if model.layers[-1].__class__.__name__ == "Activation" and model.layers[-1].get_config()["activation"] == "softmax":
        model = tf.keras.Model(model.inputs, model.layers[-2].output)
    scale = np.asarray(session.input_quantizer.quantizer.scale, np.float64)
    floats = (x * scale).astype(np.float32).reshape((len(x),) + tuple(model.input_shape[1:]))
    return model.predict(floats, verbose=0, batch_size=256)


def dequantised(session, ints):
    out = session.output_tensor
    offset = 0.0 if out.offset is None else np.asarray(out.offset, np.float64)
    return ints.astype(np.float64) * np.asarray(out.scale, np.float64) + offset


@pytest.mark.parametrize("name", sorted(KERAS_MODELS))
def test_keras_model_equals_qonnx_and_keras(keras_models, name):
    case = keras_models[name]
    session = Session(case.artifact)
    x = random_inputs(session, N_INPUTS, seed=1)
    expected, results = verify(case.artifact, x, ["qonnx"])
    qonnx = results[1]
    assert qonnx.error is None, qonnx.error
    assert qonnx.differing_outputs == 0, f"{qonnx.differing_samples} of {N_INPUTS} inputs differ"
    assert len(np.unique(expected)) > 15                          # not a constant network
    if case.keras_exact:
        keras_out = keras_logits(case.model, session, x).astype(np.float64).reshape(expected.shape)
        assert np.array_equal(keras_out, dequantised(session, expected)), \
            f"{int(np.sum(keras_out != dequantised(session, expected)))} outputs differ from Keras's predict"
    manifest = session.artifact.manifest
    assert manifest["model"] == case.model.name                    # compile_model(keras_model) keeps the name
    layer_names = {layer.name for layer in case.model.layers}
    assert any(row["name"] in layer_names for row in manifest["layers"])   # IR nodes named after Keras layers


FILE_CASES = ["conv1d", "fused_batchnorm", "separable", "activations", "residual", "sequential"]


@pytest.mark.parametrize("name", FILE_CASES)
@pytest.mark.parametrize("suffix", ["h5", "keras", "json"])
def test_files_compile_like_the_model_object(keras_models, tmp_path, name, suffix):
    """.h5 (model.save), .keras and .json + _weights.h5 (hls4ml's example-models layout) load with QKeras's custom
    objects and compile to the same integers as the model object."""
    case = keras_models[name]
    artifact = compile_model(case.files[suffix], tmp_path / "a")
    x = random_inputs(Session(case.artifact), 300, seed=2)
    assert np.array_equal(Session(artifact).run(x), Session(case.artifact).run(x))
    assert Session(artifact).artifact.manifest["source"]["sha256"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(KERAS_MODELS) - set(FILE_CASES)))
@pytest.mark.parametrize("suffix", ["h5", "keras", "json"])
def test_files_compile_like_the_model_object_all(keras_models, tmp_path, name, suffix):
    test_files_compile_like_the_model_object(keras_models, tmp_path, name, suffix)


@pytest.mark.parametrize("name", ["separable", "fused_batchnorm"])
def test_keras_rewrites_are_exact(keras_models, name):
    """The rewritten Keras model (fused BatchNorm folded, separable split) predicts what the user's model does, bit
    for bit, on arbitrary float inputs, not only on the input grid."""
    from convflow.compiler.frontend.keras_load import custom_objects
    from convflow.compiler.frontend.keras_rewrites import REWRITES, rewrite_model

    model = keras_models[name].model
    rewritten = rewrite_model(model, custom_objects())
    assert rewritten is not model and not any(type(layer).__name__ in REWRITES for layer in rewritten.layers)
    x = np.random.default_rng(3).normal(size=(500,) + tuple(model.input_shape[1:])).astype(np.float32)
    assert np.array_equal(model.predict(x, verbose=0), rewritten.predict(x, verbose=0))


def test_float_inputs_quantise_as_keras_does(keras_models):
    """Float inputs go through the model's own input quantiser (QActivation) on the host, as Keras quantises them."""
    case = keras_models["conv2d"]
    session = Session(case.artifact)
    x = np.random.default_rng(4).uniform(-0.2, 1.2, size=(200, 12, 10, 3)).astype(np.float32)
    expected, results = verify(case.artifact, x, ["qonnx"])
    assert results[1].differing_outputs == 0 and results[1].error is None
    assert np.array_equal(case.model.predict(x, verbose=0).astype(np.float64), dequantised(session, expected))


def test_qonnx_converter_conv1d_export(tmp_path):
    """What qonnx's own converter (tf2onnx) makes of a Keras Conv1D -- Unsqueeze, Transpose, a 4-D Conv, Squeeze,
    its 1-D pools as (N, C, W, 1) images, biases reshaped and transposed -- compiles to the same 1 x W image as
    convflow's own conversion, equal to the QONNX execution and to Keras."""
    import qkeras
    from qonnx.converters import from_keras
    from tensorflow import keras

    inp = keras.Input(shape=(20, 3), name="signal")
    x = qkeras.QConv1D(4, 3, padding="same", kernel_quantizer=qb(4), bias_quantizer=qb(4), name="c1")(inp)
    x = qkeras.QActivation("quantized_relu(4, 1)", name="r1")(x)
    x = keras.layers.MaxPooling1D(2, name="p1")(x)
    x = qkeras.QConv1D(5, 3, strides=2, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="c2")(x)
    x = qkeras.QActivation("quantized_relu(4, 1)", name="r2")(x)
    x = keras.layers.AveragePooling1D(2, name="ap")(x)
    x = qkeras.QActivation("quantized_relu(6, 2)", name="r3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = qkeras.QDense(3, kernel_quantizer=qb(4), bias_quantizer=qb(4), name="fc")(x)
    model = randomise(keras.Model(inp, x, name="tf2onnx_conv1d"), seed=3)
    proto, _ = from_keras(model, name=model.name)
    ops = [n.op_type for n in proto.graph.node]
    assert {"Unsqueeze", "Squeeze"} <= set(ops) and "Conv" in ops
    artifact = compile_model(proto, tmp_path / "a", name="tf2onnx_conv1d")
    session = Session(artifact)
    assert session.input_tensor.shape == (1, 20, 3)
    x = np.random.default_rng(5).integers(-512, 512, size=(N_INPUTS, 1, 20, 3))   # the int16 x 2^-8 input
    expected, results = verify(artifact, x, ["qonnx"])
    assert results[1].error is None and results[1].differing_outputs == 0
    keras_out = model.predict((x.reshape(-1, 20, 3) * 2.0 ** -8).astype(np.float32), verbose=0)
    assert np.array_equal(keras_out.astype(np.float64), dequantised(session, expected))


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_layers_are_refused_by_name(tmp_path, name):
    builder, message = UNSUPPORTED[name]
    out = tmp_path / "a"
    with pytest.raises(UnsupportedOp, match=message) as info:
        compile_model(builder(), out)
    assert "\n" not in str(info.value)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_dense_batchnorm_stand_in_keeps_qkeras_weights():
    """convflow's QDenseBatchnorm (for QKeras releases without one) holds its weights in QKeras's order, which is how
    .h5 files of QKeras's own layer are read back."""
    from keras_builders import fused_batchnorm

    layer = fused_batchnorm(0).get_layer("fc_bn")
    assert [w.name.split("/")[-1] for w in layer.weights] == [
        "kernel:0", "bias:0", "gamma:0", "beta:0", "iteration:0", "moving_mean:0", "moving_variance:0"]


def test_unbuilt_sequential_model_is_refused(tmp_path):
    import qkeras
    from tensorflow import keras

    model = keras.Sequential([qkeras.QDense(3, kernel_quantizer=qb(4), name="fc")], name="unbuilt")
    with pytest.raises(ModelError, match="'unbuilt' \\(Sequential\\) cannot be read as a graph.*with an input shape"):
        compile_model(model, tmp_path / "a")


def test_malformed_keras_files(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an HDF5 file")
    with pytest.raises(ModelError, match="garbage.h5: not a loadable Keras model"):
        compile_model(garbage, tmp_path / "a")
    lonely = tmp_path / "lonely.json"
    lonely.write_text("{}")
    with pytest.raises(ModelError, match="needs its weights beside it"):
        compile_model(lonely, tmp_path / "a")
    (tmp_path / "lonely_weights.h5").write_bytes(b"")
    with pytest.raises(ModelError, match="lonely.json: not a loadable Keras model"):
        compile_model(lonely, tmp_path / "a")
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------------------------------------- the command line
def convflow(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "convflow.runtime.cli"] + [str(a) for a in args],
                          capture_output=True, text=True)


def test_cli_compiles_and_verifies_a_keras_file(keras_models, tmp_path):
    """A QKeras .h5 through the command line: its layer names in the summary, nothing from TensorFlow on stderr."""
    path = keras_models["residual"].files["h5"]
    r = convflow("verify", path, "-o", tmp_path / "v", "--backends", "reference,qonnx", "--count", "300")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == "" and "verify passed" in r.stdout
    names = {row["name"] for row in Session(tmp_path / "v").artifact.manifest["layers"]}
    assert {"stem", "branch", "add", "concat", "up"} <= names


def test_cli_refuses_unsupported_and_malformed_keras_files(tmp_path):
    """Unsupported layers and malformed files: exit code 2 and one line on stderr naming the layer or the file,
    from `convflow compile` and `convflow verify`, and no artifact."""
    import warnings

    cases = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("cropping", "po2_activation"):
            path = tmp_path / f"{name}.h5"
            UNSUPPORTED[name][0]().save(path)
            cases[path] = UNSUPPORTED[name][1]
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"PK\x03\x04 not a zip archive")
    cases[garbage] = r"garbage.keras: not a loadable Keras model"
    json_only = tmp_path / "arch.json"
    json_only.write_text('{"class_name": "Sequential", "config": {"layers": []}}')
    cases[json_only] = r"arch.json: a Keras JSON model needs its weights beside it"
    for command, paths in (("compile", list(cases)), ("verify", list(cases)[1:2])):
        for path in paths:
            r = convflow(command, path, "-o", tmp_path / "out")
            assert r.returncode == 2, (command, path, r.stdout, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in r.stderr, (command, path, r.stderr)
            assert lines[0].startswith("convflow: error: ")
            import re
            assert re.search(cases[path], lines[0]), (cases[path], lines[0])
            assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- csim and rtlsim
HW_DEFAULT = ["conv1d", "binary_net", "depthwise"]          # 1-D signals, XNOR layers, depthwise + BatchNorm


def assert_hardware_exact(artifact, n, seed, backends=("csim", "rtlsim")):
    session = Session(artifact)
    expected, results = verify(artifact, random_inputs(session, n, seed), list(backends))
    for result in results[1:]:
        assert result.error is None, f"{result.backend}: {result.error}"
        assert result.differing_outputs == 0, f"{result.backend}: {result.differing_samples} of {n} inputs differ"
    return expected


@pytest.mark.parametrize("name", HW_DEFAULT)
def test_keras_models_in_csim_and_rtlsim(keras_models, name):
    assert_hardware_exact(keras_models[name].artifact, 200, seed=6)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(KERAS_MODELS) - set(HW_DEFAULT) - {"residual"}))
def test_keras_models_in_csim_and_rtlsim_all(keras_models, name):
    assert_hardware_exact(keras_models[name].artifact, 300, seed=7)


def test_residual_keras_model_in_csim(keras_models):
    assert_hardware_exact(keras_models["residual"].artifact, 200, seed=8, backends=("csim",))


@pytest.mark.slow
def test_residual_keras_model_in_rtlsim(keras_models):
    """The stem reaches a 3-way Add past an inner Add and a pool/pad/conv/upsample path: it deadlocked while fork
    FIFOs were sized only to the first join (tests/test_rtl_e2e.py has the small case in the default suite)."""
    assert_hardware_exact(keras_models["residual"].artifact, 20, seed=8, backends=("rtlsim",))


def test_brevitas_style_conv1d_on_every_backend(tmp_path):
    """The PyTorch / Brevitas export of a 1-D network (3-D Conv, pools, Pad, Resize on (N, C, W); tests/
    qonnx_builders.conv1d_model) on reference, qonnx, csim and rtlsim."""
    from qonnx_builders import conv1d_model

    artifact = compile_model(conv1d_model(seed=4), tmp_path / "a", name="conv1d_qonnx")
    assert Session(artifact).input_tensor.shape == (1, 20, 3)
    expected = assert_hardware_exact(artifact, 300, seed=9, backends=("qonnx", "csim", "rtlsim"))
    assert len(np.unique(expected)) > 15


def test_subclassed_keras_model_is_refused(tmp_path):
    """A subclassed model has no layer graph to convert: one ModelError, no traceback."""
    import qkeras
    import tensorflow as tf

    class Tiny(tf.keras.Model):
        def __init__(self):
            super().__init__(name="tiny")
            self.fc = qkeras.QDense(3, kernel_quantizer=qb(4))

        def call(self, x):
            return self.fc(x)

    model = Tiny()
    model(np.zeros((1, 4), np.float32))
    with pytest.raises(ModelError, match="'tiny' \\(Tiny\\) cannot be read as a graph of layers"):
        compile_model(model, tmp_path / "a")
