"""Helpers of the hostile-input tests (tests/hostile/): the CLI run as a user runs it (a subprocess), the one-line
error contract, what is left on disk, and tampering.

Every case asserts three things: the exit code of its class (1 mismatch, 2 user error / missing tool, 3 internal,
130 / 143 interrupted), exactly one line on stderr without a traceback, and what is left on disk."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CLI = [sys.executable, "-m", "convflow.runtime.cli"]
SECRET = "SECRET-CONTENT-d41d8cd98f00"      # planted in files that must never be echoed in a message


def cli(*args, cwd=None, env=None, timeout=900) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=timeout)


def one_line_error(r, code: int, *needles) -> str:
    """Assert exit code ``code`` and exactly one stderr line without a traceback, holding every needle."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code, f"exit {r.returncode}, want {code}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert len(lines) == 1, f"want one line on stderr, got {len(lines)}:\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def listing(folder) -> list:
    """Every entry under ``folder`` (hidden ones too), relative, sorted: what is left on disk."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def leftovers(folder) -> list:
    """Staging / old-copy / temporary entries convflow makes beside an output: must be none after any run."""
    return [p for p in listing(folder) if ".convflow-staging-" in p or ".convflow-old-" in p
            or ".bitstream-build-" in p]


def rehash(artifact, *rels) -> None:
    """Record the current sha256 of ``rels`` in the manifest: a consistent lie (what a compiler bug, or a careful
    attacker, would produce)."""
    from convflow.hw.integrity import sha256_file

    path = Path(artifact) / "manifest.json"
    manifest = json.loads(path.read_text())
    for rel in rels:
        manifest["files"][rel] = sha256_file(Path(artifact) / rel)
    path.write_text(json.dumps(manifest, indent=1))


def edit_manifest(artifact, change) -> None:
    path = Path(artifact) / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=1))


def random_ints(artifact, n=20, seed=0) -> np.ndarray:
    from convflow.runtime import Session

    s = Session(artifact)
    lo, hi = s.input_range
    return np.random.default_rng(seed).integers(lo, hi + 1, size=(n, *s.input_tensor.shape))


def in_a_mount_namespace(script: str, tmp_path) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) where it may mount a tmpfs of its own (a private mount namespace: nothing is left
    mounted); skip where the system does not allow it."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user and mount namespaces are not available here")
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
