"""`convflow build`: a bitstream from an artifact, with the open ECP5 flow (default) or the Vitis flow."""
from __future__ import annotations

from pathlib import Path

from .common import add_force_arg, output
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
                   help="UART baud rate of the board top (default: the board's, 115200; up to 3000000 with a design "
                   "clock that is a multiple of 3 MHz, e.g. --clock-mhz 48)")
    b.add_argument("--window", type=int_at_least(1, "a window"),
                   help="frame slots of the board top: INFERs in flight (default 4)")
    b.add_argument("--part", type=part_name, help="Xilinx part (vitis flow)")
    add_force_arg(b, "bitstream/")
    b.set_defaults(func=run)


def run(args):
    if args.flow == "vitis":
        from convflow.hw.flows.vitis import build
        result = build(args.artifact, part=args.part)
        output(args, f"vitis: {result}", result)
        return
    from convflow.hw.flows import ecp5_board
    from convflow.hw.flows.ecp5 import DEFAULT_WINDOW, build

    from .options import check_baud

    board = None if args.device else ecp5_board.board(args.board)
    clock = args.clock_mhz or (board.clock_mhz if board else 25.0)
    check_baud(args.baud or (board.baud if board else 115200), clock)      # before any tool runs
    result = build(args.artifact, board=None if args.device else args.board, device=args.device,
                   package=args.package, clock_mhz=args.clock_mhz, hard_clock=args.hard_clock, baud=args.baud,
                   window=args.window or DEFAULT_WINDOW, force=args.force)
    res = result["resources"]
    clock = result["clock"]
    text = (f"bitstream {args.artifact / 'bitstream' / 'top.bit'} for {result['device']} ({result['board']}): "
            + ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in res.items() if k != "IO")
            + f"; Fmax {clock['fmax_mhz']} MHz (clock {clock['design_mhz']} MHz"
            + ("" if clock["timing_met"] else ", NOT met") + f"); UART {result['uart']['baud']} baud; "
            f"{result['times_s']['total']} s")
    output(args, text, result)
