"""`convflow run`: inputs through an artifact on one backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import add_device_args, add_input_args, backend_options, load_inputs, output


def register(sub) -> None:
    r = sub.add_parser("run", help="run inputs through an artifact on one backend")
    r.add_argument("artifact", type=Path)
    r.add_argument("--backend", default="reference")
    r.add_argument("--output", help="write the integer outputs to this .npy")
    r.add_argument("--show", type=int, default=3, help="print this many outputs")
    add_input_args(r)
    add_device_args(r)
    r.set_defaults(func=run)


def run(args):
    from convflow.runtime.session import Session

    from convflow.hw.console import progress

    options = backend_options(args).get(args.backend, {})
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
        np.save(args.output, ints)
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
    lines += [f"  {k}: {v}" for k, v in stats.items()]
    output(args, "\n".join(lines), result)
