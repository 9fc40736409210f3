"""The command line: compile / run / verify exit codes and messages, as a user (or CI) sees them."""
import json
import subprocess
import sys

import numpy as np

from conftest import JET, TFC
from qonnx_builders import unsupported_op_model

CLI = [sys.executable, "-m", "convflow.runtime.cli"]


def convflow(*args, cwd=None, env=None):
    import os
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})})


def test_compile_run_verify_tfc(tmp_path):
    out = tmp_path / "tfc"
    r = convflow("compile", TFC, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "artifact written" in r.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["source"]["sha256"]
    assert [layer["op"] for layer in manifest["layers"]][:2] == ["Dense", "Threshold"]
    assert manifest["input"]["dtype"] == "int2" and manifest["output"]["shape"] == [10]

    x = np.random.default_rng(0).integers(-1, 2, size=(50, 784))
    np.save(tmp_path / "x.npy", x)
    r = convflow("run", out, "--backend", "reference", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    from convflow.runtime import Session
    assert np.array_equal(np.load(tmp_path / "y.npy"), Session(out).run(x))

    r = convflow("verify", out, "--backends", "reference,qonnx,csim,rtlsim", "--count", "1000")
    assert r.returncode == 0, r.stdout + r.stderr
    for backend in ("qonnx", "csim", "rtlsim"):
        assert any(line.startswith(backend) and "bit-exact" in line for line in r.stdout.splitlines()), r.stdout
    assert "1000 inputs" in r.stdout and "cycles_per_frame=" in r.stdout


def test_verify_exits_nonzero_on_a_difference(tmp_path):
    """Change one weight of a compiled artifact and record its new hash (what a compiler bug would produce): the
    reference no longer matches the source model."""
    from convflow.hw.integrity import sha256_file
    out = tmp_path / "jet"
    assert convflow("compile", JET, "-o", out).returncode == 0
    with np.load(out / "weights.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["0.weights"][0, 0] += 1
    np.savez(out / "weights.npz", **arrays)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["weights.npz"] = sha256_file(out / "weights.npz")
    (out / "manifest.json").write_text(json.dumps(manifest))
    r = convflow("verify", out, "--backends", "reference,qonnx", "--count", "1000")
    assert r.returncode == 1
    assert "DIFFERS" in r.stdout and "first differing input: #" in r.stdout
    assert "verify FAILED: qonnx" in r.stderr


def test_errors_are_one_clear_line(tmp_path):
    import onnx
    bad = tmp_path / "sig.onnx"
    onnx.save(unsupported_op_model(), str(bad))
    r = convflow("compile", bad, "-o", tmp_path / "a")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("convflow: error: node 'Sigmoid_0'") and "Traceback" not in r.stderr
    assert not (tmp_path / "a").exists()

    r = convflow("run", tmp_path / "nothing")
    assert r.returncode == 2 and "no manifest.json" in r.stderr

    out = tmp_path / "tfc"
    assert convflow("compile", TFC, "-o", out).returncode == 0
    r = convflow("run", out, "--backend", "warp-drive")
    assert r.returncode == 2 and "known backends: reference, qonnx" in r.stderr


def test_import_runtime_does_not_pull_tensorflow():
    code = ("import convflow.runtime, convflow.compiler.ir, sys; "
            "bad = [m for m in ('tensorflow', 'qkeras', 'onnxruntime') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_verify_zoo_name_uses_its_test_split(trained_zoo, tmp_path):
    zoo_dir = trained_zoo("cnn-digits").parent
    r = convflow("verify", "cnn-digits", "--zoo-dir", zoo_dir, "-o", tmp_path / "v", "--backends", "reference,qonnx")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "360 inputs (digits test split)" in r.stdout
    assert json.loads((tmp_path / "v" / "manifest.json").read_text())["dataset"] == "digits"
    r = convflow("run", tmp_path / "v", "--count", "20")
    assert r.returncode == 0 and "accuracy:" in r.stdout


def test_quiet_and_json_on_every_sub_command(tmp_path):
    from convflow.runtime.cli import COMMANDS, build_parser

    parser = build_parser()
    required = {"compile": ["M", "-o", "O"], "compare": ["M", "-o", "O"], "sweep": ["M", "-o", "O"], "demo": []}
    for command in COMMANDS:
        name = command.__name__.rsplit(".", 1)[-1]
        rest = required.get(name, ["M"])
        for argv in ([name, *rest, "--quiet", "--json"], ["--quiet", "--json", name, *rest]):
            args = parser.parse_args(argv)
            assert args.quiet and args.json, argv
        assert not parser.parse_args([name, *rest]).json

    out = tmp_path / "jet"
    r = convflow("--json", "compile", JET, "-o", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["artifact"] == str(out)
    r = convflow("run", out, "--backend", "gpu", "--count", "20", "--random", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["inputs"] == 20 and result["stats"]["provider"] and len(result["shown"]) == 3
    assert r.stderr.count("running gpu/model.onnx on ONNX Runtime's CPU provider") <= 1
    r = convflow("run", out, "--backend", "gpu", "--count", "20", "--random", "--quiet",
                 env={"CONVFLOW_PROGRESS": "1"})
    assert r.returncode == 0 and r.stderr == "", r.stderr            # --quiet: results only, no notes or bars
    assert r.stdout.startswith("gpu: 20 inputs")
    r = convflow("verify", out, "--backends", "reference,qonnx,gpu,device", "--port", "sim", "--count", "300",
                 "--quiet", "--json", env={"CONVFLOW_PROGRESS": "1"})
    assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr
    verdict = json.loads(r.stdout)
    assert verdict["passed"] and [b["backend"] for b in verdict["backends"]] == ["reference", "qonnx", "gpu", "device"]
    assert all(b["exact"] for b in verdict["backends"])


def test_train_shows_one_bar_and_no_tensorflow_noise(tmp_path):
    # bars are for terminals; CONVFLOW_PROGRESS=1 shows them on this captured stderr too
    r = convflow("train", "cnn-digits", "--quick", "-o", tmp_path / "z", env={"CONVFLOW_PROGRESS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("trained cnn-digits on digits: test accuracy")
    assert "Epoch 1/" not in r.stdout + r.stderr and "tensorflow/" not in r.stderr and "WARNING" not in r.stderr
    # one bar, redrawn in place on stderr (text mode reads its carriage returns as line ends): nothing else there
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("train cnn-digits:") for line in lines), r.stderr
    assert any("/8 [" in line for line in lines)
    r = convflow("train", "cnn-digits", "--quick", "-o", tmp_path / "z2", "--quiet", "--json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert json.loads(r.stdout)["model"] == "cnn-digits"
