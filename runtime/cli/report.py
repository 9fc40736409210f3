"""`convflow report ART`: the design of an artifact -- per-layer folding, cycles and resources (with units and
the device family), frames/s at its clock and the bottleneck, a picture of the dataflow graph, Vitis's csynth
figures where they exist -- printed, and written as HTML (+ JSON, PNG) into -o DIR (default ART/report/)."""
from __future__ import annotations

from pathlib import Path

from .common import output


def register(sub) -> None:
    r = sub.add_parser("report", help="the layer table and dataflow graph of an artifact, printed and as HTML")
    r.add_argument("artifact", type=Path, help="an artifact folder (convflow compile -o)")
    r.add_argument("-o", "--out", type=Path,
                   help="where report.html, .json and .png go (default: ARTIFACT/report, beside the manifest; "
                        "not one of the artifact's hashed files)")
    r.set_defaults(func=run)


def run(args):
    from convflow.runtime.artifact import Artifact
    from convflow.runtime.report import REPORT_DIR, build_report, table, write_report

    artifact = Artifact.load(args.artifact)
    report = build_report(artifact)
    paths = write_report(report, args.out or artifact.path / REPORT_DIR)
    report["files"] = {k: str(v) for k, v in paths.items()}
    output(args, table(report) + f"\nreport: {paths['html']} (also {paths['json'].name}, {paths['png'].name})",
           report)
