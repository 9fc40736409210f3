"""The bundled data sets: shapes, sizes, labels, and that every input lies exactly on the input grid."""

import gzip
import os

import numpy as np
import pytest

from convflow.models import data
from convflow.models.data import DatasetError, dataset_input_grid, load_dataset, read_idx, to_integers

FMNIST_PRESENT = os.path.exists(os.path.join(data.FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"))


def _check(name, x_tr, y_tr, x_te, y_te, grid_check_train=True):
    info = data.dataset_info(name)
    assert x_tr.shape == (info.n_train,) + info.shape
    assert x_te.shape == (info.n_test,) + info.shape
    assert y_tr.shape == (info.n_train,) and y_te.shape == (info.n_test,)
    assert x_tr.dtype == np.float32 and x_te.dtype == np.float32
    assert y_tr.dtype == np.int64 and y_te.dtype == np.int64
    assert set(np.unique(y_tr)) == set(range(info.n_classes)) == set(np.unique(y_te))
    grid = dataset_input_grid(name)
    for x in (x_tr, x_te) if grid_check_train else (x_te,):
        k = x.astype(np.float64) / grid["scale"]
        assert np.array_equal(k, np.rint(k)), "inputs must be exact multiples of the grid scale"
        assert k.min() >= grid["int_min"] and k.max() <= grid["int_max"]
        assert k.max() == grid["int_max"], "the grid's int_max should be reached (it is the raw maximum)"
        # x * 256 in float32 is the exact integer too (what the accelerator's input stage does)
        assert np.array_equal(x * np.float32(256), np.rint(k).astype(np.float32))
    return grid


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_small_datasets(name):
    x_tr, y_tr, x_te, y_te = load_dataset(name)
    _check(name, x_tr, y_tr, x_te, y_te)
    # stratified: every class has (almost) the same share in the test split as in the whole set
    counts = np.bincount(y_te)
    assert counts.max() - counts.min() <= 2


def test_digits_grid():
    x_tr, _, _, _ = load_dataset("digits")
    assert dataset_input_grid("digits") == {"bits": 8, "signed": False, "scale": 2.0 ** -8, "int_min": 0, "int_max": 128}
    assert set(np.unique(x_tr * 32)) <= set(range(17))


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_split_is_fixed_and_disjoint(name):
    a = load_dataset(name)
    b = load_dataset(name)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    x_tr, _, x_te, _ = a
    tr = {r.tobytes() for r in x_tr.reshape(len(x_tr), -1)}
    te = [r.tobytes() for r in x_te.reshape(len(x_te), -1)]
    # the split is by index; identical images may occur in both, but only rarely
    assert sum(t in tr for t in te) <= 0.02 * len(te)


@pytest.mark.skipif(not FMNIST_PRESENT, reason="Debian package dataset-fashion-mnist not installed")
@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fashion_mnist(full):
    x_tr, y_tr, x_te, y_te = load_dataset("fashion-mnist")
    grid = _check("fashion-mnist", x_tr, y_tr, x_te, y_te, grid_check_train=full)
    assert grid["int_max"] == 255
    assert np.array_equal(np.bincount(y_te), np.full(10, 1000))
    assert np.array_equal(np.bincount(y_tr), np.full(10, 6000))


def test_fashion_mnist_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="digits"):
        load_dataset("cifar-1000")


def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + np.array(arr.shape, dtype=">u4").tobytes()
    p = tmp_path / "a-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(header + arr.tobytes())
    assert np.array_equal(read_idx(str(p)), arr)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DatasetError, match="not an IDX"):
        read_idx(str(bad))
    short = tmp_path / "short"
    short.write_bytes(header + arr.tobytes()[:-1])
    with pytest.raises(DatasetError, match="size mismatch"):
        read_idx(str(short))


def test_to_integers():
    x = np.array([0, 1 / 256, 255 / 256], dtype=np.float32)
    assert to_integers(x, "mnist5k").tolist() == [0, 1, 255]
    with pytest.raises(DatasetError):
        to_integers(np.array([0.3], dtype=np.float32), "mnist5k")
    with pytest.raises(DatasetError):
        to_integers(np.array([1.0], dtype=np.float32), "digits")  # 256 > int_max 128
