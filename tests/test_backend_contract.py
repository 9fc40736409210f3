"""One contract for every backend: integer outputs of the right shape and dtype, bit-exact with the reference
on >= 1000 inputs, any batch size, and clear errors.  A new backend joins by being registered."""
import numpy as np
import pytest

from convflow.hw.errors import ConvflowError
from convflow.runtime import Session
from convflow.runtime.backends import available_backends, get_backend

from qonnx_builders import conv_bn_model

# device runs against the simulated board (the artifact's own board top behind a pseudo-terminal); gpu runs on
# ONNX Runtime's CUDA provider where there is one, else on its CPU provider
CONTRACT_BACKENDS = [b for b in available_backends() if b != "reference"]
OPTIONS = {"device": {"port": "sim"}}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    from convflow.compiler.compile import compile_model

    # a small conv net with per-channel scales, BN, pooling and Gemm: every IR op class but Add
    return compile_model(conv_bn_model(seed=11), tmp_path_factory.mktemp("contract") / "art", name="contract")


@pytest.fixture(scope="module")
def inputs(artifact):
    session = Session(artifact)
    lo, hi = session.input_range
    rng = np.random.default_rng(2024)
    x = rng.integers(lo, hi + 1, size=(1000,) + session.input_tensor.shape)
    x[:10] = lo
    x[10:20] = hi                                   # the extremes of the input range
    return x, session.run(x)


@pytest.mark.parametrize("backend", CONTRACT_BACKENDS)
def test_bit_exact_with_reference(backend, artifact, inputs):
    x, expected = inputs
    with Session(artifact, backend, **OPTIONS.get(backend, {})) as session:
        got = session.run(x)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)
        one = session.run(x[:1])
        assert np.array_equal(one, expected[:1])


@pytest.mark.parametrize("backend", ["reference"] + CONTRACT_BACKENDS)
def test_output_dtype_and_float_inputs(backend, artifact, inputs):
    x, expected = inputs
    with Session(artifact, backend, **OPTIONS.get(backend, {})) as session:
        got = session.run(x[:64])
        if session.backend.integer_exact:
            assert got.dtype == np.int64
        # floats in the model's real domain go through the model's own input quantiser first
        real = x[:64] * float(session.input_tensor.scale)
        assert np.array_equal(session.run(real.astype(np.float32)), expected[:64])


@pytest.mark.parametrize("backend", CONTRACT_BACKENDS)
def test_relative_artifact_path(backend, artifact, inputs, monkeypatch):
    """Tools run from other working directories: a relative artifact path must still work."""
    x, expected = inputs
    monkeypatch.chdir(artifact.parent)
    with Session(artifact.name, backend, **OPTIONS.get(backend, {})) as session:
        assert np.array_equal(session.run(x[:50]), expected[:50])


def test_unknown_backend_lists_known():
    with pytest.raises(ConvflowError, match="known backends: reference, qonnx"):
        get_backend("fpga-magic")
