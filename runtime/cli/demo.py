"""`convflow demo`: the quick start, end to end (runtime/demo.py does the work)."""
from __future__ import annotations

from pathlib import Path

from .options import positive_int


def register(sub) -> None:
    d = sub.add_parser("demo", help="the quick start: train, export, compile, run every backend, build")
    from .common import zoo_help

    d.add_argument("--model", default="cnn-digits", help=f"zoo model: {zoo_help()} (default %(default)s)")
    d.add_argument("-o", "--out", default="build/demo", help="the demo's folder (default %(default)s)")
    d.add_argument("--quick", action="store_true", help="tiny training (CI)")
    d.add_argument("--no-bitstream", action="store_true", help="skip the ECP5 bitstream (minutes) at the end")
    d.add_argument("--count", type=positive_int, help="test inputs to run (default: the whole test split)")
    d.set_defaults(func=run)


def run(args):
    from convflow.runtime.demo import run_demo

    return run_demo(args.model, Path(args.out), quick=args.quick, bitstream=not args.no_bitstream,
                    count=args.count, as_json=args.json)
