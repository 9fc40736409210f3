"""Input batches checked at the door, in one place for every backend (Session calls ``check_batch``), and the
``--input`` files of run / verify (``load_input_file``).

A batch is (N, *source shape) or (N, *IR shape) with N >= 1, of real numbers: integers of the model's input type
(refused, never wrapped, when outside it -- uint64 values above int64 included), or finite floats in the model's
real input domain.  Booleans, complex numbers, dates, strings, objects and structured records are refused, each
with one line saying what was given and what the model takes.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from convflow.hw.errors import InputError

from . import layout

REFUSED_KINDS = {"b": "booleans", "c": "complex numbers", "M": "dates", "m": "time spans", "O": "Python objects",
                 "U": "strings", "S": "byte strings", "V": "structured records"}


def expected_shapes(graph) -> str:
    src, ir = layout.source_shape(graph), tuple(graph.input_tensor.shape)
    return f"(N, *{src}) in the source layout" + (f" or (N, *{ir}) in NHWC" if src != ir else "")


def check_batch(graph, x, where: str = "input batch") -> np.ndarray:
    """``x`` as an ndarray after every check (values unchanged); InputError naming ``where`` otherwise."""
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as exc:        # ragged nested lists
        raise InputError(f"{where}: not a rectangular array of numbers ({exc}); the model takes "
                         f"{expected_shapes(graph)}") from None
    kind = x.dtype.kind
    if kind in REFUSED_KINDS:
        what = REFUSED_KINDS[kind]
        hint = "; cast 0/1 data to integers first" if kind == "b" else ""
        raise InputError(f"{where}: holds {what} ({x.dtype}); the model takes integers of its input type "
                         f"{graph.input_tensor.dtype} or floats in its real input domain{hint}")
    if kind not in "iuf":                         # pragma: no cover - every numpy kind is listed above
        raise InputError(f"{where}: dtype {x.dtype} is not a number type")
    src, ir = layout.source_shape(graph), tuple(graph.input_tensor.shape)
    if x.ndim == 0:
        raise InputError(f"{where}: a single number; the model takes a batch {expected_shapes(graph)}")
    if x.shape in (src, ir) and x.ndim >= 1 and x.shape[1:] not in (src, ir):
        raise InputError(f"{where}: shape {x.shape} is one sample without the batch dimension; pass x[None] "
                         f"(the model takes {expected_shapes(graph)})")
    if x.shape[1:] not in (src, ir):
        raise InputError(f"{where}: per-sample shape {x.shape[1:]}; the model takes {expected_shapes(graph)}")
    if x.shape[0] == 0:
        raise InputError(f"{where}: an empty batch (0 samples); give at least one")
    if kind == "f":
        finite = np.isfinite(x)
        if not finite.all():
            first = np.unravel_index(int(np.argmin(finite)), x.shape)
            raise InputError(f"{where}: sample #{first[0]} holds {x[first]!r} (NaN or infinite); inputs must be "
                             "finite numbers")
        return x
    t = graph.input_tensor.dtype
    lo, hi = int(x.min()), int(x.max())          # exact, also for uint64 above the int64 range
    if lo < t.min or hi > t.max:
        flat = x.reshape(len(x), -1)
        mins, maxs = flat.min(axis=1), flat.max(axis=1)
        bad = next(i for i in range(len(x)) if int(mins[i]) < t.min or int(maxs[i]) > t.max)
        value = int(mins[bad]) if int(mins[bad]) < t.min else int(maxs[bad])
        raise InputError(f"{where}: integer {value} (sample #{bad}) is outside the input type {t} "
                         f"[{t.min}, {t.max}]; convflow refuses rather than wraps (give floats in the model's real "
                         "domain to have them quantised)")
    return x


class InputWarning(UserWarning):
    """An input batch convflow runs, but that is probably not what the user meant (raw data given as codes)."""


# an integer batch whose largest magnitude stays under this share of the quantiser's top code is probably raw data
# (sklearn's digits are 0..16 in pixels; the cnn-digits model takes codes 0..255 of [0, 1): 0..16 read as codes
# scored class 5 for a 1), not the quantiser's codes.  Only for a model's own quantiser of 5 to 8 bits: with fewer
# levels one cannot tell, and a wider grid (the int16 convflow picks for a model without an input quantiser: the
# jet tagger's features reach 2,301 of 32,767) is rarely filled
RAW_DATA_SHARE = 1 / 8
RAW_DATA_LEVELS = (16, 256)


def warn_codes(x: np.ndarray, levels: tuple, scale, implicit: bool = False) -> None:
    """Warn (InputWarning) about an integer batch that lies inside the input type but off the quantiser's codes
    [lo, hi] (a narrow range leaves out the type's minimum), or that uses only the bottom of them as raw data
    would (not for an ``implicit`` input grid, which convflow chose); the message names the range expected and the
    floats to give instead.  Each message is shown once per process (Python's default warning filter: the same
    text from the same line), however many backends a verify runs the batch on."""
    import warnings

    lo, hi = int(levels[0]), int(levels[1])
    xmin, xmax = int(x.min()), int(x.max())
    step = float(np.max(np.abs(scale)))
    domain = f"[{lo * step:g}, {hi * step:g}]"
    if xmin < lo or xmax > hi:
        warnings.warn(f"input batch: integers reach {xmin if xmin < lo else xmax}, off the input quantiser's codes "
                      f"[{lo}, {hi}]; the model never sees such a code (floats in its real domain {domain} are "
                      "quantised for you)", InputWarning)
        return
    top = max(abs(lo), abs(hi))
    reach = max(abs(xmin), abs(xmax))
    if not implicit and RAW_DATA_LEVELS[0] <= hi - lo + 1 <= RAW_DATA_LEVELS[1] and 0 < reach < top * RAW_DATA_SHARE:
        warnings.warn(f"input batch: integers are taken as the input quantiser's codes [{lo}, {hi}] (real = "
                      f"{step:g} x code), but this batch only reaches {reach}: if it is raw data (e.g. pixels "
                      f"0..{reach}), scale it to the model's real domain {domain} and give floats",
                      InputWarning)


def load_input_file(path, count=None) -> tuple:
    """(x, y or None) from an .npy batch, or an .npz holding ``x`` (and optionally ``y`` labels); the first
    ``count`` samples when count is given.  Never unpickles; every failure is one InputError naming the file."""
    path = Path(path)
    where = f"--input {path}"
    if not path.exists():
        raise InputError(f"{where}: no such file")
    if path.is_dir():
        raise InputError(f"{where}: a folder; give an .npy or .npz file")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror}); check its permissions") from None
    if magic.startswith(b"PK"):
        x, y = _load_npz(path, where)
    elif magic == b"\x93NUMPY":
        x, y = _load_npy(path, where), None
    else:
        raise InputError(f"{where}: not an .npy or .npz file (save the batch with numpy.save or numpy.savez)")
    if count is not None:
        x = x[:count]
        y = y[:count] if y is not None else None
    if y is not None:
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise InputError(f"{where}: labels 'y' must be a 1-D integer array, not {y.dtype} of shape {y.shape}")
        if len(y) != len(x):
            raise InputError(f"{where}: {len(y)} labels 'y' for {len(x)} inputs 'x'; give one label per input")
    return x, y


def _npy_header(handle, where):
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(handle)
        return np.lib.format.read_array_header_2_0(handle)
    except (ValueError, OSError, EOFError):
        raise InputError(f"{where}: damaged .npy header; save the batch again with numpy.save") from None


def _load_npy(path: Path, where: str) -> np.ndarray:
    with open(path, "rb") as handle:
        shape, _, dtype = _npy_header(handle, where)
        if dtype.hasobject:
            raise InputError(f"{where}: holds Python objects ({dtype}), which would need unpickling; save a "
                             "plain numeric array")
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        have = path.stat().st_size - handle.tell()
    if have < need:
        raise InputError(f"{where}: truncated: {have} of the {need} bytes of its {shape} {dtype} array")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise InputError(f"{where}: cannot be read as an .npy array; save the batch again") from None


def _load_npz(path: Path, where: str) -> tuple:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise InputError(f"{where}: a damaged or truncated .npz archive; save it again with numpy.savez") from None
    with archive:
        if "x" not in archive.files:
            held = ", ".join(repr(k) for k in archive.files[:6]) or "nothing"
            raise InputError(f"{where}: holds no array 'x' (it holds {held}); save with numpy.savez(path, x=..., "
                             "y=...)")
        return _npz_array(archive, "x", where), (_npz_array(archive, "y", where) if "y" in archive.files else None)


def _npz_array(archive, key: str, where: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError(f"{where}: array {key!r} holds Python objects, which would need unpickling; save a "
                             "plain numeric array") from None
        raise InputError(f"{where}: array {key!r} cannot be read (truncated or damaged)") from None
    except Exception as exc:            # OSError, EOFError, BadZipFile, zlib.error: a cut or damaged archive
        raise InputError(f"{where}: array {key!r} cannot be read (truncated or damaged: "
                         f"{type(exc).__name__})") from None
