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
