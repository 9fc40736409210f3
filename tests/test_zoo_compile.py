"""Zoo models end to end: trained (quickly) on their bundled data, exported, compiled; the reference backend's
integer logits equal QKeras's pre-softmax outputs and the QONNX execution exactly on the test split, and the
accuracy in the training record is the accuracy the reference computes."""
import json

import numpy as np
import pytest

from convflow.runtime import Session
from convflow.runtime.verify import verify

from conftest import CI_ZOO


@pytest.fixture(scope="module", params=CI_ZOO)
def zoo_artifact(request, trained_zoo, compiled):
    name = request.param
    directory = trained_zoo(name)
    return name, directory, compiled(directory / f"{name}.onnx", f"zoo-{name}")


def test_reference_equals_qkeras_and_qonnx_on_test_split(zoo_artifact):
    from convflow.models.data import load_dataset
    from convflow.models.train import load_qkeras, predict_logits
    from convflow.models.zoo import ZOO

    name, directory, artifact = zoo_artifact
    _, _, x_test, y_test = load_dataset(ZOO[name].dataset)
    x_test, y_test = x_test[:2000], y_test[:2000]
    assert len(x_test) >= 360
    session = Session(artifact)
    ints = session.run(x_test)
    keras_logits = predict_logits(load_qkeras(str(directory / f"{name}.h5")), x_test).astype(np.float64)
    assert np.array_equal(keras_logits / session.output_tensor.scale, ints)
    expected, results = verify(artifact, x_test, ["qonnx"], labels=y_test)
    assert results[1].error is None and results[1].differing_outputs == 0
    assert np.array_equal(expected, ints)


def test_training_record_accuracy_matches_reference(zoo_artifact):
    from convflow.models.data import load_dataset
    from convflow.models.zoo import ZOO

    name, directory, artifact = zoo_artifact
    record = json.loads((directory / f"{name}.json").read_text())
    _, _, x_test, y_test = load_dataset(ZOO[name].dataset)
    accuracy = float(np.mean(Session(artifact).run(x_test).argmax(axis=1) == y_test))
    assert accuracy == pytest.approx(record["test_accuracy"], abs=0.5 / len(y_test))
    assert accuracy > 0.3              # quick training still learns (10 classes: chance is 0.1)


def test_zoo_input_is_exact_integer_grid(zoo_artifact):
    from convflow.models.data import load_dataset, to_integers
    from convflow.models.zoo import ZOO

    name, _, artifact = zoo_artifact
    _, _, x_test, _ = load_dataset(ZOO[name].dataset)
    x = x_test[:500]
    session = Session(artifact)
    assert np.array_equal(session.quantize_input(x).reshape(len(x), -1),
                          to_integers(x, ZOO[name].dataset).reshape(len(x), -1))


def test_qkeras_h5_compiles_like_its_qonnx_export(trained_zoo, compiled, tmp_path):
    """`convflow compile model.h5` converts through qonnx itself, keeping the input quantiser the converter drops."""
    from convflow.compiler.compile import compile_model
    from convflow.models.data import load_dataset

    directory = trained_zoo("cnn-digits")
    from_onnx = compiled(directory / "cnn-digits.onnx", "zoo-cnn-digits")
    from_h5 = compile_model(directory / "cnn-digits.h5", tmp_path / "h5")
    _, _, x_test, _ = load_dataset("digits")
    a, b = Session(from_h5), Session(from_onnx)
    assert a.input_tensor.dtype == b.input_tensor.dtype                    # uint8, not the int16 fallback
    assert np.array_equal(a.run(x_test), b.run(x_test))
