"""`convflow build`: a bitstream from an artifact, with the open ECP5 flow (default) or the Vitis flow."""
from __future__ import annotations

import json
from pathlib import Path

from .common import add_force_arg
from .options import clock_mhz, int_at_least, part_name


def register(sub) -> None:
    b = sub.add_parser("build", help="build a bitstream: open ECP5 flow (default) or the Vitis flow")
    b.add_argument("artifact", type=Path)
    b.add_argument("--flow", choices=["ecp5", "vitis"], default="ecp5")
    b.add_argument("--board", default="ulx3s-85f")
    b.add_argument("--device", help="bare ECP5 part, e.g. LFE5U-85F (no board pins)")
    b.add_argument("--package", help="package for --device (default CABGA381)")
    b.add_argument("--clock-mhz", type=clock_mhz, help="design clock in MHz (above 0, at most 400)")
    b.add_argument("--hard-clock", action="store_true", help="fail if the clock is not met")
    b.add_argument("--baud", type=int_at_least(1, "a baud rate"),
                   help="UART baud rate of the board top (default 115200)")
    b.add_argument("--part", type=part_name, help="Xilinx part (vitis flow)")
    add_force_arg(b, "bitstream/")
    b.set_defaults(func=run)


def run(args):
    if args.flow == "vitis":
        from convflow.hw.flows.vitis import build
        result = build(args.artifact, part=args.part)
    else:
        from convflow.hw.flows import ecp5_board
        from convflow.hw.flows.ecp5 import build

        from .options import check_baud

        board = None if args.device else ecp5_board.board(args.board)
        clock = args.clock_mhz or (board.clock_mhz if board else 25.0)
        check_baud(args.baud or (board.baud if board else 115200), clock)      # before any tool runs
        result = build(args.artifact, board=None if args.device else args.board, device=args.device,
                       package=args.package, clock_mhz=args.clock_mhz, hard_clock=args.hard_clock, baud=args.baud,
                       force=args.force)
    print(json.dumps(result, indent=1, default=str))
