"""Fixtures of the hostile-input tests: small models and artifacts compiled once per run, fresh copies to tamper
with, and a build cache warmed once."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import build_once

from .helpers import cli


@pytest.fixture(scope="session")
def models(run_dir) -> dict:
    """name -> a small QONNX model file (written once): 'tiny' (Dense 6 -> 3, int4 input), 'conv' (conv/BN/pool/
    Gemm, int8 NCHW input), 'unsupported' (a Sigmoid)."""
    import onnx

    from qonnx_builders import conv_bn_model, tiny_dense_model, unsupported_op_model

    folder = run_dir / "hostile_models"

    def write(path):
        path.mkdir(parents=True, exist_ok=True)
        onnx.save(tiny_dense_model(seed=4), str(path / "tiny.onnx"))
        onnx.save(conv_bn_model(seed=11), str(path / "conv.onnx"))
        onnx.save(unsupported_op_model(), str(path / "sig.onnx"))
    build_once(folder, write)
    return {"tiny": folder / "tiny.onnx", "conv": folder / "conv.onnx", "unsupported": folder / "sig.onnx"}


@pytest.fixture(scope="session")
def pristine(run_dir, models) -> dict:
    """name -> an artifact compiled once; never modified (tests tamper with copies: ``artifact``)."""
    from convflow.compiler.compile import compile_model

    return {name: build_once(run_dir / "hostile_artifacts" / name, lambda p, m=models[name]: compile_model(m, p))
            for name in ("tiny", "conv")}


@pytest.fixture
def artifact(pristine, tmp_path):
    """artifact(name="tiny") -> a fresh copy of a compiled artifact in this test's folder."""
    def get(name: str = "tiny", where: Path = None) -> Path:
        dest = where or tmp_path / f"art-{name}"
        shutil.copytree(pristine[name], dest)
        return dest
    return get


@pytest.fixture(scope="session")
def shared_cache(run_dir, pristine) -> Path:
    """A CONVFLOW_CACHE for these tests with the machine-wide builds made once (the csim precompiled header, the
    Verilator runtime, the tiny model's library and simulator), so that a case pays only for what it tests."""
    root = run_dir / "hostile_cache"

    def warm(path):
        r = cli("verify", pristine["tiny"], "--backends", "reference,csim,rtlsim", "--count", "10",
                env={"CONVFLOW_CACHE": str(path)})
        assert r.returncode == 0, r.stdout + r.stderr
    build_once(root, warm)
    return root


@pytest.fixture
def fresh_cache(shared_cache, tmp_path) -> Path:
    """A CONVFLOW_CACHE of this test's own, seeded with the machine-wide builds (copied, never linked: a cache
    folder that is a link is refused) but no model entries."""
    root = tmp_path / "cache"
    root.mkdir()
    for name in ("csim_pch", "verilator_runtime"):
        if (shared_cache / name).is_dir():
            shutil.copytree(shared_cache / name, root / name, symlinks=False)
    return root


@pytest.fixture
def warm_cache(shared_cache, tmp_path) -> Path:
    """A CONVFLOW_CACHE of this test's own holding a copy of everything the shared one has, the tiny model's csim
    library and simulator included: a case that damages an entry pays for one rebuild, not two builds."""
    root = tmp_path / "warm-cache"
    shutil.copytree(shared_cache, root, symlinks=False, ignore=shutil.ignore_patterns("*.lock"))
    return root

