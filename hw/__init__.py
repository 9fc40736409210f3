"""convflow.hw: the hardware library (HLS headers in hls/, Verilog modules in rtl/), board files (boards/) and tool-flow
drivers (flows/).  Imports nothing else of convflow."""
import os
from pathlib import Path

HW_DIR = Path(__file__).resolve().parent
HLS_DIR = HW_DIR / "hls"
RTL_DIR = HW_DIR / "rtl"
BOARDS_DIR = HW_DIR / "boards"


def user_cache_dir(name: str) -> Path:
    """Where convflow keeps what it builds once per machine (tool JIT caches, the Verilator runtime, the csim
    precompiled header): $CONVFLOW_CACHE/<name>, else $XDG_CACHE_HOME/convflow/<name>, else ~/.cache/convflow/<name>."""
    base = os.environ.get("CONVFLOW_CACHE")
    if base:
        return Path(base) / name
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "convflow" / name
