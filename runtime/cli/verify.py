"""`convflow verify`: compile and check backends bit-exact against the reference.

Exit 0 when every backend equals the reference bit for bit, 1 when one differs (a mismatch: a real finding), 2 when
a backend could not run (missing tool, bad option or artifact), 3 on an internal error."""
from __future__ import annotations

import sys
from pathlib import Path

from convflow.hw.errors import ConvflowError

from .common import DEFAULT_ZOO_DIR, add_force_arg, add_input_args, check_output, load_inputs, resolve_model, zoo_of
from .options import backend_list, positive_seconds


def register(sub) -> None:
    v = sub.add_parser("verify", help="compile and check backends bit-exact against the reference (exit 1 if not)")
    v.add_argument("model", help="model file, zoo name, or an artifact directory")
    v.add_argument("-o", "--out", type=Path, default=Path("build/verify"))
    v.add_argument("--backends", type=backend_list, default=["reference", "qonnx"],
                   help="comma-separated backends (default reference,qonnx)")
    v.add_argument("--sim-timeout", type=positive_seconds,
                   help="wall-clock limit of one rtlsim batch, in seconds (default 600)")
    v.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    add_input_args(v)
    add_force_arg(v)
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
        check_output(args.out, inputs=[model, args.input], force=args.force)
        out = compile_model(model, args.out, dataset=zoo_of(model)[1], force=args.force)
    backends = args.backends
    session = Session(out, "reference")
    x, y, desc = load_inputs(args, session)
    options = {"rtlsim": {"timeout_s": args.sim_timeout}} if args.sim_timeout else {}
    expected, results = verify(session.artifact, x, backends, labels=y, options=options)
    print(report(results, expected, desc))
    differing = [r.backend for r in results if r.error is None and not r.exact]
    if differing:
        print(f"verify FAILED: {', '.join(differing)} not bit-exact with the reference", file=sys.stderr)
        return 1
    failed = [r for r in results if r.error is not None]
    if failed:
        # a backend that could not run is not a mismatch: re-raise its error, so it gets its own class (2 for a
        # missing tool or a bad artifact, 3 for a bug) and one line naming the backend
        first = failed[0]
        exc = first.exception
        if isinstance(exc, ConvflowError):
            raise ConvflowError(f"verify: backend {first.backend} could not run: {exc}") from exc
        raise exc
    print(f"verify passed: {', '.join(backends)} bit-exact on {len(expected)} inputs")
    return 0
