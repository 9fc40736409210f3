"""Real models through the whole compiler (frontend -> passes -> compile_model -> hls/), then csim on the artifact:
integer equality with the reference backend on >= 1000 inputs (random inputs of the input type, and the data set
where the model has one)."""
from __future__ import annotations

import numpy as np
import pytest

from convflow.runtime import Session
from convflow.runtime.artifact import Artifact

from conftest import SHARED_MODEL_FILES
from hls.toolchain import toolchain


def assert_csim_equals_reference(artifact_dir, x):
    toolchain()
    artifact = Artifact.load(artifact_dir)
    reference = Session(artifact, backend="reference").run(x)
    with Session(artifact, backend="csim") as csim:
        got = csim.run(x)
    assert got.shape == reference.shape
    assert int((got != reference).sum()) == 0


def random_inputs(artifact_dir, n, seed=0):
    """Random codes of the model's own input quantiser (TFC's narrow one never makes the type's lowest code)."""
    session = Session(artifact_dir)
    lo, hi = session.input_range
    return np.random.default_rng(seed).integers(lo, hi, size=(n, *session.input_tensor.shape), endpoint=True)


@pytest.mark.parametrize("name", ["tfc", "jet"])
def test_shared_qonnx_models_csim(compiled, name):
    artifact = compiled(SHARED_MODEL_FILES[name], f"hls-{name}", emit_rtl=False)
    assert (artifact / "hls" / "build_prj.tcl").is_file()
    assert_csim_equals_reference(artifact, random_inputs(artifact, 1000))


def test_zoo_convnet_csim(trained_zoo, compiled):
    """cnn-digits (conv 3x3 - ReLU4 - maxpool - dense) on its test split and random inputs."""
    from convflow.models.data import load_dataset

    directory = trained_zoo("cnn-digits")
    artifact = compiled(directory / "cnn-digits.onnx", "zoo-cnn-digits")
    _, _, x_test, _ = load_dataset("digits")
    session = Session(artifact)
    x = session.quantize_input(np.asarray(x_test))
    assert_csim_equals_reference(artifact, np.concatenate([x, random_inputs(artifact, max(0, 1000 - len(x)))]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet-fmnist", "mlp-mnist5k"])
def test_zoo_models_csim_slow(trained_zoo, compiled, name):
    directory = trained_zoo(name)
    artifact = compiled(directory / f"{name}.onnx", f"zoo-{name}")
    assert_csim_equals_reference(artifact, random_inputs(artifact, 1000))
