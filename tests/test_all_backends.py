"""Every backend this machine can run -- reference, qonnx, csim, rtlsim, device (the simulated board of the
artifact, behind its UART) and gpu (ONNX Runtime; the CPU provider where there is no GPU) -- gives the same integer
logits, compared with ==, on the same inputs: >= 1000 of cnn-digits and of the qonnx-zoo models, >= 100 of
lenet-fmnist.  The 784-input models (TFC: 63k simulated cycles per frame over the UART, LeNet) are behind -m slow."""
import time

import numpy as np
import pytest

from conftest import SHARED_MODEL_FILES
from convflow.runtime import Session
from test_models_hw import inputs_for, zoo_artifact

BACKENDS = ("qonnx", "csim", "rtlsim", "device", "gpu")
OPTIONS = {"device": {"port": "sim"}}


def check_every_backend(artifact, x) -> dict:
    """Run x through every backend; assert each equals the reference; return seconds per backend."""
    expected = Session(artifact).run(x)
    seconds = {}
    for backend in BACKENDS:
        with Session(artifact, backend, **OPTIONS.get(backend, {})) as session:
            t0 = time.perf_counter()
            got = session.run(x)
            seconds[backend] = time.perf_counter() - t0
        assert got.shape == expected.shape, backend
        differing = int((got != expected).reshape(len(x), -1).any(axis=1).sum())
        assert np.array_equal(got, expected), f"{backend}: {differing} of {len(x)} inputs differ"
    print(f"{artifact.name}: {len(x)} inputs, " + ", ".join(f"{b} {s:.1f} s" for b, s in seconds.items()))
    return seconds


def test_cnn_digits_every_backend(trained_zoo, compiled):
    artifact, x_test = zoo_artifact(trained_zoo, compiled, "cnn-digits")
    x = inputs_for(artifact, 1000, data=x_test)          # the 360 test images, then seeded random inputs
    assert len(x) == 1000
    check_every_backend(artifact, x)


@pytest.mark.parametrize("name", ["jet", pytest.param("tfc", marks=pytest.mark.slow)])
def test_qonnx_zoo_every_backend(compiled, name):
    artifact = compiled(SHARED_MODEL_FILES[name], name)
    check_every_backend(artifact, inputs_for(artifact, 1000, seed=4))


@pytest.mark.slow
def test_lenet_fmnist_every_backend(trained_zoo, compiled):
    artifact, x_test = zoo_artifact(trained_zoo, compiled, "lenet-fmnist")
    check_every_backend(artifact, inputs_for(artifact, 200, data=x_test[:200]))
