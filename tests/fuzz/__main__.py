"""Run the differential fuzzer for a while:

    PYTHONPATH=tests .venv/bin/python -m fuzz --minutes 10 --backends qonnx,csim,rtlsim

Models ``--start``, ``--start + 1`` ... (each seed one model, model_spec(seed, ...)) are compiled and run on the
reference and qonnx; every ``--csim-every``-th also in csim and every ``--rtlsim-every``-th in rtlsim (random
back-pressure), when those backends are asked for; those are drawn smaller (generate.HARDWARE) unless
``--big-hardware``.  ``--qkeras`` fuzzes QKeras models instead (qkeras_models.py: saved as .h5, compiled from
the file, and compared with Keras too).  Each failure is printed on one line, shrunk (unless
``--no-shrink``) and saved as tests/fuzz/regressions/<kind>-<backend>-seed<N>.onnx + .json, which the test suite
then runs forever after; failures already saved (same signature) are counted but not shrunk again.  The summary
says how many models each backend ran, in how long, and what failed.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from .build import build
from .check import Failure, check
from .generate import HARDWARE, describe, random_spec
from .qkeras_models import check_qkeras, describe_qkeras, random_qkeras_spec
from .shrink import REGRESSIONS, save_regression, shrink


def backends_for(seed: int, backends: list, csim_every: int, rtlsim_every: int) -> list:
    chosen = ["qonnx"] if "qonnx" in backends else []
    if "csim" in backends and seed % csim_every == 0:
        chosen.append("csim")
    if "rtlsim" in backends and seed % rtlsim_every == 0:
        chosen.append("rtlsim")
    return chosen


def model_spec(seed: int, backends: list, big_hardware: bool = False) -> dict:
    """The spec of model ``seed``: smaller where it goes through csim or rtlsim (their builds dominate the time)."""
    hardware = any(b in ("csim", "rtlsim") for b in backends)
    return random_spec(seed, **(HARDWARE if hardware and not big_hardware else {}))


def shrink_backends(failure: Failure, backends: list) -> list:
    """The cheapest backends that show ``failure`` again."""
    if failure.backend in ("csim", "rtlsim"):
        return [failure.backend]
    if failure.backend in ("compile", "keras"):
        return backends               # compile writes the sources those backends need: the failure may be there
    return ["qonnx"]


def describe_any(spec: dict) -> str:
    return describe_qkeras(spec) if spec.get("source") == "qkeras" else describe(spec)


def known_failures(folder: Path) -> tuple:
    """(signatures, descriptions) of the regressions saved in ``folder``."""
    signatures, descriptions = set(), set()
    for path in folder.glob("*.json"):
        info = json.loads(path.read_text())
        f = info["failure"]
        signatures.add(Failure(f["kind"], f["backend"], f["message"]).signature())
        descriptions.add(info["description"])
    return signatures, descriptions


# a mismatch's signature is only its backend (its message has nothing more to tell one bug from another), so a
# few of each are shrunk per run, and one is saved only if it shrinks to a model not saved before
MISMATCH_SHRINKS = 3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to run (default 5)")
    parser.add_argument("--start", type=int, default=100_000, help="first seed (default 100000: past the suite's)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many models")
    parser.add_argument("--backends", default="qonnx", help="comma-separated: qonnx,csim,rtlsim (default qonnx)")
    parser.add_argument("--csim-every", type=int, default=5, help="every Nth model also in csim (default 5)")
    parser.add_argument("--rtlsim-every", type=int, default=10, help="every Nth model also in rtlsim (default 10)")
    parser.add_argument("--inputs", type=int, default=32, help="random inputs per model (default 32, + 2 edges)")
    parser.add_argument("--qkeras", action="store_true", help="QKeras models (.h5) instead of QONNX ones")
    parser.add_argument("--big-hardware", action="store_true",
                        help="models for csim / rtlsim as big as the others (slower builds)")
    parser.add_argument("--no-shrink", action="store_true", help="report failures without shrinking them")
    parser.add_argument("--shrink-minutes", type=float, default=5.0, help="time limit per shrink (default 5)")
    parser.add_argument("--save", type=Path, default=REGRESSIONS, help=f"where regressions go (default {REGRESSIONS})")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    known, known_models = known_failures(args.save)
    shrunk_mismatches = collections.Counter()
    counts = collections.Counter()
    seconds = collections.Counter()
    failures = []
    deadline = time.monotonic() + 60 * args.minutes
    seed = args.start
    with tempfile.TemporaryDirectory(prefix="convflow-fuzz-") as work, \
            tqdm(total=int(60 * args.minutes), unit="s", desc="fuzzing", leave=False,
                 disable=not sys.stderr.isatty()) as bar:
        started = time.monotonic()
        while time.monotonic() < deadline and (args.count is None or seed < args.start + args.count):
            chosen = backends_for(seed, backends, args.csim_every, args.rtlsim_every)
            if args.qkeras:
                spec = random_qkeras_spec(seed)
                outcome = check_qkeras(spec, chosen, work, name=f"seed{seed}", inputs=args.inputs)
            else:
                spec = model_spec(seed, chosen, args.big_hardware)
                outcome = check(build(spec)[0], chosen, work, name=f"seed{seed}", inputs=args.inputs)
            counts["models"] += 1
            for name, s in outcome.seconds.items():
                counts[name] += 1
                seconds[name] += s
            if outcome.failure:
                f = outcome.failure
                tqdm.write(f"seed {seed}: {f.line()}\n  model: {describe_any(spec)}")
                mismatch = f.kind == "mismatch" and shrunk_mismatches[f.backend] < MISMATCH_SHRINKS
                new = f.signature() not in known or mismatch
                failures.append((seed, f, new))
                if new:
                    known.add(f.signature())
                    shrunk_mismatches[f.backend] += f.kind == "mismatch"
                    small, small_failure = spec, f
                    used = shrink_backends(f, chosen)
                    if not args.no_shrink:
                        small, small_failure, tries = shrink(spec, f, used, work, seconds=60 * args.shrink_minutes,
                                                             inputs=args.inputs, log=tqdm.write)
                        tqdm.write(f"  shrunk in {tries} tries to: {describe_any(small)}")
                    if describe_any(small) in known_models:
                        tqdm.write("  the same model as a saved regression: not saved again")
                    else:
                        known_models.add(describe_any(small))
                        path = save_regression(small, small_failure, used, folder=args.save)
                        tqdm.write(f"  saved {path}")
            bar.n = min(bar.total, int(time.monotonic() - started))
            bar.set_postfix(models=counts["models"], failures=len(failures))
            seed += 1
    elapsed = time.monotonic() - started
    print(f"fuzz: seeds {args.start}..{seed - 1}: {counts['models']} models in {elapsed:.0f} s")
    for name in ("compile", "reference", "qonnx", "csim", "rtlsim"):
        if counts[name]:
            print(f"  {name:<10} {counts[name]:>6} runs  {seconds[name]:>8.1f} s")
    by_signature = collections.Counter(f.signature() for _, f, _ in failures)
    print(f"  {len(failures)} failures, {len(by_signature)} distinct"
          + "".join(f"\n    {n} x {' / '.join(s for s in sig if s)}" for sig, n in by_signature.most_common()))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
