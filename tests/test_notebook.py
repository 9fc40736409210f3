"""The notebook flow an hls4ml user expects, with QKeras models built in memory: convflow.compile(model, out) ->
Session.predict equals Keras's predict (exactly where Keras's float32 is exact on the integer grid; the final
softmax applied) -> Session.trace keyed by the Keras layer names -> compare_to_keras naming the first layer that
drifts; and the runnable example of docs/coming-from-hls4ml.md, executed as it is written."""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import convflow
from keras_builders import conv2d, dense_mlp

DOC = Path(__file__).resolve().parents[1] / "docs" / "coming-from-hls4ml.md"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two QKeras models (TensorFlow starts once for this module) and their artifacts, compiled in memory."""
    base = tmp_path_factory.mktemp("notebook")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {"conv2d": conv2d(seed=5), "dense_mlp": dense_mlp(seed=6)}
    return {name: (model, convflow.compile(model, base / name)) for name, model in models.items()}


def test_compile_predict_trace_like_a_notebook(built):
    model, art = built["conv2d"]
    s = convflow.Session(art)
    x = np.random.default_rng(0).uniform(0, 1, size=(200, 12, 10, 3)).astype(np.float32)
    keras_out = model.predict(x, verbose=0).astype(np.float64)
    assert s.softmax is None
    assert np.array_equal(s.predict(x), keras_out)                  # bit for bit: every scale a power of two
    trace = s.trace(x)
    keras_names = {layer.name for layer in model.layers}
    assert {"conv1", "relu1", "pool1", "conv2", "flatten", "fc"} <= set(trace) and set(trace) - keras_names <= \
        {"input", "conv2_quant"}                                    # the activation inside Keras's conv2
    assert np.array_equal(trace["fc"].ints, s.run(x)) and np.array_equal(trace["fc"].floats, keras_out)
    assert np.array_equal(s.predict(x[7]), keras_out[7])            # one sample without the batch axis


def test_predict_applies_the_final_softmax_run_stays_integer(built):
    import tensorflow as tf

    model, art = built["dense_mlp"]
    s = convflow.Session(art)
    x = np.random.default_rng(1).uniform(-2, 2, size=(300, 16)).astype(np.float32)
    assert s.softmax == "softmax"
    assert any("Session.predict() applies the softmax" in n for n in s.artifact.manifest["notes"])
    logits = tf.keras.Model(model.inputs, model.layers[-2].output)
    # the model has no input quantiser: convflow rounds its input to int16 at 2^-8, so feed Keras the same values
    on_grid = (np.round(x * 256) / 256).astype(np.float32)
    assert np.array_equal(s.predict(x, softmax=False), logits.predict(on_grid, verbose=0).astype(np.float64))
    probs = s.predict(x)
    assert np.allclose(probs, model.predict(on_grid, verbose=0), rtol=0, atol=1e-6)
    assert np.allclose(probs.sum(axis=1), 1) and s.run(x).dtype == np.int64


def test_compare_to_keras_names_the_first_layer_that_drifts(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = conv2d(seed=7)
    art = convflow.compile(model, tmp_path / "drift")
    x = np.random.default_rng(2).uniform(0, 1, size=(64, 12, 10, 3)).astype(np.float32)
    same = convflow.compare_to_keras(model, art, x)
    assert same.equal and "every compared layer agrees" in capsys.readouterr().out
    kernel, bias = model.get_layer("conv2").get_weights()
    model.get_layer("conv2").set_weights([kernel * 1.7, bias])      # the Keras model changed after compile
    drifted = convflow.compare_to_keras(model, art, x, show=False)
    first = drifted.first_difference
    assert first is not None and first.name == "conv2_quant" and first.other == "conv2", drifted.table()
    assert [d.differing for d in drifted.layers[:3]] == [0, 0, 0]     # conv1, relu1, pool1 still agree
    assert first.max_steps >= 1 and first.first_sample is not None
    assert "first difference: layer 'conv2_quant' (Shift, conv2)" in drifted.table()


def test_folding_by_keras_layer_name(built, tmp_path):
    """hls4ml users name layers as Keras does: a folding keyed by those names is applied, an unknown one refused."""
    from convflow.hw.errors import UsageError

    model, _ = built["conv2d"]
    out = convflow.compile(model, tmp_path / "folded", folding={"conv1": [2, 1], "fc": {"pe": 2, "simd": 4}})
    rows = {r["name"]: r for r in convflow.Artifact.load(out).manifest["folding"]["layers"]}
    assert (rows["conv1"]["pe"], rows["conv1"]["simd"]) == (2, 1) and (rows["fc"]["pe"], rows["fc"]["simd"]) == (2, 4)
    with pytest.raises(UsageError, match=r"no layer 'Conv_0' with PE/SIMD; its layers are 'conv1', 'conv2', 'fc'"):
        convflow.compile(model, tmp_path / "bad", folding={"Conv_0": [2, 1]})


def test_the_docs_example_runs_as_written(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)                                    # it writes build/jets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        namespace = {}
        exec(compile(blocks[0], str(DOC), "exec"), namespace)       # its own asserts check Keras == convflow
    assert (tmp_path / "build" / "jets" / "folding.json").is_file()
    assert namespace["report"].equal and namespace["layers"]["fc1"].ints.shape == (100, 12)
    out = capsys.readouterr().out
    assert '"fc1"' in out and "every compared layer agrees" in out
    assert os.path.isdir(tmp_path / "build" / "jets" / "hls")
