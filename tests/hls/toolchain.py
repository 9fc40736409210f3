"""Shared helpers of the HLS tests: the C++ toolchain (skip cleanly where g++ or hls4ml's headers are missing) and
artifacts for the csim backend."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from convflow.compiler.emit.hls import write_hls_project
from convflow.hw import HLS_DIR
from convflow.hw.integrity import hash_tree
from convflow.hw.errors import ToolMissing
from convflow.runtime.artifact import Artifact

WARNINGS = ["-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas"]


def toolchain():
    """(g++ path, ap_types dir), or skip the test."""
    from convflow.runtime.backends.csim import ap_types_dir, find_compiler
    try:
        return find_compiler(), ap_types_dir()
    except ToolMissing as exc:
        pytest.skip(str(exc))


def compile_cpp(sources, output: Path, extra=()) -> Path:
    from convflow.runtime.backends.csim import CXX_FLAGS

    cxx, ap_types = toolchain()
    # the csim backend's optimisation level: -O2 once miscompiled what -O1 did not (cf_csim.h)
    opt = [f for f in CXX_FLAGS if f.startswith("-O")]
    command = [cxx, *opt, "-std=c++14", *WARNINGS, "-isystem", str(ap_types), "-I", str(HLS_DIR), *extra,
               *map(str, sources), "-o", str(output)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    return output


def make_artifact(graph, directory: Path, **kwargs) -> Artifact:
    """A minimal artifact directory around the HLS project of ``graph`` (manifest naming the sources)."""
    directory = Path(directory)
    write_hls_project(graph, directory / "hls", **kwargs)
    manifest = {"format_version": 1, "sources": {"hls": "hls"}, "files": hash_tree(directory)}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return Artifact(directory, manifest, graph)
