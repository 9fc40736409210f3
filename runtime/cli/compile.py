"""`convflow compile`: a QONNX / QKeras model (or zoo name) -> an artifact directory."""
from __future__ import annotations

import json
from pathlib import Path

from .common import DEFAULT_ZOO_DIR, resolve_model, zoo_of


def register(sub) -> None:
    from convflow.hw.flows.vitis import DEFAULT_PART

    c = sub.add_parser("compile", help="compile a QONNX / QKeras model (or zoo name) into an artifact")
    c.add_argument("model", help="model.onnx, model.h5 / .keras, model.json (+ _weights.h5), or a zoo name")
    c.add_argument("-o", "--out", type=Path, required=True)
    add_folding_args(c)
    c.add_argument("--part", default=DEFAULT_PART, help="Xilinx part for the Vitis HLS project")
    c.add_argument("--input-bits", type=int, help="bits of the fixed-point input of a model with no input quantiser")
    c.add_argument("--input-frac-bits", type=int, help="fraction bits of that input (scale 2^-n)")
    c.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    c.set_defaults(func=run)


def add_folding_args(parser, fit_target: bool = True, clock: bool = True) -> None:
    """The options that choose the folding (compiler/dataflow/folding.py); `convflow build` shares them (with its
    own --board, --device and --clock-mhz)."""
    from convflow.compiler.dataflow.folding import DEFAULT_MARGIN

    g = parser.add_argument_group("folding (PE/SIMD per layer)")
    if fit_target:
        g.add_argument("--board", help="fold to fit this board's FPGA (hw/boards, e.g. ulx3s-85f), UART top included")
        g.add_argument("--device", help="fold to fit this bare ECP5 part (e.g. LFE5U-45F)")
    g.add_argument("--fit-margin", default=str(DEFAULT_MARGIN),
                   help=f"share of each resource (LUT4, FF, MULT18X18D, EBR) the design may use (default "
                        f"{DEFAULT_MARGIN:g}); some their own: 0.9,LUT4=0.75")
    g.add_argument("--target-fps", type=float, help="the cheapest folding that reaches this many frames/s")
    g.add_argument("--target-cycles", type=int, help="the cheapest folding that reaches this many cycles/frame")
    if clock:
        g.add_argument("--clock-mhz", type=float, help="clock the frame rates are counted at (default 100 MHz)")
    g.add_argument("--input-pace", type=float,
                   help="elements per cycle the input interface delivers, in (0, 1] (default 1)")
    g.add_argument("--folding", help="JSON file {layer name: [pe, simd]} overriding the automatic folding")


def folding_options(args) -> dict:
    """compile_model's keyword arguments from the options of add_folding_args."""
    return {"target_cycles": args.target_cycles, "target_fps": args.target_fps, "clock_mhz": args.clock_mhz,
            "board": getattr(args, "board", None), "device": getattr(args, "device", None),
            "fit_margin": args.fit_margin, "input_pace": args.input_pace,
            "folding": json.loads(Path(args.folding).read_text()) if args.folding else None}


def report(out: Path) -> None:
    """What a compile chose, for people: the graph, the folding table, the notes."""
    from convflow.compiler.dataflow.folding import format_manifest_table
    from convflow.runtime.artifact import Artifact

    artifact = Artifact.load(out)
    print(artifact.graph.summary())
    table = format_manifest_table(artifact.manifest)
    if table:
        print(table)
    for note in artifact.manifest.get("notes", []):
        print(f"note: {note}")
    print(f"artifact written to {out}")


def run(args):
    from convflow.compiler.compile import compile_model

    model = resolve_model(args.model, args.zoo_dir)
    float_input = None
    if args.input_bits or args.input_frac_bits is not None:
        float_input = {"bits": args.input_bits or 16, "signed": True,
                       "scale": 2.0 ** -(args.input_frac_bits if args.input_frac_bits is not None else 8)}
    out = compile_model(model, args.out, part=args.part, float_input=float_input, dataset=zoo_of(model)[1],
                        **folding_options(args))
    report(out)
