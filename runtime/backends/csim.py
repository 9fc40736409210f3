"""The csim backend: the generated HLS C++ compiled with g++ against Xilinx's ap_int headers, run in-process.

The artifact's ``hls/`` project (written by compiler/emit/hls.py) is compiled once into a shared library --
``g++ -O1 -std=c++14 -shared -fPIC -Wall -Wextra -Werror`` with the ap_int headers of hls4ml's wheel on the system
include path -- and cached under a hash of the sources and the compiler command (``<artifact>/hls/.csim_cache``, or
``$CONVFLOW_CACHE/csim``).  The ap_int headers are precompiled once per machine (csim_pch.py): the first build
makes that header beside the plain build, later builds use it.  A batch is one ctypes call to
``convflow_run_parallel`` (frames spread over threads; each frame's simulation is independent); no subprocess per
image.
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from convflow.hw import HLS_PROJECT_HEADER_DIR
from convflow.hw.errors import ArtifactError, ToolFailed, ToolMissing

from . import csim_pch
from .base import Backend

# -O1: within about 5 % of -O2 in images per second on these designs, and about 0.8 s quicker to build.
# -Wno-unknown-pragmas: the `#pragma HLS` lines are for Vitis HLS; g++ rightly does not know them.
CXX_FLAGS = ["-O1", "-std=c++14", "-fPIC", "-pthread", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas"]


def ap_types_dir() -> Path:
    """Xilinx's ap_int / hls_stream headers (Apache-2.0) as shipped in hls4ml's wheel ($CONVFLOW_AP_TYPES wins)."""
    override = os.environ.get("CONVFLOW_AP_TYPES")
    if override:
        path = Path(override)
        if not (path / "ap_int.h").is_file():
            raise ToolMissing(f"CONVFLOW_AP_TYPES={override} holds no ap_int.h")
        return path
    spec = importlib.util.find_spec("hls4ml")      # located without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("csim needs the ap_int headers from hls4ml: `pip install hls4ml==1.3.0` "
                          "(or point CONVFLOW_AP_TYPES at a directory holding ap_int.h and hls_stream.h)")
    path = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file() or not (path / "hls_stream.h").is_file():
        raise ToolMissing(f"{path}: hls4ml is installed but its ap_types headers are missing; reinstall hls4ml==1.3.0")
    return path


def find_compiler() -> str:
    cxx = os.environ.get("CXX") or "g++"
    found = shutil.which(cxx)
    if found is None:
        raise ToolMissing(f"csim needs a C++ compiler: {cxx!r} is not on PATH (apt-get install g++, or set CXX)")
    return found


def _top_of(hls_dir: Path) -> str:
    tops = [f.name[:-len("_tb.cpp")] for f in hls_dir.glob("*_tb.cpp")]
    if len(tops) != 1 or not (hls_dir / f"{tops[0]}.cpp").is_file():
        raise ArtifactError(f"{hls_dir}: not a convflow HLS project (want one <top>.cpp with its <top>_tb.cpp)")
    return tops[0]


def _cache_root(hls_dir: Path, cache_dir) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("CONVFLOW_CACHE")
    if env:
        return Path(env) / "csim"
    local = hls_dir / ".csim_cache"
    if os.access(local if local.exists() else hls_dir, os.W_OK):
        return local
    # a read-only artifact (someone else's): the user's temporary directory instead
    return Path(tempfile.gettempdir()) / f"convflow-csim-{os.getuid()}"


def _hash_files(digest, paths, root: Path) -> None:
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())


def _compiler_version(cxx: str) -> str:
    return subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout


def _precompiled_header(cxx, version, flags, ap_types):
    """The machine's precompiled ap_int header for these flags (ready or not), or None where none is used:
    CONVFLOW_CSIM_PCH=0, or a compiler other than GNU g++."""
    if csim_pch.enabled() and csim_pch.is_gnu(version):
        return csim_pch.PrecompiledHeader(cxx, version, flags, ap_types)
    return None


def precompile_header() -> str:
    """Make the machine's precompiled ap_int header now (.ci/setup does), so that even the first csim build is as
    quick as later ones.  Returns one line saying what happened; a failure here only costs build speed."""
    cxx = find_compiler()
    header = _precompiled_header(cxx, _compiler_version(cxx), CXX_FLAGS, ap_types_dir())
    if header is None:
        return "csim: no precompiled header (CONVFLOW_CSIM_PCH=0, or the compiler is not GNU g++)"
    if header.ready():
        return f"csim: precompiled ap_int header already in {header.include_dir}"
    if header.start_build() and header.finish_build():
        return f"csim: precompiled ap_int header made in {header.include_dir}"
    return f"csim: could not precompile the ap_int header (csim builds stay correct, only slower): {header.failure}"


def compile_library(hls_dir, cache_dir=None, extra_flags=(), stats=None) -> tuple:
    """Compile (or find in the cache) the shared library of the HLS project in ``hls_dir``.
    Returns (library path, seconds spent compiling; 0.0 on a cache hit).  ``stats`` (a dict), when given, is told
    whether the precompiled ap_int header was used ("used"), found unusable by g++ and dropped ("ignored"), made
    beside this build ("built"), could not be made ("failed"), is not in play ("off"), or the library came from the
    cache ("cached library")."""
    hls_dir = Path(hls_dir)
    if not (hls_dir / "convflow_csim.cpp").is_file():
        raise ArtifactError(f"{hls_dir}: no convflow_csim.cpp; recompile the model with this convflow")
    top = _top_of(hls_dir)
    cxx = find_compiler()
    ap_types = ap_types_dir()
    version = _compiler_version(cxx)
    flags = [*CXX_FLAGS, *extra_flags]
    # the key: compiler, flags and every source's content (not where the project lies).  Whether the precompiled
    # header is used is not part of it: the code generated is the same either way.
    digest = hashlib.sha256(" ".join([cxx, version, *flags]).encode())
    _hash_files(digest, (p for p in hls_dir.rglob("*") if p.is_file() and p.suffix in (".h", ".cpp")
                         and ".csim_cache" not in p.parts), hls_dir)
    for path in sorted(ap_types.rglob("*.h")):
        digest.update(path.name.encode())
        digest.update(str(path.stat().st_size).encode())
    cache = _cache_root(hls_dir, cache_dir)
    library = cache / f"{top}-{digest.hexdigest()[:24]}.so"
    stats = {} if stats is None else stats
    if library.is_file():
        stats["pch"] = "cached library"
        return library, 0.0
    cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    header = _precompiled_header(cxx, version, flags, ap_types)
    # One translation unit (the top function and the C entry), so the headers are parsed once -- or not at all
    # when they are precompiled.  Without a ready header this build is the strict one (every warning an error) and
    # the header is made beside it, on another core, for the next build.
    lines = [f'#include "{hls_dir / (top + ".cpp")}"', f'#include "{hls_dir / "convflow_csim.cpp"}"']
    include_flags = ["-isystem", str(ap_types), "-I", str(hls_dir / HLS_PROJECT_HEADER_DIR), "-I", str(hls_dir)]
    if header is not None and header.ready():
        stats["pch"] = "used"
        lines.insert(0, f'#include "{csim_pch.HEADER_NAME}"')      # must come first for g++ to use the .gch
        # -H: g++ lists what it read, "! <file>.gch" when it did use the header (checked below)
        command = [cxx, *header.flags, "-H", "-shared", "-I", str(header.include_dir), *include_flags]
    else:
        stats["pch"] = "built" if header is not None and header.start_build() else "off"
        command = [cxx, *flags, "-shared", *include_flags]
    unity = cache / f".{library.stem}.{os.getpid()}.cpp"
    unity.write_text("\n".join(lines) + "\n")
    partial = cache / f".{library.name}.{os.getpid()}.tmp"
    try:
        result = subprocess.run([*command, str(unity), "-o", str(partial)], capture_output=True, text=True)
    finally:
        unity.unlink(missing_ok=True)
        if stats["pch"] == "built" and not header.finish_build():
            stats["pch"] = "failed"
            stats["pch_failure"] = header.failure
    seconds = time.perf_counter() - start
    if stats["pch"] == "used" and result.returncode == 0 and not header.was_used(result.stderr):
        stats["pch"] = "ignored"        # stale or damaged: g++ parsed the real headers; make a new one next time
        header.discard()
    if result.returncode != 0:
        log = library.with_suffix(".log")
        log.write_text(" ".join(command) + "\n\n" + result.stdout + result.stderr)
        partial.unlink(missing_ok=True)
        first = next((ln for ln in result.stderr.splitlines() if "error" in ln), result.stderr[-300:])
        raise ToolFailed(f"g++ failed on the HLS project {hls_dir}: {first.strip()} (full log: {log})")
    os.replace(partial, library)            # atomic: a concurrent process sees all or nothing
    return library, seconds


class CsimBackend(Backend):
    name = "csim"

    def __init__(self, artifact, cache_dir=None, threads=None, **options):
        """``threads``: frames simulated concurrently (default: the CPUs this process may use)."""
        super().__init__(artifact, **options)
        self.threads = int(threads) if threads else len(os.sched_getaffinity(0))
        self.hls_dir = Path(artifact.source_path("hls"))
        library, seconds = compile_library(self.hls_dir, cache_dir, stats=self.stats)
        self.library_path = library
        self.stats["compile_s"] = seconds
        self._lib = ctypes.CDLL(str(library))
        self._lib.convflow_run.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64),
                                           ctypes.c_int]
        self._lib.convflow_run.restype = ctypes.c_int
        self._lib.convflow_run_parallel.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64),
                                                    ctypes.c_int, ctypes.c_int]
        self._lib.convflow_run_parallel.restype = ctypes.c_int
        self.in_elems = int(np.prod(self.graph.input_tensor.shape))
        self.out_elems = int(np.prod(self.graph.output_tensor.shape))
        if self._lib.convflow_in_elems() != self.in_elems or self._lib.convflow_out_elems() != self.out_elems:
            raise ArtifactError(f"{self.hls_dir}: the HLS project does not match the manifest's graph "
                                f"(frame sizes {self._lib.convflow_in_elems()}/{self._lib.convflow_out_elems()} "
                                f"vs {self.in_elems}/{self.out_elems}); recompile the model")

    def run(self, x: np.ndarray) -> np.ndarray:
        inp, out = self.graph.input_tensor, self.graph.output_tensor
        x = np.asarray(x)
        if x.shape[1:] != tuple(inp.shape):
            raise ValueError(f"input batch has shape {x.shape[1:]}, model input {inp.name!r} wants {tuple(inp.shape)}")
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"csim backend takes integers of type {inp.dtype}; got {x.dtype}")
        if x.size and (x.min() < inp.dtype.min or x.max() > inp.dtype.max):
            raise ValueError(f"input values outside {inp.dtype} [{inp.dtype.min}, {inp.dtype.max}]")
        n = x.shape[0]
        flat = np.ascontiguousarray(x.reshape(n, -1), dtype=np.int64)
        result = np.zeros((n, self.out_elems), dtype=np.int64)
        start = time.perf_counter()
        # one call for the whole batch; ctypes releases the GIL while the C++ threads run
        status = self._lib.convflow_run_parallel(flat.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                                                 result.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), n,
                                                 self.threads)
        self.stats["run_s"] = time.perf_counter() - start
        self.stats["frames_per_s"] = n / self.stats["run_s"] if self.stats["run_s"] > 0 else None
        if status != 0:
            raise ToolFailed(f"csim of {self.hls_dir}: frame {-status - 1} left the streams inconsistent "
                             "(a bug in the HLS stages; please report it with the model)")
        return result.reshape((n, *out.shape))

    def close(self) -> None:
        self._lib = None


BACKEND = CsimBackend


if __name__ == "__main__":          # python -m convflow.runtime.backends.csim: precompile the ap_int header
    print(precompile_header())
