"""Shared fixtures: models trained and compiled once per test run, even with pytest-xdist workers (a file lock
guards each cached build in a directory every worker shares)."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
TFC = SHARED_MODELS / "qonnx-zoo" / "TFC" / "TFC_2W2A.onnx"
JET = SHARED_MODELS / "qonnx-zoo" / "JetTagging" / "qkeras_jettagging.onnx"
QKERAS_3LAYER = SHARED_MODELS / "hls4ml-examples" / "qkeras_3layer.json"
SHARED_MODEL_FILES = {"tfc": TFC, "jet": JET, "qkeras_3layer": QKERAS_3LAYER}

# zoo models trained (quickly) for the default test run; full training is behind -m slow
CI_ZOO = ("cnn-digits", "mlp-mnist5k", "lenet-fmnist")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A directory shared by all xdist workers of this run."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    path = base / "shared"
    path.mkdir(exist_ok=True)
    return path


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(path: Path, build):
    """Run ``build(path)`` unless another test (or worker) already did; returns path."""
    with locked(path):
        done = Path(str(path) + ".done")
        if not done.exists():
            build(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def trained_zoo(run_dir):
    """trained_zoo(name) -> directory holding <name>.h5, .onnx, .json (quick training, seed 0)."""
    def get(name: str) -> Path:
        from convflow.models.train import train

        return build_once(run_dir / "zoo" / name,
                          lambda p: train(name, str(p), quick=True, seed=0, progress=False))
    return get


@pytest.fixture(scope="session")
def compiled(run_dir):
    """compiled(model_path, key, **compile options) -> artifact directory, compiled once per key."""
    def get(model_path, key: str, **options) -> Path:
        from convflow.compiler.compile import compile_model

        return build_once(run_dir / "artifacts" / key, lambda p: compile_model(model_path, p, **options))
    return get


@pytest.fixture(scope="session")
def keras_models(tmp_path_factory):
    """Every QKeras model of tests/keras_builders.py, built once per session (TensorFlow starts once), with its
    .h5, .keras and .json + _weights.h5 files and the artifact compiled from the model object in memory:
    keras_models[name] -> KerasCase."""
    import warnings
    from dataclasses import dataclass

    from keras_builders import KERAS_MODELS

    from convflow.compiler.compile import compile_model

    @dataclass
    class KerasCase:
        name: str
        model: object
        keras_exact: bool
        artifact: Path
        files: dict

    base = tmp_path_factory.mktemp("keras_models")
    cases = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # Keras's serialisation warnings about QKeras objects
        for name, (builder, keras_exact) in KERAS_MODELS.items():
            model = builder(seed=len(cases))
            folder = base / name
            folder.mkdir()
            model.save(folder / f"{name}.h5")
            model.save(folder / f"{name}.keras")
            (folder / f"{name}.json").write_text(model.to_json())
            model.save_weights(folder / f"{name}_weights.h5")
            files = {suffix: folder / f"{name}.{suffix}" for suffix in ("h5", "keras", "json")}
            cases[name] = KerasCase(name, model, keras_exact, compile_model(model, folder / "artifact"), files)
    return cases
