"""The csim backend's precompiled ap_int header (runtime/backends/csim_pch.py): made beside the first build, used by
the next (g++ -H says it read the .gch), dropped and made anew when damaged, off on request -- and the library bit-exact with the reference in every case."""
from __future__ import annotations

import numpy as np
import pytest

from convflow.compiler.ir.interpret import run_graph
from convflow.runtime.backends import csim_pch
from convflow.runtime.backends.csim import CsimBackend, precompile_header

from hls.graphs import mlp
from hls.toolchain import make_artifact, toolchain


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    """A machine that has never run csim: an empty CONVFLOW_CACHE."""
    toolchain()
    root = tmp_path / "user_cache"
    monkeypatch.setenv("CONVFLOW_CACHE", str(root))
    monkeypatch.delenv("CONVFLOW_CSIM_PCH", raising=False)
    return root


def build_and_check(graph, directory, n=400, seed=0):
    """A fresh artifact and library cache (so g++ really runs); outputs equal the reference on n inputs."""
    backend = CsimBackend(make_artifact(graph, directory), cache_dir=directory / "library_cache")
    t = graph.input_tensor
    x = np.random.default_rng(seed).integers(t.dtype.min, t.dtype.max, size=(n, *t.shape), endpoint=True)
    got, want = backend.run(x), run_graph(graph, x)
    assert int((got != want).sum()) == 0
    assert backend.stats["compile_s"] > 0
    return backend.stats


def gch_files(root):
    return sorted((root / "csim_pch").glob(f"*/{csim_pch.HEADER_NAME}.gch"))


def test_made_by_the_first_build_used_by_the_next(tmp_path, user_cache):
    graph = mlp(seed=2, fold=((4, 8), (2, 4)))
    assert build_and_check(graph, tmp_path / "first")["pch"] == "built"
    csim_pch.finish_pending()           # the first build does not wait for the header it started
    assert len(gch_files(user_cache)) == 1
    assert build_and_check(graph, tmp_path / "second", seed=1)["pch"] == "used"
    # nothing half-made is left beside it
    assert [p.name for p in (user_cache / "csim_pch").iterdir()] == [gch_files(user_cache)[0].parent.name]


def test_damaged_header_is_never_used(tmp_path, user_cache):
    graph = mlp(seed=3, fold=((2, 2), (1, 1)))
    assert "made" in precompile_header()
    [gch] = gch_files(user_cache)
    gch.write_bytes(b"not a precompiled header" * 100)
    # its recorded sha256 no longer matches: g++ never sees it; it is dropped and this build makes a good one
    assert build_and_check(graph, tmp_path / "damaged")["pch"] == "built"
    csim_pch.finish_pending()
    [fresh] = gch_files(user_cache)
    assert fresh.read_bytes()[:24] != b"not a precompiled header"
    assert build_and_check(graph, tmp_path / "good", seed=2)["pch"] == "used"


def test_header_g_plus_plus_refuses_is_dropped(tmp_path, user_cache):
    """A .gch whose hash is right but that g++ cannot use (made by another compiler build, say): g++ ignores it
    and parses the real headers -- same library, still exact -- and the header is dropped."""
    from convflow.hw.integrity import sha256_file
    graph = mlp(seed=3, fold=((2, 2), (1, 1)))
    assert "made" in precompile_header()
    [gch] = gch_files(user_cache)
    gch.write_bytes(b"not a precompiled header" * 100)
    (gch.parent / csim_pch.GCH_HASH).write_text(sha256_file(gch) + "\n")
    assert build_and_check(graph, tmp_path / "refused")["pch"] == "ignored"
    assert gch_files(user_cache) == []


def test_off_on_request(tmp_path, user_cache, monkeypatch):
    monkeypatch.setenv("CONVFLOW_CSIM_PCH", "0")
    assert build_and_check(mlp(seed=4), tmp_path / "off")["pch"] == "off"
    assert gch_files(user_cache) == []
    assert "no precompiled header" in precompile_header()


def test_unwritable_cache_only_costs_speed(tmp_path, monkeypatch):
    toolchain()
    blocker = tmp_path / "a_file"
    blocker.write_text("CONVFLOW_CACHE points below a file: no cache directory can be made")
    monkeypatch.setenv("CONVFLOW_CACHE", str(blocker / "cache"))
    assert build_and_check(mlp(seed=5), tmp_path / "nocache")["pch"] == "off"


def test_only_gnu_gxx_gets_a_header():
    assert csim_pch.is_gnu("g++ (Debian 12.2.0-14) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc.\n")
    assert not csim_pch.is_gnu("Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu\n")
    assert not csim_pch.is_gnu("icpx (Intel(R) oneAPI DPC++/C++ Compiler)\n")


def test_relative_cache_path(tmp_path, monkeypatch):
    """CONVFLOW_CACHE given relative to the working directory: g++ runs in the build's own folder, so the header's
    folder must reach it as an absolute path (it once failed with 'cf_csim_pch.h: No such file or directory')."""
    toolchain()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVFLOW_CACHE", "relative_cache")
    monkeypatch.delenv("CONVFLOW_CSIM_PCH", raising=False)
    graph = mlp(seed=6, fold=((2, 2), (1, 1)))
    assert build_and_check(graph, tmp_path / "first")["pch"] == "built"
    assert build_and_check(graph, tmp_path / "second", seed=1)["pch"] == "used"
