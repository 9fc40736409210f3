"""The `convflow` command: the front door.  Every sub-command is a thin shell over a library call, one module
each in this package (``register(sub)`` adds its parser, ``run(args)`` does the work); errors of the project's
hierarchy become one clear line on stderr and a non-zero exit.

Two options every sub-command takes (before or after its name): ``--quiet`` (results only: no progress bars, no
notes) and ``--json`` (one JSON document on stdout instead of the text; progress bars stay on stderr unless
``--quiet``).  Each command prints through ``common.output``."""
from __future__ import annotations

import argparse
import os
import sys

from convflow.hw.errors import ConvflowError

from . import build, compare, compile, demo, flash, run, train, verify

# the order `convflow --help` lists them in
COMMANDS = (train, compile, run, verify, compare, build, flash, demo)


def _add_output_options(parser, default) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="results only: no progress bars or notes")
    parser.add_argument("--json", action="store_true", default=default,
                        help="print one JSON document on stdout instead of text")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convflow", description="Quantized ConvNets (QKeras, Brevitas, QONNX) to "
                                "FPGA streaming dataflow accelerators, bit-exact on every backend.")
    _add_output_options(p, False)
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    for parser in sub.choices.values():          # also after the sub-command; SUPPRESS keeps an earlier one
        _add_output_options(parser, argparse.SUPPRESS)
    return p


def quiet_third_parties() -> None:
    """TensorFlow's C++ log lines (read when TensorFlow is imported, so set first) and warnings known to be
    harmless (the same list pytest filters in pyproject.toml) stay off the terminal."""
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")      # its start-up banner about oneDNN rounding
    for module in ("qonnx", "onnx", "tensorflow", "tensorflow_model_optimization", "qkeras", "keras", "tf2onnx",
                   "absl"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
    warnings.filterwarnings("ignore", message="non-integer arguments to randrange")
    import logging
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


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
    from convflow.hw.console import set_quiet

    set_quiet(args.quiet)
    quiet_third_parties()
    try:
        code = args.func(args)
    except user_errors() as exc:
        print(f"convflow: error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)
