"""`convflow compile`: a QONNX / QKeras model (or zoo name) -> an artifact directory."""
from __future__ import annotations

from pathlib import Path

from convflow.hw.errors import UsageError

from .common import DEFAULT_ZOO_DIR, add_force_arg, check_output, output, resolve_model, zoo_of
from .options import FRAC_BITS_RANGE, INPUT_BITS_RANGE, folding_file, int_between, part_name, positive_int


def register(sub) -> None:
    from convflow.hw.flows.vitis import DEFAULT_PART

    c = sub.add_parser("compile", help="compile a QONNX / QKeras model (or zoo name) into an artifact")
    c.add_argument("model", help="model.onnx, model.h5 / .keras, model.json (+ _weights.h5), or a zoo name")
    c.add_argument("-o", "--out", type=Path, required=True)
    c.add_argument("--target-cycles", type=positive_int,
                   help="cycles per frame to fold for (default: the input's pace)")
    c.add_argument("--folding", type=folding_file,
                   help="JSON file {layer name: [pe, simd]} overriding the automatic folding")
    c.add_argument("--part", type=part_name, default=DEFAULT_PART, help="Xilinx part for the Vitis HLS project")
    c.add_argument("--input-bits", type=int_between(*INPUT_BITS_RANGE),
                   help="bits of the fixed-point input of a model with no input quantiser (2..32)")
    c.add_argument("--input-frac-bits", type=int_between(*FRAC_BITS_RANGE),
                   help="fraction bits of that input (scale 2^-n)")
    c.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    add_force_arg(c)
    c.set_defaults(func=run)


def float_input_of(args):
    """The --input-bits / --input-frac-bits fixed-point format, or None."""
    if args.input_bits is None and args.input_frac_bits is None:
        return None
    return {"bits": args.input_bits or 16, "signed": True,
            "scale": 2.0 ** -(args.input_frac_bits if args.input_frac_bits is not None else 8)}


def checked_model_options(model: Path, args, float_input) -> dict | None:
    """Options that need the model: --folding layer names, and --input-bits only where the model has no input
    quantiser of its own.  Imports the model once more only when such an option is given."""
    if args.folding is None and float_input is None:
        return None
    from convflow.compiler.compile import import_model

    graph, _ = import_model(model, float_input=float_input)
    if float_input is not None and not graph.host.input.implicit:
        raise UsageError(f"--input-bits/--input-frac-bits: {model} quantises its own input "
                         f"({graph.input_tensor.dtype}); these options apply only to a model with a float input")
    return args.folding.checked_against(graph) if args.folding is not None else None


def run(args):
    from convflow.compiler.compile import compile_model
    from convflow.hw.console import progress
    from convflow.runtime.artifact import Artifact

    model = resolve_model(args.model, args.zoo_dir)
    folding_path = args.folding.path if args.folding is not None else None
    check_output(args.out, inputs=[model, folding_path], force=args.force)     # refused before any work
    float_input = float_input_of(args)
    folding = checked_model_options(model, args, float_input)
    with progress(total=1, desc=f"compile {model.name}", unit="model") as bar:
        out = compile_model(model, args.out, target_cycles=args.target_cycles, folding=folding, part=args.part,
                            float_input=float_input, dataset=zoo_of(model)[1], force=args.force)
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
