"""`convflow flash`: program a board with the artifact's bitstream (openFPGALoader; SRAM, or --flash for SPI)."""
from __future__ import annotations

from pathlib import Path

from .common import output


def register(sub) -> None:
    f = sub.add_parser("flash", help="program a board with the artifact's bitstream (openFPGALoader)")
    from .common import boards_help

    f.add_argument("artifact", type=Path, help="an artifact folder with a bitstream (convflow build)")
    f.add_argument("--board", default="ulx3s-85f", help=f"the board, one of {boards_help()} (default %(default)s)")
    f.add_argument("--flash", action="store_true",
                   help="write the board's SPI flash (kept across power cycles) instead of SRAM")
    f.set_defaults(func=run)


def run(args):
    from convflow.hw.flows.flash import flash

    result = flash(args.artifact, board=args.board, to_flash=args.flash)
    output(args, f"flashed {result['bitstream']} into {result['board']}'s {result['target'].upper()} in "
                 f"{result['seconds']} s ({result['tool']})", result)
