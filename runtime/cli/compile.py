"""`convflow compile`: a QONNX / QKeras model (or zoo name) -> an artifact directory."""
from __future__ import annotations

import json
from pathlib import Path

from .common import DEFAULT_ZOO_DIR, output, resolve_model, zoo_of


def register(sub) -> None:
    from convflow.hw.flows.vitis import DEFAULT_PART

    c = sub.add_parser("compile", help="compile a QONNX / QKeras model (or zoo name) into an artifact")
    c.add_argument("model", help="model.onnx, model.h5 / .keras, model.json (+ _weights.h5), or a zoo name")
    c.add_argument("-o", "--out", type=Path, required=True)
    c.add_argument("--target-cycles", type=int, help="cycles per frame to fold for (default: the input's pace)")
    c.add_argument("--folding", help="JSON file {layer name: [pe, simd]} overriding the automatic folding")
    c.add_argument("--part", default=DEFAULT_PART, help="Xilinx part for the Vitis HLS project")
    c.add_argument("--input-bits", type=int, help="bits of the fixed-point input of a model with no input quantiser")
    c.add_argument("--input-frac-bits", type=int, help="fraction bits of that input (scale 2^-n)")
    c.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    c.set_defaults(func=run)


def run(args):
    from convflow.compiler.compile import compile_model
    from convflow.hw.console import progress
    from convflow.runtime.artifact import Artifact

    model = resolve_model(args.model, args.zoo_dir)
    folding = json.loads(Path(args.folding).read_text()) if args.folding else None
    float_input = None
    if args.input_bits or args.input_frac_bits is not None:
        float_input = {"bits": args.input_bits or 16, "signed": True,
                       "scale": 2.0 ** -(args.input_frac_bits if args.input_frac_bits is not None else 8)}
    with progress(total=1, desc=f"compile {model.name}", unit="model") as bar:
        out = compile_model(model, args.out, target_cycles=args.target_cycles, folding=folding, part=args.part,
                            float_input=float_input, dataset=zoo_of(model)[1])
        bar.update()
    artifact = Artifact.load(out)
    lines = [artifact.graph.summary()]
    estimate = artifact.manifest.get("estimate")
    if estimate:
        lines.append(f"estimate: {estimate.get('cycles_per_frame')} cycles/frame; "
                     + ", ".join(f"{k}={v}" for k, v in estimate.get("totals", {}).items()))
    lines += [f"note: {note}" for note in artifact.manifest.get("notes", [])]
    lines.append(f"artifact written to {out}")
    output(args, "\n".join(lines), {"artifact": str(out), "model": artifact.manifest.get("model"),
                                     "estimate": estimate, "notes": artifact.manifest.get("notes", []),
                                     "sources": artifact.manifest.get("sources"),
                                     "sources_unavailable": artifact.manifest.get("sources_unavailable")})
