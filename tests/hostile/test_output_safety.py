"""-o never deletes anything convflow did not write (hw/safe_output.py), for every command that writes: an artifact
is replaced atomically; a user's folder, the working directory, the input's folder and its parents are refused
unless --force, which writes beside what is there and still never replaces the input or a file that is not ours."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from .helpers import cli, in_a_mount_namespace, leftovers, listing, one_line_error


def users_folder(path, name="mine"):
    folder = path / name
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    (folder / "data").mkdir()
    (folder / "data" / "x.csv").write_text("1,2,3")
    return folder


def test_replaces_an_artifact_atomically(models, tmp_path):
    out = tmp_path / "art"
    assert cli("compile", models["conv"], "-o", out).returncode == 0
    inode = out.stat().st_ino
    (out / "bitstream").mkdir()                                  # ours: convflow build writes it
    (out / "bitstream" / "report.json").write_text("{}")
    r = cli("compile", models["tiny"], "-o", out)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "tiny" and out.stat().st_ino != inode       # a new folder swapped in
    assert not (out / "bitstream").exists()                     # the stale bitstream of the old model went with it
    assert leftovers(tmp_path) == []


def test_refuses_a_users_folder(models, tmp_path):
    folder = users_folder(tmp_path)
    before = listing(folder)
    r = cli("compile", models["tiny"], "-o", folder)
    one_line_error(r, 2, "holds files convflow did not write", "thesis.tex", "--force")
    assert listing(folder) == before and (folder / "thesis.tex").read_text() == "years of work"
    assert leftovers(tmp_path) == []


def test_force_writes_beside_a_users_files(models, tmp_path):
    folder = users_folder(tmp_path)
    r = cli("compile", models["tiny"], "-o", folder, "--force")
    assert r.returncode == 0, r.stderr
    assert (folder / "thesis.tex").read_text() == "years of work" and (folder / "data" / "x.csv").is_file()
    assert (folder / "manifest.json").is_file() and (folder / "hls").is_dir()
    # recompiling there: still refused without --force (the folder is not only ours), fine with it
    one_line_error(cli("compile", models["conv"], "-o", folder), 2, "thesis.tex")
    assert cli("compile", models["conv"], "-o", folder, "--force").returncode == 0
    assert json.loads((folder / "manifest.json").read_text())["model"] == "conv"
    assert (folder / "thesis.tex").read_text() == "years of work"
    assert cli("check", folder).returncode == 1                  # check sees the user's files as unrecorded
    assert leftovers(folder) == [] and leftovers(tmp_path) == []


@pytest.mark.parametrize("target", [".", ".."])
def test_refuses_the_working_directory_and_its_parents(models, tmp_path, target):
    work = tmp_path / "work"
    users_folder(work.parent, "work")
    shutil.copy(models["tiny"], work / "tiny.onnx")
    before = listing(tmp_path)
    r = cli("compile", "tiny.onnx", "-o", target, cwd=work)
    one_line_error(r, 2, "working directory", "nothing was deleted")
    assert listing(tmp_path) == before


def test_force_into_the_working_directory_keeps_everything(models, tmp_path):
    work = users_folder(tmp_path, "work")
    shutil.copy(models["tiny"], work / "tiny.onnx")
    r = cli("compile", "tiny.onnx", "-o", ".", "--force", cwd=work)
    assert r.returncode == 0, r.stderr
    names = set(os.listdir(work))
    assert {"thesis.tex", "data", "tiny.onnx", "manifest.json", "weights.npz", "hls", "rtl", "source.onnx"} <= names
    assert leftovers(work) == []


def test_refuses_the_inputs_folder(models, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(models["tiny"], folder / "tiny.onnx")
    r = cli("compile", folder / "tiny.onnx", "-o", folder)
    one_line_error(r, 2, "holds the input", "tiny.onnx")
    assert os.listdir(folder) == ["tiny.onnx"]


def test_refuses_a_parent_of_the_input(models, tmp_path):
    deep = tmp_path / "project" / "zoo" / "tiny"
    deep.mkdir(parents=True)
    shutil.copy(models["tiny"], deep / "tiny.onnx")
    before = listing(tmp_path)
    one_line_error(cli("compile", deep / "tiny.onnx", "-o", tmp_path / "project"), 2, "holds the input")
    assert listing(tmp_path) == before


def test_force_into_the_inputs_folder_never_touches_the_input(models, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(models["tiny"], folder / "tiny.onnx")
    digest = (folder / "tiny.onnx").read_bytes()
    assert cli("compile", folder / "tiny.onnx", "-o", folder, "--force").returncode == 0
    assert (folder / "tiny.onnx").read_bytes() == digest and (folder / "manifest.json").is_file()


def test_the_input_inside_the_artifact_is_never_replaced(artifact, tmp_path):
    """compile art/source.onnx -o art: the target holds the input -- refused, and with --force still refused,
    because writing source.onnx would replace the input itself."""
    art = artifact("tiny")
    before = (art / "manifest.json").read_bytes()
    one_line_error(cli("compile", art / "source.onnx", "-o", art), 2, "holds the input")
    one_line_error(cli("compile", art / "source.onnx", "-o", art, "--force"), 2, "would replace the input")
    assert (art / "manifest.json").read_bytes() == before and (art / "source.onnx").is_file()
    assert leftovers(art) == [] and leftovers(tmp_path) == []


def test_a_users_file_in_an_artifact_is_kept(artifact, models):
    art = artifact("tiny")
    (art / "notes.txt").write_text("my notes")
    one_line_error(cli("compile", models["conv"], "-o", art), 2, "notes.txt", "beside a convflow artifact")
    assert cli("compile", models["conv"], "-o", art, "--force").returncode == 0
    assert (art / "notes.txt").read_text() == "my notes"
    assert json.loads((art / "manifest.json").read_text())["model"] == "conv"


def test_force_never_replaces_a_folder_that_is_not_ours(models, tmp_path):
    folder = tmp_path / "mixed"
    (folder / "hls").mkdir(parents=True)
    (folder / "hls" / "my_design.cpp").write_text("// mine")
    one_line_error(cli("compile", models["tiny"], "-o", folder, "--force"), 2, "hls is there and convflow did not "
                   "write it", "even with --force")
    assert listing(folder) == ["hls", "hls/my_design.cpp"]


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_refuses_a_file_as_target(models, tmp_path, force):
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF")
    one_line_error(cli("compile", models["tiny"], "-o", target, *force), 2, "is a file")
    assert target.read_bytes() == b"%PDF"


def test_refuses_a_symlink_as_target(models, tmp_path):
    real = users_folder(tmp_path, "real")
    (tmp_path / "link").symlink_to(real)
    one_line_error(cli("compile", models["tiny"], "-o", tmp_path / "link", "--force"), 2, "symbolic link")
    assert sorted(os.listdir(real)) == ["data", "thesis.tex"]


def test_an_empty_folder_is_used(models, tmp_path):
    (tmp_path / "empty").mkdir()
    assert cli("compile", models["tiny"], "-o", tmp_path / "empty").returncode == 0
    assert (tmp_path / "empty" / "manifest.json").is_file()


def test_a_failed_compile_leaves_the_old_artifact_and_nothing_else(artifact, models, tmp_path):
    art = artifact("tiny")
    before = {p: (art / p).read_bytes() for p in listing(art) if (art / p).is_file()}
    one_line_error(cli("compile", models["unsupported"], "-o", art), 2, "Sigmoid")
    assert {p: (art / p).read_bytes() for p in listing(art) if (art / p).is_file()} == before
    assert leftovers(tmp_path) == []


def test_a_failed_compile_removes_the_folders_it_made(models, tmp_path):
    one_line_error(cli("compile", models["unsupported"], "-o", tmp_path / "a" / "b" / "art"), 2, "Sigmoid")
    assert os.listdir(tmp_path) == []


def test_verify_output_follows_the_same_rule(models, tmp_path):
    folder = users_folder(tmp_path)
    one_line_error(cli("verify", models["tiny"], "-o", folder, "--count", "5", "--backends", "reference"), 2,
                   "thesis.tex")
    r = cli("verify", models["tiny"], "-o", folder, "--count", "5", "--force", "--backends", "reference")
    assert r.returncode == 0, r.stderr
    assert (folder / "thesis.tex").is_file() and (folder / "manifest.json").is_file()


def test_train_output_follows_the_same_rule(tmp_path):
    folder = users_folder(tmp_path)
    one_line_error(cli("train", "cnn-digits", "-o", folder, "--quick"), 2, "thesis.tex")
    assert sorted(os.listdir(folder)) == ["data", "thesis.tex"]


def test_train_unknown_model_touches_nothing(tmp_path):
    one_line_error(cli("train", "no-such-net", "-o", tmp_path / "zoo"), 2, "unknown zoo model")
    assert os.listdir(tmp_path) == []


def test_build_never_replaces_a_users_bitstream_folder(artifact):
    art = artifact("tiny")
    (art / "bitstream").mkdir()
    (art / "bitstream" / "board-photo.jpg").write_bytes(b"\xff\xd8")
    one_line_error(cli("build", art), 2, "board-photo.jpg")
    assert os.listdir(art / "bitstream") == ["board-photo.jpg"]
    assert leftovers(art) == []


def test_run_output_never_overwrites_the_input(artifact, tmp_path):
    art = artifact("tiny")
    x = np.zeros((4, 6), np.int64)
    np.save(tmp_path / "x.npy", x)
    one_line_error(cli("run", art, "--input", tmp_path / "x.npy", "--output", tmp_path / "x.npy"), 2,
                   "is the input file")
    assert np.array_equal(np.load(tmp_path / "x.npy"), x)
    one_line_error(cli("run", art, "--input", tmp_path / "x.npy", "--output", art), 2, "is a folder")
    assert cli("run", art, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy").returncode == 0
    assert np.load(tmp_path / "y.npy").shape == (4, 3)
    assert leftovers(tmp_path) == []


def test_a_read_only_output_folder_is_one_line(models, tmp_path):
    import sys
    (tmp_path / "ro").mkdir()
    script = (f"mount -t tmpfs -o size=4m tmpfs ro && mount -o remount,ro ro && "
              f"{sys.executable} -m convflow.runtime.cli compile {models['tiny']} -o ro/art")
    r = in_a_mount_namespace(script, tmp_path)
    one_line_error(r, 2, "cannot write", "ro/art", "read-only")
    assert os.listdir(tmp_path / "ro") == []


def test_a_full_disk_leaves_nothing_half_written(models, tmp_path):
    """A real full disk: a 96 kB tmpfs cannot hold the conv model's artifact; the write fails half way."""
    import sys
    (tmp_path / "small").mkdir()
    script = (f"mount -t tmpfs -o size=96k tmpfs small && "
              f"{sys.executable} -m convflow.runtime.cli compile {models['conv']} -o small/art; rc=$?; "
              "ls -A small; exit $rc")
    r = in_a_mount_namespace(script, tmp_path)
    one_line_error(r, 2, "No space left on device", "nothing was left half-written")
    assert r.stdout.strip() == ""                              # the tmpfs is empty again: no staging folder


def test_the_python_api_refuses_too(models, tmp_path):
    from convflow.compiler.compile import compile_model
    from convflow.hw.errors import OutputRefused

    folder = users_folder(tmp_path)
    with pytest.raises(OutputRefused, match="thesis.tex"):
        compile_model(models["tiny"], folder)
    assert sorted(os.listdir(folder)) == ["data", "thesis.tex"]
    compile_model(models["tiny"], folder, force=True)
    assert (folder / "thesis.tex").is_file()
