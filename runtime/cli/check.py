"""`convflow check ART`: verify an artifact without running anything from it (runtime/check.py does the work; the
fresh emission of its sources comes from the compiler, which the CLI may import).  Exit 0 when it passes, 1 when
something does not match, 2 when ART is not an artifact at all."""
from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    c = sub.add_parser("check", help="verify an artifact (hashes, paths, weights, sources) without running it")
    c.add_argument("artifact", type=Path, help="an artifact folder (convflow compile -o)")
    c.set_defaults(func=run)


def emitters() -> dict:
    """Per source key: a fresh emission of it into a folder, by the compiler's own emit_sources (the one place
    that decides what an artifact's hls/, rtl/ and gpu/ hold)."""
    from convflow.compiler.compile import emit_sources
    from convflow.compiler.dataflow import build_plan
    from convflow.hw.flows.vitis import DEFAULT_PART

    def emit(key):
        def write(graph, folder, manifest):          # folder: <somewhere>/<key>
            graph.meta.setdefault("notes", [])
            emit_sources(graph, Path(folder).parent, build_plan(graph) if key != "gpu" else None,
                         part=manifest.get("part") or DEFAULT_PART, keys=(key,),
                         clock_mhz=(manifest.get("folding") or {}).get("clock_mhz"))    # the Vitis clock
        return write
    return {key: emit(key) for key in ("hls", "rtl", "gpu")}


def run(args):
    from convflow.runtime.check import check_artifact

    findings = check_artifact(args.artifact, emitters())
    print(f"check {args.artifact} (nothing in it is run)")
    for f in findings:
        print(f"{'ok  ' if f.ok else 'FAIL'} {f.what}: {f.detail}")
    failed = [f for f in findings if not f.ok]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        print(f"convflow: check FAILED: {args.artifact}: {failed[0].what}: {failed[0].detail}{more}",
              file=sys.stderr)
        return 1
    print(f"check passed: {args.artifact} is what this convflow writes for its graph")
    return 0
