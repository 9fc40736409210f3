"""The csim backend: the generated HLS C++ compiled with g++ against Xilinx's ap_int headers, run in-process.

Running an artifact on csim compiles its ``hls/`` C++ and loads it into this process: the artifact's code runs
(static initialisers at load time included).  So the sources are checked first: the recorded files of ``hls/`` are
copied into a private work folder, each copy checked against the manifest's sha256, and only those copies are
compiled -- a file planted beside them (an ``ap_int.h`` that would shadow Xilinx's, say) is never seen.  Vet an
artifact from someone else with ``convflow check`` before running it.

The project is compiled once into a shared library -- ``g++ -O1 -std=c++14 -shared -fPIC -Wall -Wextra -Werror``
with the ap_int headers of hls4ml's wheel on the system include path -- kept in the user's private cache
(``convflow.hw.user_cache_dir("csim")``, mode 0700; see convflow/hw/cache.py) under a key hashing the compiler, its
version and flags, every source and the ap_int headers' content.  A cached library is loaded only when its recorded
sha256 matches; a damaged one is rebuilt.  The ap_int headers are precompiled once per machine (csim_pch.py): the
first build makes that header beside the plain build, later builds use it.  A batch is one ctypes call to
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
import time
from pathlib import Path

import numpy as np

from convflow.hw import HLS_PROJECT_HEADER_DIR, cache
from convflow.hw.errors import ArtifactError, CacheError, InputError, ToolFailed, ToolMissing, UsageError

from . import csim_pch
from .base import Backend

# -O1: within about 5 % of -O2 in images per second on these designs, and about 0.8 s quicker to build.
# -Wno-unknown-pragmas: the `#pragma HLS` lines are for Vitis HLS; g++ rightly does not know them.
# -O2, not -O1: g++ vectorises the C-simulation bodies' int16 multiply-accumulates (hw/hls/cf_csim.h): LeNet
# 1,100 -> 2,400 images/s, cnn-digits +10 %, for ~0.35 s more g++ (1.7 -> 2.0 s without the precompiled header).
CXX_FLAGS = ["-O2", "-std=c++14", "-fPIC", "-pthread", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas"]
LIBRARY = "libconvflow_csim.so"   # the product of a cache entry
UNITY = "cf_unity.cpp"            # the one translation unit, beside the copied sources (src/)
# relative includes of names checked by convflow.hw.integrity (no quote, backslash or newline can occur in them)
UNITY_TEMPLATE = '#include "src/{top}.cpp"\n#include "src/convflow_csim.cpp"\n'
# hls_bodies=True: every stage runs the body Vitis synthesises instead of its C-simulation body (hw/hls/cf_csim.h);
# defined in the unity file (after the precompiled header, which does not depend on it), so both share one header
HLS_BODIES_LINE = "#define CF_CSIM_HLS_BODIES 1\n"


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


def _top_of(names, where) -> str:
    """The top function's name from the recorded file names of an HLS project (one <top>.cpp with its
    <top>_tb.cpp)."""
    tops = [n[:-len("_tb.cpp")] for n in names if "/" not in n and n.endswith("_tb.cpp")]
    if len(tops) != 1 or f"{tops[0]}.cpp" not in names or "convflow_csim.cpp" not in names:
        raise ArtifactError(f"{where}: not a convflow HLS project (want one <top>.cpp with its <top>_tb.cpp and "
                            "convflow_csim.cpp); recompile the model with this convflow")
    return tops[0]


def _compiled(name: str) -> bool:
    """The files of an HLS project that g++ reads (the testbench data and the Tcl script are not)."""
    return name.endswith((".h", ".cpp"))


def cache_root(cache_dir=None) -> Path:
    """The private folder of this backend's builds (hw/cache.cache_folder)."""
    return cache.cache_folder("csim", cache_dir)


def _ap_types_digest(ap_types: Path) -> str:
    """The ap_int headers by content (not size: an edited header of the same size must not reuse a library)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in ap_types.rglob("*") if p.is_file()):
        digest.update(path.relative_to(ap_types).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def library_key(hls_files: dict, cxx: str, version: str, flags, ap_types: Path, hls_bodies: bool = False) -> str:
    """The cache key of a csim library: compiler, version and flags, the unity file, the recorded hash of every
    source g++ reads, and the ap_int headers' content."""
    unity = (HLS_BODIES_LINE if hls_bodies else "") + UNITY_TEMPLATE
    digest = hashlib.sha256("\0".join([cxx, version, *flags, unity]).encode())
    for name, sha in sorted(hls_files.items()):
        if _compiled(name):
            digest.update(f"{name}\0{sha}\0".encode())
    digest.update(_ap_types_digest(ap_types).encode())
    return digest.hexdigest()[:32]


def _compiler_version(cxx: str) -> str:
    return subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout


def _precompiled_header(cxx, version, flags, ap_types):
    """The machine's precompiled ap_int header for these flags (ready or not), or None where none is used:
    CONVFLOW_CSIM_PCH=0, or a compiler other than GNU g++."""
    if csim_pch.enabled() and csim_pch.is_gnu(version):
        try:
            return csim_pch.PrecompiledHeader(cxx, version, flags, ap_types)
        except CacheError:
            return None                     # no usable cache folder: only costs build speed
    return None


def precompile_header() -> str:
    """Make the machine's precompiled ap_int header now (.ci/setup does), so that even the first csim build is as
    quick as later ones.  Returns one line saying what happened; a failure here only costs build speed."""
    cxx = find_compiler()
    csim_pch.finish_pending()
    header = _precompiled_header(cxx, _compiler_version(cxx), CXX_FLAGS, ap_types_dir())
    if header is None:
        return "csim: no precompiled header (CONVFLOW_CSIM_PCH=0, or the compiler is not GNU g++)"
    if header.ready():
        return f"csim: precompiled ap_int header already in {header.include_dir}"
    if header.start_build() and header.finish_build():
        return f"csim: precompiled ap_int header made in {header.include_dir}"
    return f"csim: could not precompile the ap_int header (csim builds stay correct, only slower): {header.failure}"


def compile_library(artifact, cache_dir=None, extra_flags=(), stats=None, hls_bodies=False) -> tuple:
    """Compile (or find in the cache) the shared library of the artifact's HLS project.
    Returns (library path, seconds spent compiling; 0.0 on a cache hit).  ``stats`` (a dict), when given, is told
    whether the precompiled ap_int header was used ("used"), found unusable by g++ and dropped ("ignored"), made
    beside this build ("built": started in the background and left to finish, csim_pch.defer), is not in play
    ("off"), or the library came from the cache ("cached library"); ``stats["cache_damaged"]`` says why a broken cache entry was rebuilt.

    g++ never reads the artifact in place: the recorded sources are copied into a private work folder and their
    copies checked against the manifest's hashes, and the unity file includes them by relative name."""
    hls_files = artifact.source_files("hls")
    where = str(artifact.source_path("hls"))
    top = _top_of(hls_files, where)
    cxx = find_compiler()
    ap_types = ap_types_dir()
    version = _compiler_version(cxx)
    flags = [*CXX_FLAGS, *extra_flags]
    # Whether the precompiled header is used is not part of the key: the code generated is the same either way.
    key = library_key(hls_files, cxx, version, flags, ap_types, hls_bodies)
    root = cache_root(cache_dir)
    entry = cache.Entry(root, key)
    stats = {} if stats is None else stats
    if entry.lookup([LIBRARY]):
        stats["pch"] = "cached library"
        return entry.file(LIBRARY), 0.0
    csim_pch.finish_pending()                     # a header still building beside an earlier build: ready now
    with cache.lock(root, key):                   # one build per entry, however many processes want it
        if entry.lookup([LIBRARY]):
            stats["pch"] = "cached library"
            return entry.file(LIBRARY), 0.0
        if entry.damaged:
            stats["cache_damaged"] = entry.damaged
        work = cache.work_dir(root, key)
        header = None
        try:
            artifact.copy_sources("hls", work / "src", select=_compiled)
            start = time.perf_counter()
            header = _precompiled_header(cxx, version, flags, ap_types)
            # One translation unit (the top function and the C entry), so the headers are parsed once -- or not at
            # all when they are precompiled.  Without a ready header this build is the strict one (every warning an
            # error) and the header is made beside it, on another core, for the next build.
            lines = [(HLS_BODIES_LINE if hls_bodies else "") + UNITY_TEMPLATE.format(top=top)]
            include_flags = ["-isystem", str(ap_types), "-I", f"src/{HLS_PROJECT_HEADER_DIR}", "-I", "src"]
            if header is not None and header.ready():
                stats["pch"] = "used"
                lines.insert(0, f'#include "{csim_pch.HEADER_NAME}"\n')   # first, for g++ to use the .gch
                # -H: g++ lists what it read, "! <file>.gch" when it did use the header (checked below)
                command = [cxx, *header.flags, "-H", "-shared", "-I", str(header.include_dir), *include_flags]
            else:
                stats["pch"] = "built" if header is not None and header.start_build() else "off"
                command = [cxx, *flags, "-shared", *include_flags]
            (work / UNITY).write_text("".join(lines))
            result = subprocess.run([*command, UNITY, "-o", LIBRARY], cwd=work, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if stats["pch"] == "used" and result.returncode == 0 and not header.was_used(result.stderr):
                stats["pch"] = "ignored"    # stale or damaged: g++ parsed the real headers; make a new one next time
                header.discard()
            if result.returncode != 0:
                log = root / f"{key}.log"
                log.write_text(" ".join(command) + "\n\n" + result.stdout + result.stderr)
                first = next((ln for ln in result.stderr.splitlines() if "error" in ln), "no error line")
                raise ToolFailed(f"g++ failed on the HLS project {where}: {first.strip()[:300]} (full log: {log})")
            entry.publish(work, [LIBRARY])            # atomic: a concurrent process sees all or nothing
            if stats["pch"] == "built":
                csim_pch.defer(header)                # finishes on its own; this build does not wait for it
        except BaseException:
            if header is not None:
                header.abort()
            shutil.rmtree(work, ignore_errors=True)
            raise
    return entry.file(LIBRARY), seconds


class CsimBackend(Backend):
    name = "csim"

    def __init__(self, artifact, cache_dir=None, threads=None, hls_bodies=False, **options):
        """``threads``: frames simulated concurrently (default: the CPUs this process may use).  ``hls_bodies``:
        run the stage bodies Vitis synthesises rather than their C-simulation bodies (the same arithmetic in C
        integers, hw/hls/cf_csim.h; CNV: 128 against 2.2 images/s) -- for checking the one against the other."""
        super().__init__(artifact, **options)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise UsageError(f"csim: threads must be a positive integer, not {threads!r}")
        if not isinstance(hls_bodies, bool):
            raise UsageError(f"csim: hls_bodies must be True or False, not {hls_bodies!r}")
        self.hls_bodies = hls_bodies
        self.threads = threads or len(os.sched_getaffinity(0))
        self.hls_dir = Path(artifact.source_path("hls"))
        library, seconds = compile_library(artifact, cache_dir, stats=self.stats, hls_bodies=hls_bodies)
        self.library_path = library
        self.stats["compile_s"] = seconds
        try:
            self._lib = ctypes.CDLL(str(library))   # its hash was checked just now (cache.Entry.lookup)
        except OSError as exc:
            raise ToolFailed(f"csim: the library built from {self.hls_dir} cannot be loaded ({exc}); remove "
                             f"{library.parent} to rebuild it") from None
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
            raise InputError(f"csim: input batch has shape {x.shape[1:]}, model input {inp.name!r} wants "
                             f"{tuple(inp.shape)}")
        if not np.issubdtype(x.dtype, np.integer):
            raise InputError(f"csim backend takes integers of type {inp.dtype}; got {x.dtype}")
        if x.size and (int(x.min()) < inp.dtype.min or int(x.max()) > inp.dtype.max):
            raise InputError(f"csim: input values outside {inp.dtype} [{inp.dtype.min}, {inp.dtype.max}]")
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
