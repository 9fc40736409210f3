"""The model zoo: definitions follow the exactness rules, training writes its three files, and the exported QONNX
graph computes exactly (bit for bit, as float32) what the QKeras model computes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from convflow.models import zoo
from convflow.models.data import load_dataset

# ONNX node types a zoo export may contain (the frontend's contract, see the report in models/export.py)
ALLOWED_OPS = {("Quant", "qonnx.custom_op.general"), ("Conv", ""), ("Relu", ""), ("MaxPool", ""),
               ("Transpose", ""), ("Reshape", ""), ("MatMul", ""), ("Add", "")}


def test_import_does_not_pull_tensorflow():
    code = ("import convflow.models, convflow.models.zoo, convflow.models.data, convflow.models.train, "
            "convflow.models.export, sys; bad = [m for m in ('tensorflow', 'qkeras', 'keras', 'tf2onnx') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry():
    assert set(zoo.ZOO) == {"lenet-fmnist", "cnn-digits", "mlp-mnist5k"}
    for name, spec in zoo.ZOO.items():
        assert spec.name == name and spec.quick_epochs < spec.epochs
    with pytest.raises(zoo.ZooError, match="cnn-digits"):
        zoo.get_spec("resnet-9000")


# --- the definitions ------------------------------------------------------------------------------------------


def _po2_quantizer_ok(q):
    cfg = q.get_config()
    return cfg.get("alpha") in (1, 1.0) and not cfg.get("symmetric")


@pytest.fixture(scope="module")
def built_models():
    return {name: zoo.build_model(name) for name in zoo.ZOO}


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_definition_rules(built_models, name):
    from convflow.models.export import input_quantizer_params

    m = built_models[name]
    spec = zoo.get_spec(name)
    assert tuple(m.input_shape[1:]) == spec.input_shape
    assert m.output_shape[1:] == (10,)
    assert input_quantizer_params(m) == {"layer": "input_quant", "bits": 8, "signed": 0, "narrow": 0,
                                         "scale": 2.0 ** -8}
    for layer in m.layers:
        cls = layer.__class__.__name__
        assert cls in {"InputLayer", "QActivation", "QConv2D", "QDense", "MaxPooling2D", "Flatten"}, cls
        if cls in ("QConv2D", "QDense"):
            assert layer.use_bias and layer.bias_quantizer_internal is not None
            assert _po2_quantizer_ok(layer.kernel_quantizer_internal)
            assert _po2_quantizer_ok(layer.bias_quantizer_internal)
            assert layer.activation.__name__ == "linear"
        if cls == "QActivation" and layer.name != "input_quant":
            assert layer.quantizer.__class__.__name__ == "quantized_relu"
    assert m.layers[-1].__class__.__name__ == "QDense"


def _random_on_and_off_grid_weights(model, seed=0):
    """Random weights, a third exactly on a rounding tie ((k + 1/2) / 8) so half-to-even rounding is exercised."""
    rng = np.random.default_rng(seed)
    ws = []
    for w in model.get_weights():
        u = rng.uniform(-1.2, 1.0, size=w.shape)
        ties = (rng.integers(-8, 7, size=w.shape) + 0.5) / 8
        pick = rng.random(size=w.shape) < 0.33
        ws.append(np.where(pick, ties, u).astype(np.float32) * (0.5 if w.ndim > 1 else 1.0))
    model.set_weights(ws)


@pytest.mark.parametrize("name", ["cnn-digits", "lenet-fmnist",
                                  pytest.param("mlp-mnist5k", marks=pytest.mark.slow)])
def test_export_exact_random_weights(built_models, name, tmp_path):
    """Untrained models with random weights (incl. rounding ties): QONNX execution == QKeras, exactly."""
    from convflow.models.export import export_qonnx, run_qonnx
    from convflow.models.train import predict_logits

    m = built_models[name]
    _random_on_and_off_grid_weights(m)
    proto = export_qonnx(m, str(tmp_path / "m.onnx"))
    assert {(n.op_type, n.domain) for n in proto.graph.node} <= ALLOWED_OPS
    _, _, x_te, _ = load_dataset(zoo.get_spec(name).dataset)
    x = x_te[:200]
    ref = predict_logits(m, x)
    got = run_qonnx(str(tmp_path / "m.onnx"), x)
    assert got.dtype == np.float32 and got.shape == ref.shape == (200, 10)
    assert np.array_equal(got, ref), f"max |diff| = {np.abs(got - ref).max()}"


# --- training (cnn-digits quick, once per module) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_digits(tmp_path_factory):
    from convflow.models.train import train

    out = tmp_path_factory.mktemp("zoo_cnn_digits")
    record = train("cnn-digits", str(out), seed=0, quick=True, progress=False)
    return out, record


def test_train_record(trained_digits):
    out, record = trained_digits
    assert sorted(p.name for p in out.iterdir()) == ["cnn-digits.h5", "cnn-digits.json", "cnn-digits.onnx"]
    on_disk = json.loads((out / "cnn-digits.json").read_text())
    assert on_disk == json.loads(json.dumps(record))
    assert record["model"] == "cnn-digits" and record["dataset"] == "digits"
    assert record["epochs"] == zoo.get_spec("cnn-digits").quick_epochs and record["seed"] == 0
    assert record["input_shape"] == [8, 8, 1] and record["n_test"] == 360
    assert record["test_accuracy"] > 0.8  # quick run; full training reaches ~0.95
    assert record["train_time_s"] > 0 and "qkeras" in record["versions"]


def test_reload_and_accuracy(trained_digits):
    from convflow.models.train import load_qkeras, predict_logits

    out, record = trained_digits
    m = load_qkeras(str(out / "cnn-digits.h5"))
    _, _, x_te, y_te = load_dataset("digits")
    logits = predict_logits(m, x_te)
    assert logits.shape == (360, 10)
    assert float(np.mean(logits.argmax(1) == y_te)) == record["test_accuracy"]
    # Keras' own predict gives the very same numbers
    assert np.array_equal(m.predict(x_te, verbose=0), logits)


def test_onnx_valid_and_exact(trained_digits):
    import onnx

    from convflow.models.export import run_qonnx
    from convflow.models.train import load_qkeras, predict_logits

    out, _ = trained_digits
    proto = onnx.load(str(out / "cnn-digits.onnx"))
    onnx.checker.check_model(proto)
    ops = [(n.op_type, n.domain) for n in proto.graph.node]
    assert set(ops) <= ALLOWED_OPS
    assert [o for o, _ in ops if o != "Quant"] == ["Reshape", "Conv", "Relu", "MaxPool", "Transpose", "Reshape",
                                                   "MatMul", "Add"]
    first = proto.graph.node[0]
    assert first.op_type == "Quant" and first.input[0] == proto.graph.input[0].name
    dims = lambda vi: [d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(proto.graph.input[0]) == [1, 8, 8, 1] and dims(proto.graph.output[0]) == [1, 10]

    _, _, x_te, _ = load_dataset("digits")
    ref = predict_logits(load_qkeras(str(out / "cnn-digits.h5")), x_te)
    got = run_qonnx(str(out / "cnn-digits.onnx"), x_te)
    assert np.array_equal(got, ref)  # all 360 test inputs, bit for bit


def test_onnx_batch1_matches_batched(trained_digits):
    """The graph as exported (batch 1, qonnx execute_onnx after cleanup) gives what run_qonnx's batched run gives."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    from convflow.models.export import run_qonnx

    out, _ = trained_digits
    w = cleanup_model(ModelWrapper(str(out / "cnn-digits.onnx")))
    _, _, x_te, _ = load_dataset("digits")
    batched = run_qonnx(str(out / "cnn-digits.onnx"), x_te[:8])
    for i in range(8):
        o = execute_onnx(w, {"global_in": x_te[i:i + 1]})["global_out"]
        assert np.array_equal(o, batched[i:i + 1])


@pytest.mark.slow
def test_train_is_reproducible(tmp_path):
    from convflow.models.train import load_qkeras, train

    r1 = train("cnn-digits", str(tmp_path / "a"), seed=3, epochs=2, progress=False)
    r2 = train("cnn-digits", str(tmp_path / "b"), seed=3, epochs=2, progress=False)
    assert r1["test_accuracy"] == r2["test_accuracy"]
    w1 = load_qkeras(str(tmp_path / "a" / "cnn-digits.h5")).get_weights()
    w2 = load_qkeras(str(tmp_path / "b" / "cnn-digits.h5")).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


@pytest.mark.slow
def test_cnn_digits_full_training(tmp_path):
    from convflow.models.train import train

    record = train("cnn-digits", str(tmp_path), seed=0, progress=False)
    assert record["test_accuracy"] > 0.93
