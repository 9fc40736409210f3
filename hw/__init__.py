"""convflow.hw: the hardware library (HLS headers in hls/, Verilog modules in rtl/), board files (boards/) and tool-flow
drivers (flows/).  Imports nothing else of convflow."""
from pathlib import Path

HW_DIR = Path(__file__).resolve().parent
HLS_DIR = HW_DIR / "hls"
RTL_DIR = HW_DIR / "rtl"
BOARDS_DIR = HW_DIR / "boards"
