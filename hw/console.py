"""What convflow shows on the terminal besides its results: progress bars (tqdm) and notices, in one place, so that
the CLI's ``--quiet`` / ``--json`` silence them in every layer (kept in convflow.hw, the lowest layer, like the
errors, so flows, backends and the compiler can all use it).  Both go to stderr: stdout is for results."""
from __future__ import annotations

import os
import sys

_state = {"quiet": False, "said": set()}


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    return _state["quiet"]


def bars_wanted() -> bool:
    """Progress bars are for a person at a terminal: on when stderr is a TTY (or CONVFLOW_PROGRESS=1, e.g. for a
    log that wants them), off under --quiet."""
    if _state["quiet"]:
        return False
    return os.environ.get("CONVFLOW_PROGRESS") == "1" or sys.stderr.isatty()


def progress(iterable=None, *, total=None, desc: str | None = None, unit: str = "it", leave: bool = False):
    """A tqdm bar on stderr (see bars_wanted); use as an iterable or with .update(n)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=not bars_wanted(),
                file=sys.stderr, dynamic_ncols=True, mininterval=0.2)


def notice(message: str) -> None:
    """One line on stderr, once per process for the same message (e.g. "gpu: running on the CPU provider")."""
    if _state["quiet"] or message in _state["said"]:
        return
    _state["said"].add(message)
    print(f"convflow: note: {message}", file=sys.stderr)
