"""Option values are checked at the door (runtime/cli/options.py): a bad value is one line naming the option and
what it takes, exit 2, before any work -- nothing is written, nothing is built."""
from __future__ import annotations

import json
import os

import pytest

from .helpers import cli, one_line_error

# (sub-command args before the option, the option's args, words the one line must hold)
ARTIFACT_OPTIONS = {
    "count_zero": (["run"], ["--count", "0"], ["--count", ">= 1"]),
    "count_negative": (["run"], ["--count", "-1"], ["--count", ">= 1"]),
    "count_text": (["run"], ["--count", "many"], ["--count", "not a whole number"]),
    "seed_negative": (["run"], ["--seed", "-3"], ["--seed"]),
    "show_negative": (["run"], ["--show", "-1"], ["--show"]),
    "unknown_backend": (["run"], ["--backend", "warp-drive"], ["unknown backend 'warp-drive'", "known backends"]),
    "sim_timeout_zero": (["run"], ["--sim-timeout", "0"], ["--sim-timeout"]),
    "sim_timeout_nan": (["run"], ["--sim-timeout", "nan"], ["--sim-timeout"]),
    "no_backend": (["verify"], ["--backends", ","], ["--backends", "names no backend"]),
    "empty_backends": (["verify"], ["--backends", ""], ["--backends"]),
    "typo_backend": (["verify"], ["--backends", "reference,csmi"], ["unknown backend 'csmi'"]),
    "twice": (["verify"], ["--backends", "csim,csim"], ["named twice"]),
    "verify_count_zero": (["verify"], ["--count", "0"], ["--count"]),
    "baud_zero": (["build"], ["--baud", "0"], ["--baud"]),
    "baud_negative": (["build"], ["--baud", "-9600"], ["--baud"]),
    "clock_negative": (["build"], ["--clock-mhz", "-5"], ["--clock-mhz"]),
    "clock_zero": (["build"], ["--clock-mhz", "0"], ["--clock-mhz"]),
    "clock_too_fast": (["build"], ["--clock-mhz", "1000"], ["--clock-mhz", "at most 400"]),
    "clock_inf": (["build"], ["--clock-mhz", "inf"], ["--clock-mhz"]),
    "part_injection": (["build"], ["--flow", "vitis", "--part", "xc7}; exec rm -rf ~ ;{"], ["--part"]),
    "baud_too_fast": (["build"], ["--baud", "20000000"], ["--baud 20000000", "clocks per bit", "at least 4"]),
    "baud_too_fast_pll": (["build"], ["--clock-mhz", "50", "--baud", "15000000"], ["50 MHz", "clocks per bit"]),
}


@pytest.mark.parametrize("case", list(ARTIFACT_OPTIONS))
def test_a_bad_option_is_one_line_before_any_work(pristine, artifact, case):
    command, option, needles = ARTIFACT_OPTIONS[case]
    art = artifact("tiny")
    before = sorted(os.listdir(art))
    r = cli(*command, art, *option)
    one_line_error(r, 2, *needles)
    assert r.stdout == "" and sorted(os.listdir(art)) == before          # no bitstream/, nothing built


MODEL_OPTIONS = {
    "input_bits_zero": (["--input-bits", "0"], ["--input-bits", "from 2 to 32"]),
    "input_bits_one": (["--input-bits", "1"], ["--input-bits"]),
    "input_bits_huge": (["--input-bits", "100"], ["--input-bits"]),
    "input_bits_text": (["--input-bits", "eight"], ["--input-bits", "not a whole number"]),
    "frac_bits_huge": (["--input-frac-bits", "99"], ["--input-frac-bits"]),
    "target_cycles_zero": (["--target-cycles", "0"], ["--target-cycles"]),
    "target_cycles_negative": (["--target-cycles", "-100"], ["--target-cycles"]),
    "part_tcl": (["--part", "a b"], ["--part", "not a Xilinx part name"]),
    "part_empty": (["--part", ""], ["--part"]),
}


@pytest.mark.parametrize("case", list(MODEL_OPTIONS))
def test_a_bad_compile_option_is_one_line(models, tmp_path, case):
    option, needles = MODEL_OPTIONS[case]
    r = cli("compile", models["tiny"], "-o", tmp_path / "art", *option)
    one_line_error(r, 2, *needles)
    assert os.listdir(tmp_path) == []


FOLDINGS = {
    "missing_file": (None, "no such file"),
    "bad_json": ("{'MatMul_0': [1, 1]}", "not valid JSON (line 1"),
    "not_an_object": ("[[1, 1]]", "want a JSON object"),
    "empty_object": ("{}", "want a JSON object"),
    "zero": ('{"MatMul_0": [0, 1]}', "two positive whole numbers"),
    "negative": ('{"MatMul_0": [1, -3]}', "two positive whole numbers"),
    "string": ('{"MatMul_0": ["2", 1]}', "two positive whole numbers"),
    "float": ('{"MatMul_0": [1.5, 1]}', "two positive whole numbers"),
    "bool": ('{"MatMul_0": [true, 1]}', "two positive whole numbers"),
    "one_number": ('{"MatMul_0": [2]}', "two positive whole numbers"),
    "unknown_layer": ('{"conv_99": [1, 1]}', "no layer 'conv_99'"),
    "not_dividing": ('{"MatMul_0": [2, 1]}', "must divide"),
}


@pytest.mark.parametrize("case", list(FOLDINGS))
def test_a_bad_folding_file_is_one_line(models, tmp_path, case):
    text, needle = FOLDINGS[case]
    path = tmp_path / "fold.json"
    if text is not None:
        path.write_text(text)
    r = cli("compile", models["tiny"], "-o", tmp_path / "art", "--folding", path)
    line = one_line_error(r, 2, needle)
    if case == "unknown_layer":
        assert "'MatMul_0'" in line                               # the known layers are listed
    assert not (tmp_path / "art").exists()


def test_a_good_folding_file_is_used(models, tmp_path):
    (tmp_path / "fold.json").write_text(json.dumps({"MatMul_0": [3, 2]}))
    r = cli("compile", models["tiny"], "-o", tmp_path / "art", "--folding", tmp_path / "fold.json")
    assert r.returncode == 0, r.stderr
    layer = json.loads((tmp_path / "art" / "manifest.json").read_text())["layers"][0]
    assert layer["folding"] == {"pe": 3, "simd": 2}


def test_input_bits_for_a_model_with_its_own_quantiser(models, tmp_path):
    r = cli("compile", models["tiny"], "-o", tmp_path / "art", "--input-bits", "8")
    one_line_error(r, 2, "--input-bits", "quantises its own input")
    assert not (tmp_path / "art").exists()


@pytest.mark.parametrize("args,needle", [
    (["train", "cnn-digits", "--epochs", "0"], "--epochs"),
    (["train", "cnn-digits", "--seed", "-1"], "--seed"),
    (["demo", "--count", "0"], "--count"),
    (["compile"], "required"),
    (["run", "x", "--no-such-option"], "unrecognized arguments"),
    (["frobnicate"], "invalid choice"),
])
def test_argparse_errors_are_one_line_too(args, needle, tmp_path):
    one_line_error(cli(*args, cwd=tmp_path), 2, needle)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("option", [{"backpressure": 1.0}, {"backpressure": -0.1}, {"backpressure": "lots"},
                                    {"backpressure_pattern": "sometimes"}, {"seed": -1}, {"max_cycles": 0},
                                    {"timeout_s": 0}, {"bogus": 1}])
def test_rtlsim_options_are_checked(pristine, option):
    from convflow.hw.errors import UsageError
    from convflow.runtime import Session
    with pytest.raises(UsageError, match="rtlsim"):
        Session(pristine["tiny"], "rtlsim", **option)


def test_csim_threads_are_checked(pristine):
    from convflow.hw.errors import UsageError
    from convflow.runtime import Session
    with pytest.raises(UsageError, match="threads"):
        Session(pristine["tiny"], "csim", threads=0)


def test_a_missing_tool_in_verify_is_exit_2_not_a_mismatch(pristine, tmp_path):
    r = cli("verify", pristine["tiny"], "--backends", "reference,csim", "--count", "5",
            env={"CXX": "no-such-compiler++", "CONVFLOW_CACHE": str(tmp_path / "cache")})
    one_line_error(r, 2, "backend csim could not run", "no-such-compiler++", "not on PATH")
    assert "DIFFERS" not in r.stdout


def test_a_backend_not_in_this_build_is_exit_2(pristine):
    from convflow.runtime.backends import available_backends
    missing = [b for b in ("device", "gpu") if b not in available_backends()]
    if not missing:
        pytest.skip("every backend is part of this build")
    one_line_error(cli("verify", pristine["tiny"], "--backends", f"reference,{missing[0]}", "--count", "5"), 2,
                   f"backend {missing[0]}")
