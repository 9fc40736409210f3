"""Programming a board with an artifact's bitstream: openFPGALoader (Debian package `openfpgaloader`), run with an
argument list, the board named as openFPGALoader knows it (hw/boards/<board>.toml, [programmer]).

    result = flash("build/lenet", board="ulx3s-85f")               # SRAM: until the next power cycle
    result = flash("build/lenet", board="ulx3s-85f", to_flash=True) # the board's SPI flash: loaded at power-up

Checks before anything is written: the tool is there (ToolMissing), the artifact has a bitstream built for this
board's part (ArtifactError), the board is known and has a programmer entry.  A board that is not connected (or a
cable the user may not open) ends in BoardNotConnected naming the board and the cable, with openFPGALoader's words.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from convflow.hw.console import progress
from convflow.hw.errors import ArtifactError, ToolFailed, ToolMissing
from convflow.hw.flows import ecp5_board

TOOL = "openFPGALoader"
# what openFPGALoader says when there is no cable / board on the USB bus, or it may not open it
NOT_CONNECTED = re.compile(r"unable to open ftdi device|device not found|no device found|JTAG init failed|"
                           r"no cable found|cable not found|libusb|LIBUSB_ERROR|permission denied", re.I)
PERCENT = re.compile(rb"(\d{1,3}(?:\.\d+)?)\s*%")


class BoardNotConnected(ToolMissing):
    """No board answered on the programming cable."""


def find_loader() -> str:
    path = shutil.which(TOOL)
    if path is None:
        raise ToolMissing(f"{TOOL} not found on PATH: install it (apt-get install openfpgaloader) to program boards")
    return path


def loader_version(path: str) -> str:
    try:
        p = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return TOOL
    return (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else TOOL


def command(loader: str, programmer: str, bitstream: Path, to_flash: bool) -> list:
    """The argument list (never a shell string): -b BOARD, then SRAM (-m) or SPI flash (-f, with --verify)."""
    mode = ["--write-flash", "--verify"] if to_flash else ["--write-sram"]
    return [loader, "-b", programmer, *mode, str(bitstream)]


def _bitstream(artifact: Path, b: ecp5_board.Board) -> Path:
    bit = artifact / "bitstream" / "top.bit"
    if not bit.is_file():
        raise ArtifactError(f"{artifact}: no bitstream/top.bit; build one first (convflow build {artifact} "
                            f"--board {b.name})")
    try:
        report = json.loads((artifact / "bitstream" / "report.json").read_text())
    except (OSError, ValueError):
        raise ArtifactError(f"{artifact / 'bitstream' / 'report.json'} is missing or unreadable; rebuild the "
                            "bitstream (convflow build)") from None
    if report.get("device") != b.part:
        raise ArtifactError(f"{bit} was built for {report.get('device')} ({report.get('board') or 'a bare part'}), "
                            f"but board {b.name} carries an {b.part}; rebuild with --board {b.name}")
    return bit


def flash(artifact_dir, board: str = "ulx3s-85f", to_flash: bool = False, timeout: float = 600) -> dict:
    """Program the board; returns what was done (board, target, bitstream, seconds, tool)."""
    artifact = Path(artifact_dir).resolve()
    loader = find_loader()
    b = ecp5_board.board(board)
    if not b.programmer:
        raise ecp5_board.TargetError(f"board {b.name} names no programmer ([programmer] openfpgaloader in its .toml)")
    bit = _bitstream(artifact, b)
    cmd = command(loader, b.programmer, bit, to_flash)
    target = "SPI flash" if to_flash else "SRAM"
    t0 = time.monotonic()
    out = bytearray()
    with progress(total=100, desc=f"flash {b.name} ({target})", unit="%") as bar:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            done = 0.0
            while True:
                chunk = proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
                if not chunk:
                    break
                out += chunk
                found = PERCENT.findall(chunk)
                if found:
                    pct = min(100.0, float(found[-1]))
                    bar.update(max(0.0, pct - done))
                    done = max(done, pct)
                if time.monotonic() - t0 > timeout:
                    proc.kill()
                    raise ToolFailed(f"{TOOL} did not finish within {timeout:.0f} s programming {b.name}")
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
        why = next((ln for ln in lines if NOT_CONNECTED.search(ln)), None)
        if why:
            raise BoardNotConnected(f"no {b.description or b.name} found on its programming cable ({TOOL} -b "
                                    f"{b.programmer}: the board's USB port, FT231X JTAG): {why}; plug the board in, "
                                    "or check that you may open the USB device (udev rules, plugdev group)")
        raise ToolFailed(f"{TOOL} failed (exit {proc.returncode}) programming {b.name}: "
                         f"{lines[-1] if lines else 'no output'}")
    return {"board": b.name, "target": "flash" if to_flash else "sram", "bitstream": str(bit),
            "seconds": round(time.monotonic() - t0, 2), "tool": loader_version(loader), "command": cmd}
