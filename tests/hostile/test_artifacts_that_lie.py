"""Artifacts may come from someone else: every loader checks the manifest's record (sha256 of every file, paths
relative and inside, no links) before use, never prints a file's contents, and `convflow check` finds what a
loader cannot -- sources that do not match the graph -- without running anything."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from .helpers import SECRET, cli, edit_manifest, leftovers, one_line_error, random_ints, rehash


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(f"root:x:0:0:{SECRET}\n" * 3)
    return path


def assert_no_secret(r):
    assert SECRET not in r.stdout and SECRET not in r.stderr


def test_a_clean_artifact_passes_check(artifact):
    art = artifact("conv")
    r = cli("check", art)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "check passed" in r.stdout and "hls/: all" in r.stdout and "rtl/: all" in r.stdout
    assert r.stderr == ""


def test_check_on_something_that_is_not_an_artifact(tmp_path):
    one_line_error(cli("check", tmp_path), 2, "no manifest.json")


# ---- files changed after they were recorded: every loader refuses, check reports ----------------------------

TAMPERED = {
    "weights": ("weights.npz", "reference"),
    "hls_top": ("hls/tiny.cpp", "csim"),
    "hls_header": ("hls/convflow_hls/cf_mvu.h", "csim"),
    "rtl_top": ("rtl/cf_accel.v", "rtlsim"),
    "accel_json": ("rtl/accel.json", "rtlsim"),
    "source_onnx": ("source.onnx", "qonnx"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_changed_file_is_refused_by_every_loader(artifact, shared_cache, case):
    rel, backend = TAMPERED[case]
    art = artifact("tiny")
    with open(art / rel, "ab") as handle:
        handle.write(b"\n// appended by someone else\n")
    r = cli("run", art, "--backend", backend, env={"CONVFLOW_CACHE": str(shared_cache)})
    one_line_error(r, 2, rel, "does not match its recorded sha256")
    r = cli("check", art)
    assert r.returncode == 1 and "FAIL files" in r.stdout
    one_line_error(r, 1, "check FAILED", rel)


def test_a_changed_rom_file_is_refused(artifact, shared_cache):
    art = artifact("conv")
    hexes = sorted((art / "rtl").glob("*.hex"))
    assert hexes
    hexes[0].write_text(hexes[0].read_text().replace("0", "1", 1))
    r = cli("run", art, "--backend", "rtlsim", env={"CONVFLOW_CACHE": str(shared_cache)})
    one_line_error(r, 2, hexes[0].name, "sha256")


def test_a_missing_file_is_refused(artifact):
    art = artifact("tiny")
    (art / "rtl" / "cf_accel.v").unlink()
    one_line_error(cli("run", art), 2, "rtl/cf_accel.v is missing")
    one_line_error(cli("check", art), 1, "rtl/cf_accel.v")


# ---- paths that leave the artifact --------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.v", "rtl/../../outside.v", "rtl/./cf_accel.v",
                                 'rtl/x"\n#include "evil.h', "rtl/$(reboot).v", "rtl/-o.v", "rtl/+incdir+x.v",
                                 "rtl/.hidden", "C:\\windows\\x.v", ""])
def test_a_recorded_path_must_stay_inside(artifact, bad):
    art = artifact("tiny")
    edit_manifest(art, lambda m: m["files"].update({bad: "0" * 64}))
    r = cli("run", art)
    one_line_error(r, 2)
    assert any(w in r.stderr for w in ("not a relative path", "leaves the folder", "characters convflow never",
                                       "non-empty string"))
    one_line_error(cli("check", art), 1, "manifest")


def test_weights_named_outside_are_refused(artifact, secret_file):
    art = artifact("tiny")
    edit_manifest(art, lambda m: m.update(weights=str(secret_file)))
    r = cli("run", art)
    one_line_error(r, 2, "not a relative path")
    assert_no_secret(r)


def test_sources_named_outside_are_refused(artifact):
    art = artifact("tiny")
    edit_manifest(art, lambda m: m["sources"].update(hls="../elsewhere"))
    one_line_error(cli("run", art, "--backend", "csim"), 2, "leaves the folder")


def test_a_symlink_out_of_the_artifact_is_refused(artifact, secret_file, shared_cache):
    art = artifact("tiny")
    (art / "rtl" / "cf_accel.v").unlink()
    (art / "rtl" / "cf_accel.v").symlink_to(secret_file)
    rehash(art, "rtl/cf_accel.v")                              # even with its hash recorded
    for args in (["run", art, "--backend", "rtlsim"], ["build", art], ["check", art]):
        r = cli(*args, env={"CONVFLOW_CACHE": str(shared_cache)})
        assert r.returncode in (1, 2) and "symbolic link" in r.stderr + r.stdout, r.stderr
        assert_no_secret(r)


def test_a_symlinked_source_folder_is_refused(artifact, tmp_path):
    art = artifact("tiny")
    os.rename(art / "hls", tmp_path / "hls-elsewhere")
    (art / "hls").symlink_to(tmp_path / "hls-elsewhere")
    one_line_error(cli("run", art, "--backend", "csim"), 2, "symbolic link")


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_accel_json_cannot_name_files_outside(artifact, secret_file, how):
    """The ECP5 flow used to follow rtl/accel.json's `files` to /etc/passwd and print its lines."""
    art = artifact("tiny")
    spec = json.loads((art / "rtl" / "accel.json").read_text())
    spec["files"].append(str(secret_file) if how == "absolute" else "../../secret.txt")
    (art / "rtl" / "accel.json").write_text(json.dumps(spec))
    rehash(art, "rtl/accel.json")
    for args in (["build", art], ["run", art, "--backend", "rtlsim"]):
        r = cli(*args)
        one_line_error(r, 2)
        assert "refusing" in r.stderr or "not a relative path" in r.stderr
        assert_no_secret(r)
    assert leftovers(art) == []


def test_accel_json_cannot_name_unrecorded_files(artifact):
    art = artifact("tiny")
    (art / "rtl" / "extra.v").write_text("module extra; endmodule\n")
    spec = json.loads((art / "rtl" / "accel.json").read_text())
    spec["files"].insert(0, "extra.v")
    (art / "rtl" / "accel.json").write_text(json.dumps(spec))
    rehash(art, "rtl/accel.json")
    one_line_error(cli("run", art, "--backend", "rtlsim"), 2, "extra.v", "does not record")
    one_line_error(cli("build", art), 2, "extra.v", "not recorded")


@pytest.mark.parametrize("field,value", [("in_elems", 999), ("out_bits", 64), ("in_signed", False),
                                         ("in_shape", [3, 2])])
def test_accel_json_must_match_the_graph(artifact, field, value):
    art = artifact("tiny")
    spec = json.loads((art / "rtl" / "accel.json").read_text())
    spec[field] = value
    (art / "rtl" / "accel.json").write_text(json.dumps(spec))
    rehash(art, "rtl/accel.json")
    one_line_error(cli("run", art, "--backend", "rtlsim"), 2, field, "does not belong to this model")


# ---- manifests and weights that are not what convflow writes ------------------------------------------------

def test_a_manifest_without_hashes_is_refused(artifact):
    art = artifact("tiny")
    edit_manifest(art, lambda m: m.pop("files"))
    one_line_error(cli("run", art), 2, "no 'files' record", "recompile")
    one_line_error(cli("check", art), 1, "no 'files' record")


@pytest.mark.parametrize("text,needle", [("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object"),
                                         ('{"format_version": 99}', "format_version 99")])
def test_a_broken_manifest_is_one_line(artifact, text, needle):
    art = artifact("tiny")
    (art / "manifest.json").write_text(text)
    one_line_error(cli("run", art), 2, needle)


def test_float_weights_are_refused_not_truncated(artifact):
    art = artifact("tiny")
    with np.load(art / "weights.npz") as data:
        arrays = {k: data[k] for k in data.files}
    key = next(iter(arrays))
    arrays[key] = arrays[key].astype(np.float64) + 0.5
    np.savez(art / "weights.npz", **arrays)
    rehash(art, "weights.npz")
    one_line_error(cli("run", art), 2, key, "float64", "integers")


def test_pickled_weights_are_refused(artifact):
    art = artifact("tiny")
    with np.load(art / "weights.npz") as data:
        arrays = {k: data[k] for k in data.files}
    key = next(iter(arrays))
    arrays[key] = np.array([{"payload": "os.system"}], dtype=object)
    np.savez(art / "weights.npz", **arrays)
    rehash(art, "weights.npz")
    one_line_error(cli("run", art), 2, "weights.npz", "pickle")


def test_weights_missing_an_array_are_refused(artifact):
    art = artifact("tiny")
    with np.load(art / "weights.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays.pop(next(iter(arrays)))
    np.savez(art / "weights.npz", **arrays)
    rehash(art, "weights.npz")
    one_line_error(cli("run", art), 2, "missing", "weights.npz")


def test_a_graph_naming_an_unknown_tensor_is_refused(artifact):
    art = artifact("tiny")
    edit_manifest(art, lambda m: m["graph"]["layers"][0].update(inputs=["nowhere"]))
    one_line_error(cli("run", art), 2, "'nowhere'")


# ---- consistent lies: hashes recorded, so loaders accept them; check does not --------------------------------

def test_check_finds_sources_that_do_not_match_the_graph(artifact):
    art = artifact("tiny")
    text = (art / "hls" / "tiny.cpp").read_text()
    (art / "hls" / "tiny.cpp").write_text(text + "\nstatic int planted = (system(\"id\"), 0);\n")
    rehash(art, "hls/tiny.cpp")
    r = cli("check", art)
    one_line_error(r, 1, "hls/", "tiny.cpp")
    assert "differ from what the graph generates" in r.stdout


def test_verify_finds_weights_that_lie_consistently(artifact):
    """Hashes recorded, so every loader accepts the weights: the reference then disagrees with the source model,
    and verify says so -- exit 1, a mismatch, not a user error."""
    art = artifact("conv")
    with np.load(art / "weights.npz") as data:
        arrays = {k: data[k] for k in data.files}
    key = next(k for k in arrays if k.endswith("weights"))
    arrays[key] = -arrays[key]
    np.savez(art / "weights.npz", **arrays)
    rehash(art, "weights.npz")
    r = cli("verify", art, "--backends", "reference,qonnx", "--count", "50")
    one_line_error(r, 1, "verify FAILED: qonnx")
    assert "DIFFERS" in r.stdout


def test_check_finds_weights_that_do_not_match_the_sources(artifact):
    art = artifact("conv")
    with np.load(art / "weights.npz") as data:
        arrays = {k: data[k] for k in data.files}
    key = next(k for k in arrays if k.endswith("weights"))
    arrays[key] = -arrays[key]
    np.savez(art / "weights.npz", **arrays)
    rehash(art, "weights.npz")
    r = cli("check", art)
    assert r.returncode == 1 and "FAIL hls/" in r.stdout and "FAIL rtl/" in r.stdout


def test_check_finds_a_manifest_that_lies_about_the_graph(artifact):
    art = artifact("tiny")
    edit_manifest(art, lambda m: m["input"].update(shape=[600]))
    one_line_error(cli("check", art), 1, "manifest vs graph", "input")


def test_check_finds_a_part_name_that_would_reach_tcl(artifact):
    art = artifact("tiny")
    edit_manifest(art, lambda m: m.update(part="xc7z020}; exec touch /tmp/pwned; {"))
    one_line_error(cli("check", art), 1, "part")


def test_a_planted_header_is_never_compiled_and_check_reports_it(artifact, shared_cache, tmp_path):
    """hls/ap_int.h beside the sources would shadow Xilinx's header on the -I path: csim compiles only the
    recorded files (copied), so it is never seen; check reports it."""
    art = artifact("tiny")
    (art / "hls" / "ap_int.h").write_text("#error planted header was compiled\n")
    (art / "hls" / "convflow_hls" / "hls_stream.h").write_text('#error planted\n')
    x = random_ints(art, 30)
    np.save(tmp_path / "x.npy", x)
    r = cli("run", art, "--backend", "csim", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
            env={"CONVFLOW_CACHE": str(shared_cache)})
    assert r.returncode == 0, r.stderr
    from convflow.runtime import Session
    assert np.array_equal(np.load(tmp_path / "y.npy"), Session(art).run(x))      # and no #error was met
    r = cli("check", art)
    one_line_error(r, 1, "unrecorded files", "hls/ap_int.h")


def test_a_lying_cycle_budget_in_accel_json_changes_nothing(artifact, shared_cache, tmp_path):
    """rtlsim's budget used to come from accel.json's stage cycles; a huge value ran for ever.  Now it comes
    from the graph."""
    art = artifact("tiny")
    spec = json.loads((art / "rtl" / "accel.json").read_text())
    for stage in spec["stages"]:
        stage["cycles"] = 10 ** 18
    (art / "rtl" / "accel.json").write_text(json.dumps(spec))
    rehash(art, "rtl/accel.json")
    from convflow.runtime import Session
    with Session(art, "rtlsim", cache_dir=tmp_path / "c") as s:
        honest_budget = s.backend.budgets(10)
        assert honest_budget[0] < 10 ** 7
        x = random_ints(art, 10)
        assert np.array_equal(s.run(x), Session(art).run(x))
