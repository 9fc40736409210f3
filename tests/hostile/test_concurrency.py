"""Two processes at once: compiling into one target, or building one cache entry, stay consistent -- the target is
one complete artifact of one of them, the cache holds one complete entry, and nothing half-made is left."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from .helpers import CLI, cli, leftovers, random_ints


def together(*commands, env=None, cwd=None):
    """Start every command at once; wait for all; return their CompletedProcess-like (rc, stdout, stderr)."""
    full_env = dict(os.environ, **(env or {}))
    procs = [subprocess.Popen(CLI + [str(a) for a in c], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=full_env, cwd=cwd) for c in commands]
    return [(p.returncode, *p.communicate(timeout=900)) if p.wait(timeout=900) is not None else None for p in procs]


@pytest.mark.parametrize("same_model", [True, False], ids=["same_model", "two_models"])
def test_two_compiles_into_one_target(models, tmp_path, same_model):
    out = tmp_path / "art"
    second = models["tiny"] if same_model else models["conv"]
    for _ in range(3):                                          # a few rounds: the race goes both ways
        results = together(["compile", models["tiny"], "-o", out], ["compile", second, "-o", out])
        assert all(rc == 0 for rc, _, _ in results), results
        assert leftovers(tmp_path) == []
        r = cli("check", out)
        assert r.returncode == 0, r.stdout                      # one complete artifact, not a mix of two
        assert json.loads((out / "manifest.json").read_text())["model"] in ("tiny", "conv")


@pytest.mark.parametrize("backend", ["csim", "rtlsim"])
def test_two_processes_build_one_cache_entry(artifact, fresh_cache, tmp_path, backend):
    art = artifact("tiny")
    x = random_ints(art, 40, seed=8)
    np.save(tmp_path / "x.npy", x)
    results = together(*[["run", art, "--backend", backend, "--input", tmp_path / "x.npy", "--output",
                          tmp_path / f"y{i}.npy"] for i in range(2)], env={"CONVFLOW_CACHE": str(fresh_cache)})
    assert all(rc == 0 for rc, _, _ in results), results
    from convflow.runtime import Session
    want = Session(art).run(x)
    for i in range(2):
        assert np.array_equal(np.load(tmp_path / f"y{i}.npy"), want)
    root = fresh_cache / backend
    assert len([p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]) == 1
    assert [p.name for p in root.iterdir() if ".build-" in p.name] == []
    # built once: the other process waited for the lock and found the entry
    built = [out for _, out, _ in results if ("compile time: 0 s" not in out and "build time: 0 s" not in out)]
    assert len(built) == 1, [out for _, out, _ in results]
