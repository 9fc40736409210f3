"""`convflow verify`: compile and check backends bit-exact against the reference (exit 1 if not)."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import (DEFAULT_ZOO_DIR, add_device_args, add_input_args, backend_options, load_inputs, output,
                     resolve_model, zoo_of)


def register(sub) -> None:
    v = sub.add_parser("verify", help="compile and check backends bit-exact against the reference (exit 1 if not)")
    v.add_argument("model", help="model file, zoo name, or an artifact directory")
    v.add_argument("-o", "--out", type=Path, default=Path("build/verify"))
    v.add_argument("--backends", default="reference,qonnx")
    v.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    add_input_args(v)
    add_device_args(v)
    v.set_defaults(func=run)


def artifact_of(spec: str, out: Path, zoo_dir: Path) -> Path:
    """An artifact directory as it is, or a model file / zoo name compiled into ``out``."""
    from convflow.compiler.compile import compile_model

    if (Path(spec) / "manifest.json").is_file():
        return Path(spec)
    model = resolve_model(spec, zoo_dir)
    return compile_model(model, out, dataset=zoo_of(model)[1])


def run(args):
    from convflow.runtime.session import Session
    from convflow.runtime.verify import report, verify

    out = artifact_of(args.model, args.out, args.zoo_dir)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    session = Session(out, "reference")
    x, y, desc = load_inputs(args, session)
    expected, results = verify(session.artifact, x, backends, labels=y, options=backend_options(args))
    failed = [r.backend for r in results if not r.exact]
    output(args, report(results, expected, desc), {
        "inputs": len(expected), "inputs_desc": desc, "passed": not failed,
        "backends": [{"backend": r.backend, "exact": r.exact, "differing_samples": r.differing_samples,
                      "differing_outputs": r.differing_outputs, "first_difference": r.first_difference,
                      "accuracy": r.accuracy, "seconds": r.seconds, "stats": r.stats, "error": r.error}
                     for r in results]})
    if failed:
        print(f"verify FAILED: {', '.join(failed)} not bit-exact with the reference", file=sys.stderr)
        return 1
    if not args.json:
        print(f"verify passed: {', '.join(backends)} bit-exact on {len(expected)} inputs")
    return 0
