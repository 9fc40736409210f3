"""Every shared and zoo model on the hardware backends: csim and rtlsim (under random back-pressure) equal the
reference bit for bit on >= 1000 inputs; rtlsim's measured cycles per frame match the estimate; the smallest
zoo model becomes a real ECP5 bitstream.  LeNet-sized runs are behind -m slow / -m bitstream."""
import json

import numpy as np
import pytest

from convflow.runtime import Session

from conftest import SHARED_MODEL_FILES


def inputs_for(artifact, n=1000, seed=0, data=None):
    """The model's own test data where it has some, topped up with seeded random inputs of its input range."""
    session = Session(artifact)
    lo, hi = session.input_range
    rng = np.random.default_rng(seed)
    parts = [session.quantize_input(data)] if data is not None else []
    have = sum(len(p) for p in parts)
    if have < n:
        parts.append(rng.integers(lo, hi + 1, size=(n - have,) + tuple(session.input_tensor.shape)))
    return np.concatenate(parts)


def assert_backend_exact(artifact, backend, x, **options):
    expected = Session(artifact).run(x)
    with Session(artifact, backend, **options) as session:
        got = session.run(x)
        stats = dict(session.stats)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"{backend}: {int((got != expected).any(axis=-1).sum())} inputs differ"
    return stats


def zoo_artifact(trained_zoo, compiled, name):
    from convflow.models.data import load_dataset
    from convflow.models.zoo import ZOO

    directory = trained_zoo(name)
    artifact = compiled(directory / f"{name}.onnx", f"zoo-{name}")
    _, _, x_test, _ = load_dataset(ZOO[name].dataset)
    return artifact, x_test


@pytest.mark.parametrize("name", ["tfc", "jet", "qkeras_3layer"])
def test_shared_models_rtlsim_under_backpressure(compiled, name):
    artifact = compiled(SHARED_MODEL_FILES[name], name)
    stats = assert_backend_exact(artifact, "rtlsim", inputs_for(artifact), backpressure=0.3, seed=5)
    assert stats["frames"] == 1000


def test_qkeras_3layer_csim(compiled):
    artifact = compiled(SHARED_MODEL_FILES["qkeras_3layer"], "qkeras_3layer")
    assert_backend_exact(artifact, "csim", inputs_for(artifact))


def check_zoo_model(trained_zoo, compiled, name):
    artifact, x_test = zoo_artifact(trained_zoo, compiled, name)
    x = inputs_for(artifact, data=x_test[:1000])
    assert_backend_exact(artifact, "csim", x)
    assert_backend_exact(artifact, "rtlsim", x, backpressure=0.2, seed=3)
    # without back-pressure the pipeline must run at the folding's ideal pace: the slowest stage's cycles
    stats = assert_backend_exact(artifact, "rtlsim", x[:200])
    ideal = Session(artifact).artifact.manifest["estimate"]["cycles_per_frame"]
    assert abs(stats["cycles_per_frame"] - ideal) <= 0.05 * ideal, (stats["cycles_per_frame"], ideal)


def test_zoo_cnn_digits_hw(trained_zoo, compiled):
    check_zoo_model(trained_zoo, compiled, "cnn-digits")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet-fmnist", "mlp-mnist5k"])
def test_zoo_models_hw_slow(trained_zoo, compiled, name):
    check_zoo_model(trained_zoo, compiled, name)


def build_and_check(artifact):
    from convflow.hw.flows.ecp5 import build

    report = build(artifact, board="ulx3s-85f")
    out = artifact / "bitstream"
    assert (out / "top.bit").stat().st_size > 100_000
    assert json.loads((out / "report.json").read_text()) == report
    for key in ("LUT4", "FF", "MULT18X18D", "EBR"):
        used, available = report["resources"][key]["used"], report["resources"][key]["available"]
        assert 0 <= used <= available
    assert report["resources"]["LUT4"]["used"] > 500                  # a real design, not an empty shell
    assert report["clock"]["fmax_mhz"] > 0 and report["clock"]["timing_met"]
    assert report["device"] == "LFE5U-85F" and set(report["times_s"]) >= {"synth", "pnr", "pack"}
    return report


def test_zoo_cnn_digits_bitstream(trained_zoo, compiled, tmp_path):
    """CI's one representative bitstream: the smallest zoo ConvNet on a ULX3S 85F."""
    import shutil

    artifact, _ = zoo_artifact(trained_zoo, compiled, "cnn-digits")
    mine = tmp_path / "art"
    shutil.copytree(artifact, mine)
    build_and_check(mine)


@pytest.mark.bitstream
@pytest.mark.parametrize("name", ["lenet-fmnist", "mlp-mnist5k"])
def test_zoo_bitstreams(trained_zoo, compiled, tmp_path, name):
    import shutil

    artifact, _ = zoo_artifact(trained_zoo, compiled, name)
    mine = tmp_path / "art"
    shutil.copytree(artifact, mine)
    build_and_check(mine)
