"""Build caches (hw/cache.py): per-user private folders, entries keyed by the content of every input, and a cached
binary used only when its recorded sha256 matches -- a planted or damaged one is rebuilt, never run."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import numpy as np
import pytest

from .helpers import cli, in_a_mount_namespace, listing, one_line_error, random_ints


def run_backend(art, backend, cache, tmp_path, n=25, env=None):
    """`convflow run` on ``backend`` with CONVFLOW_CACHE=cache; asserts it equals the reference; returns stdout."""
    from convflow.runtime import Session

    x = random_ints(art, n, seed=3)
    np.save(tmp_path / "x.npy", x)
    r = cli("run", art, "--backend", backend, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
            env={"CONVFLOW_CACHE": str(cache), **(env or {})})
    assert r.returncode == 0, r.stdout + r.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy"), Session(art).run(x))
    return r.stdout


def entries(cache, kind):
    return sorted(p for p in (cache / kind).iterdir() if p.is_dir() and not p.name.startswith("."))


def entry_of(art, kind, cache):
    """The cache entry of ``art``'s csim library or simulator, by its key (a warm cache may hold other models')."""
    from convflow.runtime.artifact import Artifact

    artifact = Artifact.load(art)
    if kind == "csim":
        from convflow.runtime.backends import csim
        cxx = csim.find_compiler()
        key = csim.library_key(artifact.source_files("hls"), cxx, csim._compiler_version(cxx), csim.CXX_FLAGS,
                               csim.ap_types_dir())
    else:
        from convflow.runtime.backends import rtlsim
        _, root = rtlsim.find_verilator()
        desc = json.loads((art / "rtl" / "accel.json").read_text())
        key = rtlsim.model_key(artifact.source_files("rtl"), desc, rtlsim._tool_versions(root))
    entry = cache / kind / key
    assert entry.is_dir(), f"no {kind} entry {key} in {cache}"
    return entry


def test_caches_are_private_and_never_in_the_artifact_or_tmp(artifact, fresh_cache, tmp_path):
    art = artifact("tiny")
    before = listing(art)
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    for backend in ("csim", "rtlsim"):
        run_backend(art, backend, fresh_cache, tmp_path, env={"TMPDIR": str(tmp)})
    assert listing(art) == before                               # nothing written into someone else's artifact
    assert os.listdir(tmp) == []                                # and nothing left under a shared $TMPDIR name
    for kind in ("csim", "rtlsim", "csim_pch", "verilator_runtime"):
        assert stat.S_IMODE((fresh_cache / kind).stat().st_mode) == 0o700, kind
    [lib] = entries(fresh_cache, "csim")
    assert json.loads((lib / "entry.json").read_text())["files"].keys() == {"libconvflow_csim.so"}


def _planted_library(path, marker):
    """A shared library whose constructor writes ``marker``: what a planted .so would run at load."""
    src = path.with_suffix(".c")
    src.write_text(f'#include <stdio.h>\n__attribute__((constructor)) static void p(void) {{ FILE* f = '
                   f'fopen("{marker}", "w"); if (f) fclose(f); }}\n')
    subprocess.run(["gcc", "-shared", "-fPIC", str(src), "-o", str(path)], check=True)


@pytest.mark.parametrize("damage", ["planted", "truncated", "record_removed"])
def test_a_damaged_csim_library_is_rebuilt_not_loaded(artifact, warm_cache, tmp_path, damage):
    art = artifact("tiny")
    entry = entry_of(art, "csim", warm_cache)
    lib = entry / "libconvflow_csim.so"
    marker = tmp_path / "planted-code-ran"
    if damage == "planted":
        _planted_library(lib, marker)
    elif damage == "truncated":                                # what a full disk or a crash leaves: SIGBUS before
        lib.write_bytes(lib.read_bytes()[: lib.stat().st_size // 3])
    else:
        (entry / "entry.json").unlink()
    out = run_backend(art, "csim", warm_cache, tmp_path)
    assert "pch: cached library" not in out and not marker.exists()
    if damage != "record_removed":
        assert "cache damaged" in out and "sha256" in out
    entry_of(art, "csim", warm_cache)                           # rebuilt in place of the damaged one
    assert "pch: cached library" in run_backend(art, "csim", warm_cache, tmp_path)    # the rebuilt one is used


@pytest.mark.parametrize("damage", ["planted", "truncated"])
def test_a_damaged_simulator_is_rebuilt_not_run(artifact, warm_cache, tmp_path, damage):
    art = artifact("tiny")
    entry = entry_of(art, "rtlsim", warm_cache)
    exe = entry / "Vcf_accel"
    marker = tmp_path / "planted-simulator-ran"
    if damage == "planted":
        exe.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
        exe.chmod(0o755)
    else:
        exe.write_bytes(exe.read_bytes()[:4096])
    out = run_backend(art, "rtlsim", warm_cache, tmp_path)
    assert "build time: 0 s" not in out and not marker.exists()
    assert "cache damaged" in out


def test_a_damaged_rom_copy_in_the_cache_is_rebuilt(artifact, warm_cache, tmp_path):
    art = artifact("tiny")
    entry = entry_of(art, "rtlsim", warm_cache)
    rom = sorted(entry.glob("*.hex"))[0]
    rom.write_text(rom.read_text().replace("0", "f"))            # would change the results if it were used
    out = run_backend(art, "rtlsim", warm_cache, tmp_path, n=5)
    assert "cache damaged" in out and rom.name in out


@pytest.mark.slow          # rebuilds the Verilator runtime (~15 s); the model entries' cases stay in the default run
def test_a_damaged_verilator_runtime_is_rebuilt(artifact, fresh_cache, tmp_path):
    art = artifact("tiny")
    [runtime] = entries(fresh_cache, "verilator_runtime")         # copied from the shared cache: one
    (runtime / "verilated.o").write_bytes(b"\x7fELF not really")
    run_backend(art, "rtlsim", fresh_cache, tmp_path)
    from convflow.hw.integrity import sha256_file
    record = json.loads((runtime / "entry.json").read_text())["files"]
    assert sha256_file(runtime / "verilated.o") == record["verilated.o"]


def test_the_ap_int_headers_count_by_content_not_size(tmp_path):
    """An edited header of the same size used to reuse a stale library (the key hashed file sizes)."""
    from convflow.runtime.backends.csim import ap_types_dir, library_key

    copy = tmp_path / "ap_types"
    shutil.copytree(ap_types_dir(), copy)
    files = {"tiny.cpp": "a" * 64}
    key = library_key(files, "g++", "v1", ["-O1"], copy)
    header = copy / "ap_int.h"
    text = header.read_bytes()
    header.write_bytes(text.replace(b"#", b" ", 1) if b"#" in text else b" " + text[1:])
    assert header.stat().st_size == len(text)
    assert library_key(files, "g++", "v1", ["-O1"], copy) != key


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
def test_a_cache_folder_of_another_user_is_refused(artifact, tmp_path):
    art = artifact("tiny")
    cache = tmp_path / "cache"
    (cache / "csim").mkdir(parents=True, mode=0o700)
    os.chown(cache / "csim", 65534, 65534)
    one_line_error(cli("run", art, "--backend", "csim", env={"CONVFLOW_CACHE": str(cache)}), 2,
                   "belongs to user id 65534", "CONVFLOW_CACHE")
    assert os.listdir(cache / "csim") == []


def test_a_cache_folder_others_can_write_is_refused(artifact, tmp_path):
    art = artifact("tiny")
    cache = tmp_path / "cache"
    (cache / "csim").mkdir(parents=True)
    os.chmod(cache / "csim", 0o777)
    one_line_error(cli("run", art, "--backend", "csim", env={"CONVFLOW_CACHE": str(cache)}), 2,
                   "writable by other users")


def test_a_cache_folder_that_is_a_link_is_refused(artifact, tmp_path):
    art = artifact("tiny")
    cache = tmp_path / "cache"
    cache.mkdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (cache / "rtlsim").symlink_to(tmp_path / "elsewhere")
    one_line_error(cli("run", art, "--backend", "rtlsim", env={"CONVFLOW_CACHE": str(cache)}), 2, "symbolic link")


@pytest.mark.parametrize("backend", ["csim", "rtlsim"])
def test_a_cache_below_a_file_is_one_line(artifact, tmp_path, backend):
    art = artifact("tiny")
    (tmp_path / "afile").write_text("not a folder")
    one_line_error(cli("run", art, "--backend", backend, env={"CONVFLOW_CACHE": str(tmp_path / "afile")}), 2,
                   "cache folder", "CONVFLOW_CACHE")


def test_a_read_only_cache_is_one_line(artifact, tmp_path):
    import sys
    art = artifact("tiny")
    (tmp_path / "ro").mkdir()
    script = (f"mount -t tmpfs -o size=1m tmpfs ro && mount -o remount,ro ro && CONVFLOW_CACHE=ro "
              f"{sys.executable} -m convflow.runtime.cli run {art} --backend csim")
    one_line_error(in_a_mount_namespace(script, tmp_path), 2, "cache folder", "Read-only file system")


def test_an_older_readable_cache_folder_is_made_private(artifact, fresh_cache, tmp_path):
    art = artifact("tiny")
    (fresh_cache / "csim").mkdir(mode=0o755)
    os.chmod(fresh_cache / "csim", 0o755)                       # what an older convflow made: readable by others
    run_backend(art, "csim", fresh_cache, tmp_path)
    assert stat.S_IMODE((fresh_cache / "csim").stat().st_mode) == 0o700


def test_work_folders_of_a_killed_build_are_cleared(artifact, warm_cache, tmp_path):
    art = artifact("tiny")
    entry = entry_of(art, "csim", warm_cache)
    shutil.rmtree(entry)
    stale = warm_cache / "csim" / f".{entry.name}.build-killed"
    (stale / "src").mkdir(parents=True)
    run_backend(art, "csim", warm_cache, tmp_path)
    assert not stale.exists()
    assert [p.name for p in (warm_cache / "csim").iterdir() if ".build-" in p.name] == []


def test_the_same_sources_elsewhere_share_one_entry(artifact, warm_cache, tmp_path):
    """The key is the sources' content, not where the artifact lies: the shared cache's entry serves copies."""
    first = artifact("tiny", tmp_path / "one")
    second = artifact("tiny", tmp_path / "a path with spaces")
    assert "pch: cached library" in run_backend(first, "csim", warm_cache, tmp_path)
    before = entries(warm_cache, "csim")
    assert "pch: cached library" in run_backend(second, "csim", warm_cache, tmp_path)
    assert entries(warm_cache, "csim") == before
