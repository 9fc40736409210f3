"""`convflow run`: inputs through an artifact on one backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import add_device_args, add_input_args, add_sim_args, backend_options, load_inputs, output
from .options import backend_name, int_at_least, positive_seconds


def register(sub) -> None:
    r = sub.add_parser("run", help="run inputs through an artifact on one backend")
    from .common import backends_help

    r.add_argument("artifact", type=Path, help="an artifact folder (convflow compile -o)")
    r.add_argument("--backend", type=backend_name, default="reference",
                   help=f"one of {backends_help()} (default %(default)s)")
    r.add_argument("--output", type=Path, help="write the integer outputs to this .npy")
    r.add_argument("--show", type=int_at_least(0, "a count"), default=3,
                   help="print this many outputs (default %(default)s)")
    r.add_argument("--sim-timeout", type=positive_seconds,
                   help="wall-clock limit of one rtlsim batch, in seconds (default 600)")
    add_input_args(r)
    add_device_args(r)
    add_sim_args(r)
    r.set_defaults(func=run)


def run(args):
    from convflow.hw.safe_output import write_file_atomically
    from convflow.runtime.session import Session

    from convflow.hw.console import progress

    options = backend_options(args).get(args.backend, {})
    if args.sim_timeout and args.backend == "rtlsim":
        options["timeout_s"] = args.sim_timeout
    with progress(total=1, desc=f"{args.backend}: starting (builds on first use)", unit="backend") as bar:
        session = Session(args.artifact, args.backend, **options)
        bar.update()
    with session:
        x, y, desc = load_inputs(args, session)
        ints = session.run(x)
        stats = {k: v for k, v in session.stats.items() if np.isscalar(v) or v is None}
    lines = [f"{args.backend}: {len(ints)} inputs ({desc})"]
    result = {"backend": args.backend, "inputs": len(ints), "inputs_desc": desc, "stats": stats}
    if args.output:
        write_file_atomically(args.output, lambda handle: np.save(handle, ints), inputs=[args.input])
        lines.append(f"integer outputs written to {args.output}")
        result["output"] = str(args.output)
    if ints.ndim == 2:
        pred = ints.argmax(axis=1)
        if y is not None:
            result["accuracy"] = float(np.mean(pred == y))
            lines.append(f"accuracy: {100 * result['accuracy']:.2f}%")
        shown = min(args.show, len(ints))
        result["shown"] = [{"logits": ints[i].tolist(), "class": int(pred[i])} for i in range(shown)]
        lines += [f"  #{i}: logits {ints[i].tolist()} -> class {pred[i]}" for i in range(shown)]
    from convflow.runtime.units import format_stats

    lines += [f"  {line}" for line in format_stats(stats)]
    output(args, "\n".join(lines), result)
