"""Option values checked at the door: argparse ``type=`` functions (a bad value is one line from argparse, exit 2)
and the checks that need the model (layer names of --folding).  One place for every sub-command."""
from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from convflow.hw.errors import UsageError

# --input-frac-bits: the input scale is 2^-n; beyond these the scale stops being a sensible fixed-point step
FRAC_BITS_RANGE = (-32, 32)
INPUT_BITS_RANGE = (2, 32)
PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def int_at_least(low: int, what: str = "a whole number"):
    def parse(text: str) -> int:
        value = _int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is too small: give {what} >= {low}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def int_between(low: int, high: int):
    def parse(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a whole number from {low} to {high}")
        return value
    parse.__name__ = f"integer in [{low}, {high}]"
    return parse


def float_in(low: float, high: float, what: str, low_open: bool = True):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
        if not ok:
            bound = f"above {low:g}" if low_open else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what} lies {bound} and at most {high:g}")
        return value
    parse.__name__ = what
    return parse


positive_int = int_at_least(1, "a count")
seed_int = int_at_least(0, "a seed")


def part_name(text: str) -> str:
    """A Xilinx part name (it lands in the generated Tcl): letters, digits, '-', '_' and '.' only."""
    if not PART_NAME.fullmatch(text or ""):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Xilinx part name (letters, digits, '-', '_', '.'; e.g. "
                                         "xc7z020clg400-1)")
    return text


def backend_name(text: str) -> str:
    from convflow.runtime.backends import BACKEND_MODULES

    name = text.strip()
    if name not in BACKEND_MODULES:
        raise argparse.ArgumentTypeError(f"unknown backend {name!r}; known backends: {', '.join(BACKEND_MODULES)}")
    return name


def backend_list(text: str) -> list:
    """A comma-separated list of known backends: at least one, each once."""
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no backend; give e.g. reference,qonnx,csim,rtlsim")
    for name in names:
        backend_name(name)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise argparse.ArgumentTypeError(f"backend {dup!r} is named twice")
    return names


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: a folder, not a file")
    return path


def folding_file(text: str) -> dict:
    """--folding: a JSON file {layer name: [pe, simd]} of positive integers (layer names are checked against the
    model once it is imported: ``check_folding_layers``)."""
    path = existing_file(text)
    try:
        folding = json.loads(path.read_bytes())
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise argparse.ArgumentTypeError(f"{text}: not valid JSON{where}") from None
    if not isinstance(folding, dict) or not folding:
        raise argparse.ArgumentTypeError(f'{text}: want a JSON object {{"layer name": [pe, simd], ...}}')
    for layer, value in folding.items():
        if (not isinstance(value, list) or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)):
            raise argparse.ArgumentTypeError(f"{text}: layer {layer!r} wants [pe, simd], two positive whole "
                                             f"numbers, not {json.dumps(value)[:60]}")
    return FoldingFile(path, folding)


@dataclass
class FoldingFile:
    path: Path
    layers: dict             # layer name -> [pe, simd]

    def checked_against(self, graph) -> dict:
        """The layers dict (the compiler's choose_folding overrides), after checking that every name is a
        layer of the model with PE/SIMD (an unknown name would otherwise be ignored without a word)."""
        known = [node.name for node in graph.mvu_nodes()]
        unknown = [name for name in self.layers if name not in known]
        if unknown:
            listing = ", ".join(repr(n) for n in known[:12]) + (" ..." if len(known) > 12 else "")
            raise UsageError(f"--folding {self.path}: the model has no layer {unknown[0]!r} with PE/SIMD; its "
                             f"layers are {listing or 'none'}")
        return dict(self.layers)


def clock_mhz(text: str) -> float:
    from convflow.hw.flows.ecp5 import ECP5_MAX_CLOCK_MHZ

    return float_in(0.0, ECP5_MAX_CLOCK_MHZ, "an ECP5 clock in MHz")(text)


def positive_seconds(text: str) -> float:
    return float_in(0.0, 7 * 24 * 3600.0, "a time limit in seconds")(text)


def check_baud(baud, clock: float) -> None:
    """The UART needs at least UART_MIN_CLKS_PER_BIT clocks per bit at the design clock."""
    from convflow.hw.flows.ecp5 import UART_MIN_CLKS_PER_BIT

    clks = round(clock * 1e6 / baud)
    if clks < UART_MIN_CLKS_PER_BIT:
        top = int(clock * 1e6 / UART_MIN_CLKS_PER_BIT)
        raise UsageError(f"--baud {baud} at a {clock:g} MHz clock leaves {clks} clocks per bit; the UART needs at "
                         f"least {UART_MIN_CLKS_PER_BIT} (at most {top} baud at this clock)")


def board_name(text: str) -> str:
    """--board: a board of hw/boards (the known ones listed when it is not)."""
    from convflow.hw.flows import ecp5_board

    known = ecp5_board.boards()
    if text not in known and not text.endswith(".toml"):
        raise argparse.ArgumentTypeError(f"unknown board {text!r}; known: {', '.join(known)}")
    return text


def fit_margin(text: str) -> str:
    """--fit-margin: 0.85, or 0.9,LUT4=0.75 (compiler/dataflow/folding.parse_margin), each share in (0, 1]."""
    from convflow.compiler.dataflow.folding import parse_margin
    from convflow.hw.errors import ConvflowError

    try:
        default, own = parse_margin(text)
    except ConvflowError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    for name, share in [("every resource", default), *own.items()]:
        if not (math.isfinite(share) and 0.0 < share <= 1.0):
            raise argparse.ArgumentTypeError(f"{text!r}: the share of {name} is {share:g}; give a fraction in "
                                             f"(0, 1], e.g. 0.85")
    return text
