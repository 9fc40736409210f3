"""`convflow run`: inputs through an artifact on one backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import add_input_args, load_inputs
from .options import backend_name, int_at_least, positive_seconds


def register(sub) -> None:
    r = sub.add_parser("run", help="run inputs through an artifact on one backend")
    r.add_argument("artifact", type=Path)
    r.add_argument("--backend", type=backend_name, default="reference")
    r.add_argument("--output", type=Path, help="write the integer outputs to this .npy")
    r.add_argument("--show", type=int_at_least(0, "a count"), default=3, help="print this many outputs")
    r.add_argument("--sim-timeout", type=positive_seconds,
                   help="wall-clock limit of one rtlsim batch, in seconds (default 600)")
    add_input_args(r)
    r.set_defaults(func=run)


def run(args):
    from convflow.hw.safe_output import write_file_atomically
    from convflow.runtime.session import Session

    options = {"timeout_s": args.sim_timeout} if args.sim_timeout and args.backend == "rtlsim" else {}
    with Session(args.artifact, args.backend, **options) as session:
        x, y, desc = load_inputs(args, session)
        ints = session.run(x)
        print(f"{args.backend}: {len(ints)} inputs ({desc})")
        if args.output:
            write_file_atomically(args.output, lambda handle: np.save(handle, ints), inputs=[args.input])
            print(f"integer outputs written to {args.output}")
        if ints.ndim == 2:
            pred = ints.argmax(axis=1)
            if y is not None:
                print(f"accuracy: {100 * np.mean(pred == y):.2f}%")
            for i in range(min(args.show, len(ints))):
                print(f"  #{i}: logits {ints[i].tolist()} -> class {pred[i]}")
        for k, v in session.stats.items():
            if np.isscalar(v):
                print(f"  {k}: {v}")
