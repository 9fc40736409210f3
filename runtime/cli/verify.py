"""`convflow verify`: compile and check backends bit-exact against the reference (exit 1 if not).  A backend that
cannot run (no tool, a bad artifact) is not a mismatch: its error gets its own exit class."""
from __future__ import annotations

import sys
from pathlib import Path

from convflow.hw.errors import ConvflowError

from .common import (DEFAULT_ZOO_DIR, add_device_args, add_force_arg, add_input_args, add_sim_args, backend_options,
                     check_output, load_inputs, output, resolve_model, zoo_of)
from .options import backend_list, positive_seconds

# inputs of a verify on every backend when --count is not given: csim and rtlsim take lenet-fmnist's whole test
# split (10,000) in 88 s and 41 s here, 1,000 in a tenth of that, which keeps a CI line under a minute
ALL_BACKENDS_COUNT = 1000


def register(sub) -> None:
    v = sub.add_parser("verify", help="compile and check backends bit-exact against the reference (exit 1 if not)")
    v.add_argument("model", help="model file, zoo name, or an artifact directory")
    from .common import add_zoo_dir_arg, backends_help

    v.add_argument("-o", "--out", type=Path, default=Path("build/verify"),
                   help="where a model file or zoo name is compiled to (default %(default)s)")
    v.add_argument("--backends", type=backend_list,
                   help=f"comma-separated, of {backends_help()} (default: every backend this machine can run, "
                        f"device only with --port, on at most {ALL_BACKENDS_COUNT} inputs unless --count)")
    v.add_argument("--sim-timeout", type=positive_seconds,
                   help="wall-clock limit of one rtlsim batch, in seconds (default 600)")
    add_zoo_dir_arg(v)
    add_input_args(v)
    add_device_args(v)
    add_sim_args(v)
    add_force_arg(v)
    v.set_defaults(func=run)


def artifact_of(spec: str, out: Path, zoo_dir: Path, inputs=(), force: bool = False) -> Path:
    """An artifact directory as it is, or a model file / zoo name compiled into ``out`` (checked before any work:
    hw/safe_output.py)."""
    from convflow.compiler.compile import compile_model

    if (Path(spec) / "manifest.json").is_file():
        return Path(spec)
    model = resolve_model(spec, zoo_dir)
    check_output(out, inputs=[model, *inputs], force=force)
    return compile_model(model, out, dataset=zoo_of(model)[1], force=force)


def run(args):
    from convflow.hw.console import notice
    from convflow.runtime.session import Session
    from convflow.runtime.verify import report, runnable_backends, verify

    out = artifact_of(args.model, args.out, args.zoo_dir, inputs=[args.input], force=args.force)
    session = Session(out, "reference")
    backends, skipped = args.backends, {}
    if backends is None:                      # every backend this machine can run; say which are not and why
        backends, skipped = runnable_backends(session.artifact, port=getattr(args, "port", None))
        for name, why in skipped.items():
            notice(f"verify: skipping {name}: {why}")
    capped = args.count is None and args.backends is None
    if capped:
        args.count = ALL_BACKENDS_COUNT
    x, y, desc = load_inputs(args, session)
    if capped and len(x) == ALL_BACKENDS_COUNT and desc.endswith("test split"):
        desc = f"the first {ALL_BACKENDS_COUNT:,} of: {desc}; --count N for more"
    options = backend_options(args)
    if args.sim_timeout:
        options.setdefault("rtlsim", {})["timeout_s"] = args.sim_timeout
    expected, results = verify(session.artifact, x, backends, labels=y, options=options)
    output(args, report(results, expected, desc), {
        "inputs": len(expected), "inputs_desc": desc,
        "passed": all(r.exact for r in results), "skipped": skipped,
        "backends": [{"backend": r.backend, "exact": r.exact, "differing_samples": r.differing_samples,
                      "differing_outputs": r.differing_outputs, "first_difference": r.first_difference,
                      "accuracy": r.accuracy, "seconds": r.seconds, "stats": r.stats, "error": r.error}
                     for r in results]})
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
    if not args.json:
        print(f"verify passed: {', '.join(backends)} bit-exact on {len(expected)} inputs")
    return 0
