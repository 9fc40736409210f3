"""Input batches are checked at the Session door, the same for every backend (runtime/inputs.py): shape, dtype,
finite floats, integers inside the input type (refused, never wrapped), and --input files that are missing,
truncated, pickled, or hold the wrong arrays."""
from __future__ import annotations

import datetime

import numpy as np
import pytest

from convflow.hw.errors import InputError
from convflow.runtime import Session

from .helpers import cli, one_line_error


@pytest.fixture(scope="module")
def tiny(pristine):
    return Session(pristine["tiny"])                 # input (6,) int4 [-8, 7]


@pytest.fixture(scope="module")
def conv(pristine):
    return Session(pristine["conv"])                 # source (3, 8, 8) NCHW, IR (8, 8, 3) int8


BAD_BATCHES = {
    "complex": (lambda: np.ones((2, 6), np.complex64), "complex numbers"),
    "datetime": (lambda: np.full((2, 6), np.datetime64("2024-01-01")), "dates"),
    "timedelta": (lambda: np.full((2, 6), np.timedelta64(3, "s")), "time spans"),
    "object": (lambda: np.array([[datetime.date.today()] * 6] * 2, dtype=object), "Python objects"),
    "bool": (lambda: np.ones((2, 6), bool), "booleans"),
    "strings": (lambda: np.full((2, 6), "7"), "strings"),
    "bytes": (lambda: np.full((2, 6), b"7"), "byte strings"),
    "records": (lambda: np.zeros((2, 6), dtype=[("a", "i4"), ("b", "f4")]), "structured records"),
    "scalar": (lambda: np.int64(3), "a single number"),
    "empty": (lambda: np.zeros((0, 6), np.int64), "empty batch"),
    "wrong_shape": (lambda: np.zeros((2, 7), np.int64), "per-sample shape (7,)"),
    "nan": (lambda: np.array([[0.1] * 6, [0.0] * 5 + [np.nan]]), "NaN or infinite"),
    "inf": (lambda: np.array([[np.inf] * 6]), "NaN or infinite"),
    "too_high": (lambda: np.array([[0, 0, 8, 0, 0, 0]]), "integer 8"),
    "too_low": (lambda: np.array([[0] * 6, [0, 0, 0, 0, 0, -9]]), "sample #1"),
    "uint64_huge": (lambda: np.full((1, 6), 2 ** 63 + 5, np.uint64), f"integer {2 ** 63 + 5}"),
    "ragged": (lambda: [[1, 2, 3], [1, 2]], "not a rectangular array"),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_a_bad_batch_is_refused_at_the_door(tiny, case):
    make, needle = BAD_BATCHES[case]
    with pytest.raises(InputError, match=".*") as info:
        tiny.run(make())
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_one_sample_without_the_batch_axis_runs_as_a_batch_of_one(tiny, conv):
    """Session.run / predict take one sample as hls4ml's predict does (its result has no batch axis either);
    an --input file's batch is still checked as a batch, where one sample is named as such."""
    from convflow.runtime.inputs import check_batch

    x = np.random.default_rng(2).integers(-8, 8, size=(3, 6))
    assert np.array_equal(tiny.run(x[1]), tiny.run(x)[1])
    image = np.random.default_rng(2).integers(-128, 128, size=(3, 8, 8))        # the source layout (C, H, W)
    assert np.array_equal(conv.run(image), conv.run(image[None])[0])
    with pytest.raises(InputError, match="without the batch dimension"):
        check_batch(tiny.graph, np.zeros(6, np.int64), where="--input x.npy")


def test_the_message_shows_both_layouts(conv):
    with pytest.raises(InputError) as info:
        conv.run(np.zeros((2, 8, 3, 8), np.int64))
    assert "(N, *(3, 8, 8)) in the source layout" in str(info.value) and "(N, *(8, 8, 3)) in NHWC" in str(info.value)


def test_both_layouts_and_floats_are_accepted(conv):
    x = np.random.default_rng(1).integers(-128, 128, size=(5, 8, 8, 3))
    nhwc = conv.run(x)
    assert np.array_equal(conv.run(np.transpose(x, (0, 3, 1, 2))), nhwc)
    real = x * float(conv.input_tensor.scale)
    assert np.array_equal(conv.run(real.astype(np.float32)), nhwc)


@pytest.mark.parametrize("backend", ["csim", "rtlsim"])
def test_out_of_range_integers_never_wrap_in_a_simulator(pristine, shared_cache, monkeypatch, backend):
    """rtlsim used to mask an int8 input of 1000 to -24 without a word."""
    monkeypatch.setenv("CONVFLOW_CACHE", str(shared_cache))
    with Session(pristine["tiny"], backend) as s:
        with pytest.raises(InputError, match="outside|integers of int4"):
            s.run(np.array([[0, 0, 100, 0, 0, 0]]))
        with pytest.raises(InputError):
            s.backend.run(np.array([[0, 0, 1000, 0, 0, 0]]))     # the backend itself refuses too
        with pytest.raises(InputError):
            s.run(np.full((1, 6), 2 ** 64 - 1, np.uint64))        # uint64 "holding -1"


# ---- --input files --------------------------------------------------------------------------------------------

def _write(path, kind):
    x = np.random.default_rng(0).integers(-8, 8, size=(10, 6))
    if kind == "npy":
        np.save(path, x)
    elif kind == "truncated_npy":
        np.save(path, x)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 40])
    elif kind == "object_npy":
        np.save(path, np.array([{"a": 1}] * 10, dtype=object), allow_pickle=True)
    elif kind == "npz_without_x":
        np.savez(path, images=x)
    elif kind == "object_npz":
        np.savez(path, x=np.array([{"a": 1}] * 10, dtype=object))
    elif kind == "truncated_npz":
        np.savez(path, x=x, y=np.arange(10))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "labels_mismatch":
        np.savez(path, x=x, y=np.arange(7))
    elif kind == "labels_float":
        np.savez(path, x=x, y=np.linspace(0, 1, 10))
    elif kind == "text":
        path.write_text("1,2,3,4,5,6\n")
    elif kind == "pickle":
        import pickle
        path.write_bytes(pickle.dumps(x))
    elif kind == "wrong_shape":
        np.save(path, x[:, :5])
    elif kind == "strings":
        np.save(path, np.full((3, 6), "x"))
    return path


BAD_FILES = {
    "truncated_npy": ("x.npy", "truncated"),
    "object_npy": ("x.npy", "Python objects"),
    "npz_without_x": ("x.npz", "holds no array 'x' (it holds 'images')"),
    "object_npz": ("x.npz", "Python objects"),
    "truncated_npz": ("x.npz", "damaged or truncated"),
    "labels_mismatch": ("x.npz", "7 labels 'y' for 10 inputs"),
    "labels_float": ("x.npz", "1-D integer array"),
    "text": ("x.csv", "not an .npy or .npz file"),
    "pickle": ("x.pkl", "not an .npy or .npz file"),
    "wrong_shape": ("x.npy", "per-sample shape (5,)"),
    "strings": ("x.npy", "strings"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_input_file_is_one_line_naming_it(pristine, tmp_path, kind):
    name, needle = BAD_FILES[kind]
    path = _write(tmp_path / name, kind)
    r = cli("run", pristine["tiny"], "--input", path)
    one_line_error(r, 2, f"--input {path}", needle)
    assert r.stdout == ""


def test_a_missing_or_folder_input_is_one_line(pristine, tmp_path):
    one_line_error(cli("run", pristine["tiny"], "--input", tmp_path / "nope.npy"), 2, "no such file")
    one_line_error(cli("run", pristine["tiny"], "--input", tmp_path), 2, "a folder")


def test_verify_refuses_a_bad_input_before_any_backend(pristine, tmp_path):
    path = _write(tmp_path / "x.npz", "labels_mismatch")
    one_line_error(cli("verify", pristine["tiny"], "--backends", "reference,csim", "--input", path), 2, "labels")


def test_a_good_npz_with_labels_runs(pristine, tmp_path):
    x = np.random.default_rng(0).integers(-8, 8, size=(10, 6))
    np.savez(tmp_path / "x.npz", x=x, y=np.zeros(10, np.int64))
    r = cli("run", pristine["tiny"], "--input", tmp_path / "x.npz", "--count", "4")
    assert r.returncode == 0 and "4 inputs" in r.stdout and "accuracy:" in r.stdout


def test_an_unreadable_input_file_is_one_line(pristine, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((3, 6), np.int64))
    path.chmod(0o000)
    tmp_path.chmod(0o755)
    command = [sys.executable, "-m", "convflow.runtime.cli", "run", str(pristine["tiny"]), "--input", str(path)]
    if os.geteuid() == 0:      # root reads anything: be nobody in a user namespace of our own
        if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "true"]).returncode != 0:
            pytest.skip("cannot drop root here")
        command = ["unshare", "--user", *command]
    r = subprocess.run(command, capture_output=True, text=True)
    one_line_error(r, 2, f"--input {path}", "cannot be read", "permission")
