"""The command line explains itself: help text on every option of every sub-command with its default shown,
`--version`, the zoo / backends / boards listed, and `verify` without --backends running every backend this
machine can run and naming the ones it skips."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil

import pytest

from conftest import TFC
from test_cli import convflow


def subparsers():
    from convflow.runtime.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


def test_every_option_of_every_command_has_help_and_shows_its_default():
    parser, commands = subparsers()
    missing = []
    for name, command in [("convflow", parser), *commands.items()]:
        for action in command._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            text = action.help or ""
            if not text or text == argparse.SUPPRESS:
                missing.append(f"{name} {action.dest}: no help")
                continue
            has_default = action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0
            if has_default and "%(default)s" not in text and "default" not in text:
                missing.append(f"{name} {action.dest}: default {action.default!r} not shown")
            if action.choices and not isinstance(action.choices, dict):
                shown = command.format_help()
                assert all(str(c) in shown for c in action.choices), f"{name} {action.dest}: choices not listed"
    assert not missing, "\n".join(missing)


def test_help_lists_the_zoo_backends_and_boards_and_ends_whole():
    from convflow.hw.flows import ecp5_board
    from convflow.models.zoo import ZOO
    from convflow.runtime.backends import BACKEND_MODULES

    r = convflow("--help")
    assert r.returncode == 0 and r.stdout.rstrip().endswith("3 an internal error."), r.stdout[-300:]
    flat = " ".join(r.stdout.split())
    for name in [*ZOO, *BACKEND_MODULES, *ecp5_board.boards(), "report", "--version"]:
        assert name in flat, name
    compile_help = " ".join(convflow("compile", "--help").stdout.split())
    assert "--config" in compile_help and "(default xc7z020clg400-1)" in compile_help
    assert "cnn-digits" in compile_help and "ulx3s-85f" in compile_help
    verify_help = " ".join(convflow("verify", "--help").stdout.split())
    assert "every backend this machine can run" in verify_help and "rtlsim" in verify_help


def test_version():
    import convflow as api

    r = convflow("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"convflow {api.__version__}"


@pytest.fixture(scope="module")
def tfc_artifact(tmp_path_factory):
    from convflow.compiler.compile import compile_model

    return compile_model(TFC, tmp_path_factory.mktemp("verify_default") / "tfc")


def test_verify_without_backends_runs_what_this_machine_can(tfc_artifact):
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed (.ci/setup installs it)")
    r = convflow("verify", tfc_artifact, "--count", "20")
    assert r.returncode == 0, r.stdout + r.stderr
    for backend in ("qonnx", "csim", "rtlsim", "gpu"):
        assert re.search(rf"^{backend}\s+bit-exact", r.stdout, re.M), r.stdout
    assert "skipping device: no board port given" in r.stderr
    assert "verify passed: reference, qonnx, csim, rtlsim, gpu bit-exact on 20 inputs" in r.stdout


def test_verify_names_the_backends_it_skips_and_why(tfc_artifact):
    """Without a C++ compiler on PATH, csim and rtlsim are skipped, each with the reason; the rest still run."""
    import sys

    bare = os.path.dirname(sys.executable)                 # python, but no g++ / make / perl
    r = convflow("verify", tfc_artifact, "--count", "20", "--json", env={"PATH": bare})
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert [b["backend"] for b in data["backends"]] == ["reference", "qonnx", "gpu"]
    assert "g++" in data["skipped"]["csim"] and "g++" in data["skipped"]["rtlsim"]
    assert "--port" in data["skipped"]["device"]
    assert "skipping csim:" in r.stderr and "skipping rtlsim:" in r.stderr


def test_verify_on_every_backend_takes_the_first_thousand_of_a_test_split(trained_zoo, tmp_path):
    """A zoo model's test split through every backend stays short in CI: 1,000 inputs unless --count."""
    onnx = trained_zoo("mlp-mnist5k") / "mlp-mnist5k.onnx"
    r = convflow("verify", onnx, "-o", tmp_path / "v", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["inputs"] == 1000 and data["inputs_desc"].startswith("the first 1,000 of: mnist")
    assert {"csim", "rtlsim"} <= {b["backend"] for b in data["backends"]} or "csim" in data["skipped"]
