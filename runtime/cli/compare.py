"""`convflow compare`: backends side by side (accuracy, bit-exactness, latency, throughput); a table on the terminal,
and compare.json / compare.png / compare.html in -o DIR.  Exit 1 if a backend is not bit-exact."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import DEFAULT_ZOO_DIR, add_device_args, add_input_args, backend_options, load_inputs, output


def register(sub) -> None:
    c = sub.add_parser("compare", help="backends side by side: a table, and JSON + PNG + HTML in -o DIR")
    c.add_argument("model", help="an artifact directory (or a model file / zoo name, compiled into DIR/artifact)")
    c.add_argument("-o", "--out", type=Path, required=True, help="where compare.json, .png and .html go")
    from .common import add_zoo_dir_arg, backends_help

    c.add_argument("--backends", default="reference,qonnx,csim,rtlsim,gpu",
                   help=f"comma-separated, of {backends_help()} (default %(default)s; device needs --port)")
    add_zoo_dir_arg(c)
    add_input_args(c)
    add_device_args(c)
    c.set_defaults(func=run)


def run(args):
    from convflow.runtime.compare import compare, mismatches, table, write_report
    from convflow.runtime.session import Session

    from .verify import artifact_of

    artifact = artifact_of(args.model, args.out / "artifact", args.zoo_dir)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "device" in backends and not args.port:
        from convflow.hw.errors import ConvflowError
        raise ConvflowError("compare: the device backend needs --port (a serial port, or 'sim' for the simulated "
                            "board)")
    session = Session(artifact, "reference")
    x, y, desc = load_inputs(args, session)
    report = compare(session.artifact, x, backends, labels=y, options=backend_options(args), inputs_desc=desc)
    paths = write_report(report, args.out)
    report["files"] = {k: str(v) for k, v in paths.items()}
    output(args, table(report) + f"\nreport: {paths['html']} (also {paths['json'].name}, {paths['png'].name})",
           report)
    bad = mismatches(report)
    if bad:
        print(f"compare: {', '.join(bad)} not bit-exact with the reference", file=sys.stderr)
        return 1
    failed = [r["backend"] for r in report["backends"] if r["error"]]
    if failed:
        print(f"compare: {', '.join(failed)} could not run (see the table)", file=sys.stderr)
        return 2
    return 0
