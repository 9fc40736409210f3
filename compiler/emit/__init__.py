"""Emitters: HLS C++ (hls.py) and Verilog RTL (rtl.py) from the IR."""
