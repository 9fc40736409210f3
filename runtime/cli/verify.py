"""`convflow verify`: compile and check backends bit-exact against the reference (exit 1 if not)."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import DEFAULT_ZOO_DIR, add_input_args, load_inputs, resolve_model, zoo_of


def register(sub) -> None:
    v = sub.add_parser("verify", help="compile and check backends bit-exact against the reference (exit 1 if not)")
    v.add_argument("model", help="model file, zoo name, or an artifact directory")
    v.add_argument("-o", "--out", type=Path, default=Path("build/verify"))
    v.add_argument("--backends", default="reference,qonnx")
    v.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    add_input_args(v)
    v.set_defaults(func=run)


def run(args):
    from convflow.compiler.compile import compile_model
    from convflow.runtime.session import Session
    from convflow.runtime.verify import report, verify

    model = Path(args.model)
    if (model / "manifest.json").is_file():
        out = model
    else:
        model = resolve_model(args.model, args.zoo_dir)
        out = compile_model(model, args.out, dataset=zoo_of(model)[1])
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    session = Session(out, "reference")
    x, y, desc = load_inputs(args, session)
    expected, results = verify(session.artifact, x, backends, labels=y)
    print(report(results, expected, desc))
    failed = [r.backend for r in results if not r.exact]
    if failed:
        print(f"verify FAILED: {', '.join(failed)} not bit-exact with the reference", file=sys.stderr)
        return 1
    print(f"verify passed: {', '.join(backends)} bit-exact on {len(expected)} inputs")
    return 0
