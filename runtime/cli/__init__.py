"""The `convflow` command: the front door.  Every sub-command is a thin shell over a library call, one module
each in this package (``register(sub)`` adds its parser, ``run(args)`` does the work).

Two options every sub-command takes (before or after its name): ``--quiet`` (results only: no progress bars, no
notes) and ``--json`` (one JSON document on stdout instead of the text; progress bars stay on stderr unless
``--quiet``).  Each command prints through ``common.output``.

One error discipline for all of them (``main``): every failure a user can cause ends in one line on stderr naming
the file, node, layer, option or tool and what to do, and an exit code by class --
  1  a mismatch found (verify, check),
  2  a user error or a missing tool (bad model, option, input, artifact or output folder; no g++ ...; and
     argparse's own errors, also one line),
  3  an internal error (a bug): the traceback goes to a log file whose path the line gives; --debug prints it,
130 / 143  interrupted (Ctrl-C / SIGTERM): staging folders and temporary files are removed first."""
from __future__ import annotations

import argparse
import os
import sys
import warnings

from convflow.hw.errors import ConvflowError

from . import build, check, compare, compile, demo, flash, run, sweep, train, verify

# the order `convflow --help` lists them in
COMMANDS = (train, compile, run, verify, compare, check, build, sweep, flash, demo)
EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (the usage is one --help away)."""

    def error(self, message):
        self.exit(EXIT_USER, one_line(f"{self.prog}: error: {message} (see `{self.prog} --help`)") + "\n")


def _add_global_options(parser, default) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="results only: no progress bars or notes")
    parser.add_argument("--json", action="store_true", default=default,
                        help="print one JSON document on stdout instead of text")
    parser.add_argument("--debug", action="store_true", default=default, help="print the traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="convflow", description="Quantized ConvNets (QKeras, Brevitas, QONNX) to "
               "FPGA streaming dataflow accelerators, bit-exact on every backend.")
    _add_global_options(p, False)
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    for parser in sub.choices.values():          # also after the sub-command; SUPPRESS keeps an earlier one
        _add_global_options(parser, argparse.SUPPRESS)
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
    """Exceptions that mean "the user's input or environment is wrong" rather than a bug: the project's own, and
    the operating system's (a missing file, a full disk, no permission).  The zoo keeps its own classes
    (convflow.models imports nothing else of convflow)."""
    errors = [ConvflowError, OSError]
    try:
        from convflow.models.data import DatasetError
        from convflow.models.export import ExportError
        from convflow.models.zoo import ZooError
        errors += [DatasetError, ExportError, ZooError]
    except ImportError:
        pass
    return tuple(errors)


def one_line(text: str) -> str:
    """A message as one printable line: line breaks joined with '; ', control characters escaped (a path or a
    name from a model must not forge further lines or move the terminal's cursor)."""
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    joined = "; ".join(parts)
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in joined)


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, ConvflowError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return str(exc) or type(exc).__name__


def crash_log(text: str) -> str:
    """Write a traceback to a private log file; returns its path."""
    import tempfile
    import time

    try:
        from convflow.hw.cache import private_dir

        folder = private_dir("logs")
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(text)
        return str(path)
    except (ConvflowError, OSError):
        fd, path = tempfile.mkstemp(prefix="convflow-crash-", suffix=".log")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return path


def main(argv=None) -> int:
    from convflow.hw.safe_output import Terminated, signals_as_exceptions

    from convflow.hw.console import set_quiet

    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False) or os.environ.get("CONVFLOW_DEBUG"))
    set_quiet(args.quiet)
    quiet_third_parties()
    if not debug:
        # third-party warnings and logs (qonnx, onnx, TensorFlow) are not the user's business; ours still show
        warnings.filterwarnings("ignore", module=r"(?!convflow\.)")
    try:
        with signals_as_exceptions():
            code = args.func(args)
    except KeyboardInterrupt:
        print("convflow: interrupted; nothing half-written was left", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as exc:
        print(f"convflow: terminated (signal {exc.signum}); nothing half-written was left", file=sys.stderr)
        return exc.code
    except user_errors() as exc:
        print(one_line(f"convflow: error: {describe(exc)}"), file=sys.stderr)
        if debug:
            import traceback
            traceback.print_exc()
        return EXIT_USER
    except MemoryError:
        print("convflow: error: out of memory; use a smaller model or batch (--count)", file=sys.stderr)
        return EXIT_USER
    except Exception as exc:                # noqa: BLE001 - every other exception is a bug of ours
        import traceback

        text = traceback.format_exc()
        log = crash_log(text)
        print(one_line(f"convflow: internal error (a bug in convflow, please report it with {log}): "
                       f"{type(exc).__name__}: {exc}")[:1000], file=sys.stderr)
        if debug:
            sys.stderr.write(text)
        return EXIT_INTERNAL
    return int(code or 0)
