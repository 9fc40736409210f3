"""`convflow run`: inputs through an artifact on one backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import add_input_args, load_inputs


def register(sub) -> None:
    r = sub.add_parser("run", help="run inputs through an artifact on one backend")
    r.add_argument("artifact", type=Path)
    r.add_argument("--backend", default="reference")
    r.add_argument("--output", help="write the integer outputs to this .npy")
    r.add_argument("--show", type=int, default=3, help="print this many outputs")
    add_input_args(r)
    r.set_defaults(func=run)


def run(args):
    from convflow.runtime.session import Session

    with Session(args.artifact, args.backend) as session:
        x, y, desc = load_inputs(args, session)
        ints = session.run(x)
        print(f"{args.backend}: {len(ints)} inputs ({desc})")
        if args.output:
            np.save(args.output, ints)
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
