"""The `convflow` command: the front door.  Every sub-command is a thin shell over a library call, one module
each in this package (``register(sub)`` adds its parser, ``run(args)`` does the work); errors of the project's
hierarchy become one clear line on stderr and a non-zero exit."""
from __future__ import annotations

import argparse
import sys

from convflow.hw.errors import ConvflowError

from . import build, compile, demo, run, sweep, train, verify

# the order `convflow --help` lists them in
COMMANDS = (train, compile, run, verify, build, sweep, demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convflow", description="Quantized ConvNets (QKeras, Brevitas, QONNX) to "
                                "FPGA streaming dataflow accelerators, bit-exact on every backend.")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def user_errors() -> tuple:
    """Exceptions that mean "the user's input or environment is wrong" rather than a bug.  The zoo keeps its
    own classes (convflow.models imports nothing else of convflow)."""
    errors = [ConvflowError, FileNotFoundError]
    try:
        from convflow.models.data import DatasetError
        from convflow.models.export import ExportError
        from convflow.models.zoo import ZooError
        errors += [DatasetError, ExportError, ZooError]
    except ImportError:
        pass
    return tuple(errors)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except user_errors() as exc:
        print(f"convflow: error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)
