"""Shrink a failing fuzz spec to a small one that still fails the same way, and save it as a regression.

The shrinker edits the spec, never the ONNX: each candidate is one edit (drop a unit, unwrap a residual block or a
concatenation into its branch, drop a branch, a shortcut or a pre-processing op; halve a shape; take a kernel,
stride, padding, group or channel count down; lower a bit width; drop a bias, BatchNorm, ReLU, zero point, narrow
range or per-channel scale; turn an arbitrary scale into a power of two), built by build.py (which legalises it)
and checked on the backend that failed.  The first candidate that still fails with the same signature
(check.Failure.signature) is kept and the search starts again from it; it ends when no edit keeps the failure
or the time is up.  Greedy and simple (delta debugging one edit at a time), which for models of a few units is
enough: what is left is the failure and little else.
"""
from __future__ import annotations

import copy
import datetime
import json
import time
from pathlib import Path

import onnx

from .build import build
from .check import Failure, check
from .generate import describe

REGRESSIONS = Path(__file__).parent / "regressions"


def _units_of(spec: dict):
    """(container list, index) of every unit in the spec, outer ones first, then those inside blocks."""
    found = []

    def walk(units):
        for i, u in enumerate(units):
            found.append((units, i))
            if u["op"] == "residual":
                walk(u["branch"])
                if u.get("shortcut"):
                    found.append((u, "shortcut"))
            elif u["op"] == "concat":
                for branch in u["branches"]:
                    walk(branch)
    walk(spec["units"])
    return found


def _simpler_values(u: dict):
    """Edits of one unit's parameters, each a (description, function(unit) -> unit | None)."""
    edits = []

    def setter(key, value):
        def f(unit):
            if unit.get(key, None) == value or key not in unit and value in (None, False, 0):
                return None
            unit[key] = value
            return unit
        return f

    for key, value in (("bias", False), ("bn", None), ("mul", None), ("relu", False), ("group", 1),
                       ("k", [1, 1]), ("stride", [1, 1]), ("pads", [0, 0, 0, 0]), ("shortcut", None),
                       ("ratio", 0), ("count_include_pad", 0), ("trunc", None), ("gemm", False), ("level", 0),
                       ("scale", [2, 1]), ("mode", 0), ("shared", True), ("explicit_value", False)):
        if key in u:
            edits.append((f"{key}={value}", setter(key, value)))
    for key in ("cout", "units"):
        if key in u and u[key] > 1:
            edits.append((f"{key}/2", lambda unit, key=key: dict(unit, **{key: max(1, unit[key] // 2)})))
            edits.append((f"{key}-1", lambda unit, key=key: dict(unit, **{key: unit[key] - 1})))
    if isinstance(u.get("k"), list) and max(u["k"]) > 1:
        edits.append(("k-1", lambda unit: dict(unit, k=[max(1, k - 1) for k in unit["k"]])))
    if isinstance(u.get("w"), dict):
        edits += [(f"w.{d}", lambda unit, f=f: _sub(unit, "w", f)) for d, f in _quantiser_edits(u["w"])]
    if isinstance(u.get("act"), dict):
        edits += [(f"act.{d}", lambda unit, f=f: _sub(unit, "act", f)) for d, f in _quantiser_edits(u["act"])]
    return edits


def _sub(unit, key, f):
    new = f(dict(unit[key]))
    if new is None:
        return None
    unit[key] = new
    return unit


def _quantiser_edits(q: dict):
    edits = []
    for key, value in (("zeropt", 0), ("narrow", False), ("pow2", True), ("per_channel", False), ("rel", 1.0),
                       ("kind", "quant")):
        if key in q and q[key] != value:
            edits.append((f"{key}={value}", lambda d, key=key, value=value: dict(d, **{key: value})))
    if "rounding" in q:
        edits.append(("rounding", lambda d: {k: v for k, v in d.items() if k != "rounding"}))
    if q.get("bits", 1) > 2:
        edits.append(("bits/2", lambda d: dict(d, bits=max(2, d["bits"] // 2))))
        edits.append(("bits-1", lambda d: dict(d, bits=d["bits"] - 1)))
    if q.get("kind") == "quant" and q.get("bits", 1) > 1 and q.get("signed") is False:
        edits.append(("signed", lambda d: dict(d, signed=True)))
    return edits


def candidates(spec: dict):
    """Every one-edit simplification of ``spec``, biggest first: (description, new spec)."""
    units = spec["units"]
    n = len(units)
    for size in sorted({n // 2, n // 4, 1} - {0}, reverse=True):           # drop runs of units
        for start in range(0, n, size):
            new = copy.deepcopy(spec)
            del new["units"][start:start + size]
            yield f"drop units {start}..{start + size - 1}", new
    for i, u in enumerate(units):                                          # unwrap blocks
        if u["op"] == "residual":
            new = copy.deepcopy(spec)
            new["units"][i:i + 1] = copy.deepcopy(u["branch"])
            yield f"unit {i}: the residual's branch only", new
        if u["op"] == "concat":
            for b, branch in enumerate(u["branches"]):
                new = copy.deepcopy(spec)
                new["units"][i:i + 1] = copy.deepcopy(branch)
                yield f"unit {i}: concat branch {b} only", new
                if len(u["branches"]) > 2 or branch:
                    new = copy.deepcopy(spec)
                    if len(u["branches"]) > 2:
                        del new["units"][i]["branches"][b]
                    else:
                        new["units"][i]["branches"][b] = []
                    yield f"unit {i}: concat without branch {b}'s layers", new
    inp = spec["input"]
    for j in range(len(inp.get("pre", []))):
        new = copy.deepcopy(spec)
        del new["input"]["pre"][j]
        yield f"drop pre-processing op {j}", new
    shape = inp["shape"]
    for axis, size in enumerate(shape):
        for smaller in sorted({1 if axis == 0 or len(shape) == 1 else 2, size // 2, size - 1}):
            if 0 < smaller < size and (axis == 0 or len(shape) == 1 or smaller >= 1):
                new = copy.deepcopy(spec)
                new["input"]["shape"][axis] = smaller
                yield f"input axis {axis}: {size} -> {smaller}", new
    if isinstance(inp.get("act"), dict):
        for d, f in _quantiser_edits(inp["act"]):
            new = copy.deepcopy(spec)
            new["input"]["act"] = f(dict(inp["act"]))
            yield f"input act {d}", new
    for index, (container, key) in enumerate(_units_of(spec)):
        unit = container[key]
        if unit is None:
            continue
        if isinstance(key, int) and container is not spec["units"]:       # a unit inside a branch: drop it
            new = copy.deepcopy(spec)
            c, k = _units_of(new)[index]
            del c[k]
            yield f"drop inner unit {index}", new
        for desc, edit in _simpler_values(unit):
            new = copy.deepcopy(spec)
            c, k = _units_of(new)[index]
            changed = edit(copy.deepcopy(c[k]))
            if changed is None:
                continue
            c[k] = changed
            yield f"unit {index} ({unit['op']}): {desc}", new


def _variant(spec: dict):
    """(build(spec) -> (model, built spec), check(spec, backends, workdir, name, inputs) -> Outcome, describe) for
    the spec's source: a QONNX spec (build.py) or a QKeras one (qkeras_models.py)."""
    if spec.get("source") == "qkeras":
        from .qkeras_models import build_qkeras, check_qkeras, describe_qkeras

        return (build_qkeras, lambda sp, backends, workdir, name, inputs:
                check_qkeras(sp, backends, workdir, name=name, inputs=inputs), describe_qkeras)
    return (build, lambda sp, backends, workdir, name, inputs:
            check(build(sp)[0], backends, workdir, name=name, inputs=inputs), describe)


def shrink(spec: dict, failure: Failure, backends, workdir, *, seconds: float = 600, inputs: int = 32,
           log=print) -> tuple:
    """The smallest spec found that fails with ``failure``'s signature on ``backends``: (spec, its Failure,
    tries)."""
    build_spec, check_spec, describe_spec = _variant(spec)
    deadline = time.monotonic() + seconds
    want = failure.signature()
    best, best_failure = spec, failure
    tries = 0
    improved = True
    seen = {json.dumps(spec, sort_keys=True)}
    while improved and time.monotonic() < deadline:
        improved = False
        for desc, candidate in candidates(best):
            if time.monotonic() > deadline:
                break
            try:
                _, built = build_spec(candidate)
            except Exception:                      # an edit the builder cannot make: not a smaller failure
                continue
            key = json.dumps(built, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            tries += 1
            outcome = check_spec(built, backends, workdir, f"shrink{tries}", inputs)
            if outcome.failure is not None and outcome.failure.signature() == want:
                best, best_failure = built, outcome.failure
                log(f"  shrink: {desc} -> {describe_spec(best)}")
                improved = True
                break
    return best, best_failure, tries


def save_regression(spec: dict, failure: Failure, backends, name: str | None = None, folder: Path = REGRESSIONS,
                    xfail: str | None = None) -> Path:
    """tests/fuzz/regressions/<name>.onnx (a QKeras spec: <name>.h5) and <name>.json (seed, backends, failure,
    spec, description); the test suite runs every one of them (test_fuzz.py::test_regression)."""
    build_spec, _, describe_spec = _variant(spec)
    model, built = build_spec(spec)
    source = spec.get("source", "qonnx")
    name = name or f"{'qkeras-' if source == 'qkeras' else ''}{failure.kind}-{failure.backend}-seed{spec['seed']}"
    folder.mkdir(parents=True, exist_ok=True)
    if source == "qkeras":
        model.save(str(folder / f"{name}.h5"))
    else:
        onnx.save(model, str(folder / f"{name}.onnx"))
    record = {"name": name, "source": source, "file": f"{name}.{'h5' if source == 'qkeras' else 'onnx'}",
              "seed": spec["seed"], "backends": list(backends), "description": describe_spec(built),
              "failure": {"kind": failure.kind, "backend": failure.backend, "message": failure.message},
              "found": datetime.date.today().isoformat(), "xfail": xfail, "spec": built}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
