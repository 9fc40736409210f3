"""Sizes: a model too large for convflow's limits is refused before anything large is allocated (a 10000 x 10000
input used to climb to 6 GB and die with MemoryError); the limit is configurable; a wide layer under the limit
compiles in bounded memory."""
from __future__ import annotations

import resource
import sys

import numpy as np
import onnx
import pytest

from qonnx_builders import Builder

from .helpers import cli, one_line_error

# address space a compile of these models may use: far below the 6 GB the unguarded compile reached
MEMORY_LIMIT = 3 << 30


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def dense_model(features: int, outputs: int = 4) -> onnx.ModelProto:
    b = Builder(5)
    x = b.quant("x", np.float32(0.25), 4, signed=True)
    out = b.node("MatMul", [x, b.quant(b.const(np.zeros((features, outputs), np.float32) + 0.25, "w"),
                                       np.float32(0.25), 4, signed=True, narrow=True)])
    return b.model([1, features], out, [1, outputs], "dense")


def image_model(h: int, w: int, cout: int = 3, cin: int = 1) -> onnx.ModelProto:
    b = Builder(6)
    x = b.quant("x", np.float32(2.0 ** -8), 8, signed=False)
    y = b.node("Conv", [x, b.qweights((cout, cin, 1, 1), 4)], kernel_shape=[1, 1])
    y = b.quant(b.node("Relu", [y]), np.float32(2.0 ** -3), 4, signed=False)
    out = b.node("GlobalAveragePool", [y])
    return b.model([1, cin, h, w], out, [1, cout, 1, 1], "image")


def run_limited(tmp_path, model, *args, env=None):
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    import subprocess

    from .helpers import CLI
    import os
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(CLI + ["compile", str(path), "-o", str(tmp_path / "out"), *args], capture_output=True,
                          text=True, env=full_env, timeout=600, preexec_fn=limited)


def test_huge_input_refused_early(tmp_path):
    r = run_limited(tmp_path, image_model(10000, 10000))
    one_line_error(r, 2, "elements", "limit")
    assert not (tmp_path / "out").exists()


def test_huge_constant_refused(tmp_path):
    """Weights of 16.8 M elements: just over the default limit of 2^24."""
    r = run_limited(tmp_path, dense_model((1 << 22) + 1, 4))
    one_line_error(r, 2, "elements", "limit")


def test_limit_is_configurable(tmp_path):
    r = run_limited(tmp_path, image_model(64, 64), env={"CONVFLOW_MAX_ELEMENTS": "1000"})
    one_line_error(r, 2, "limit of 1,000")
    r = run_limited(tmp_path, image_model(64, 64), env={"CONVFLOW_MAX_ELEMENTS": "many"})
    one_line_error(r, 2, "CONVFLOW_MAX_ELEMENTS")


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is Linux's")
def test_wide_layer_compiles_in_bounded_memory(tmp_path):
    """A 1x1 convolution to 100,000 channels (the case that ran out of memory): under the limits it compiles, its
    threshold checks sample instead of enumerating 6.5e9 points, all inside 3 GB of address space."""
    r = run_limited(tmp_path, image_model(2, 2, cout=100_000), "--part", "xc7z020clg400-1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "out" / "manifest.json").is_file()
