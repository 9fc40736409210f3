"""`convflow compile`: a QONNX / QKeras model (or zoo name) -> an artifact directory."""
from __future__ import annotations

from pathlib import Path

from convflow.hw.errors import UsageError

from .common import DEFAULT_ZOO_DIR, add_force_arg, check_output, output, resolve_model, zoo_of
from .options import (FRAC_BITS_RANGE, INPUT_BITS_RANGE, board_name, clock_mhz, config_file, fit_margin, float_in,
                      folding_file,
                      int_between, part_name, positive_int)


def register(sub) -> None:
    from convflow.hw.flows.vitis import DEFAULT_PART

    c = sub.add_parser("compile", help="compile a QONNX / QKeras model (or zoo name) into an artifact")
    from .common import add_zoo_dir_arg, zoo_help

    c.add_argument("model", help=f"model.onnx, model.h5 / .keras, model.json (+ _weights.h5), or a zoo name "
                   f"({zoo_help()})")
    c.add_argument("-o", "--out", type=Path, required=True, help="the artifact folder to write (replaced "
                   "atomically when it holds an artifact)")
    c.add_argument("--config", type=config_file, help="a convflow.Config as YAML or JSON (target, clock, part, "
                   "per-layer folding, input precision); the flags given here override its fields")
    add_folding_args(c)
    c.add_argument("--part", type=part_name, help=f"Xilinx part for the Vitis HLS project (default {DEFAULT_PART})")
    c.add_argument("--input-bits", type=int_between(*INPUT_BITS_RANGE),
                   help="bits of the fixed-point input of a model with no input quantiser (2..32)")
    c.add_argument("--input-frac-bits", type=int_between(*FRAC_BITS_RANGE),
                   help="fraction bits of that input (scale 2^-n)")
    add_zoo_dir_arg(c)
    add_force_arg(c)
    c.set_defaults(func=run)


def float_input_of(args):
    """The --input-bits / --input-frac-bits fixed-point format, or None."""
    if args.input_bits is None and args.input_frac_bits is None:
        return None
    return {"bits": args.input_bits or 16, "signed": True,
            "scale": 2.0 ** -(args.input_frac_bits if args.input_frac_bits is not None else 8)}


def checked_model_options(model: Path, args, float_input, cfg=None) -> dict | None:
    """Options that need the model: --folding (and --config's folding) layer names, and --input-bits only where
    the model has no input quantiser of its own.  Imports the model once more only when such an option is given."""
    if args.folding is None and float_input is None and not (cfg and cfg.folding):
        return None
    from convflow.compiler.compile import import_model

    graph, _ = import_model(model, float_input=float_input)
    if float_input is not None and not graph.host.input.implicit:
        raise UsageError(f"--input-bits/--input-frac-bits: {model} quantises its own input "
                         f"({graph.input_tensor.dtype}); these options apply only to a model with a float input")
    if args.folding is not None:
        args.folding.checked_against(graph)               # named by the --folding file
    if cfg is not None and cfg.folding:
        where = f"--config {args.config.path}" if getattr(args, "config", None) else "--folding"
        from convflow.compiler.config import checked_overrides

        return checked_overrides(cfg.folding, graph, f"{where} folding")
    return args.folding.checked_against(graph) if args.folding is not None else None


def add_folding_args(parser, fit_target: bool = True, clock: bool = True) -> None:
    """The options that choose the folding (compiler/dataflow/folding.py); `convflow build` shares them (with its
    own --board, --device and --clock-mhz)."""
    from convflow.compiler.dataflow.folding import DEFAULT_MARGIN

    g = parser.add_argument_group("folding (PE/SIMD per layer)")
    if fit_target:
        from .common import boards_help

        g.add_argument("--board", type=board_name,
                       help=f"fold to fit this board's FPGA, UART top included ({boards_help()})")
        g.add_argument("--device", type=part_name, help="fold to fit this bare ECP5 part (e.g. LFE5U-45F)")
    g.add_argument("--fit-margin", type=fit_margin,
                   help=f"share of each resource (LUT4, FF, MULT18X18D, EBR) the design may use (default "
                        f"{DEFAULT_MARGIN}: LUT4 less, for routing, EBR more); some their own: 0.9,LUT4=0.75")
    g.add_argument("--target-fps", type=float_in(0.0, 1e12, "a frame rate in frames/s"),
                   help="the cheapest folding that reaches this many frames/s")
    g.add_argument("--target-cycles", type=positive_int,
                   help="the cheapest folding that reaches this many cycles/frame (default: the input's pace)")
    if clock:
        g.add_argument("--clock-mhz", type=clock_mhz, help="clock the frame rates are counted at (default 100 MHz)")
    g.add_argument("--input-pace", type=float_in(0.0, 1.0, "an input pace in elements per cycle"),
                   help="elements per cycle the input interface delivers, in (0, 1] (default 1)")
    g.add_argument("--folding", type=folding_file,
                   help="JSON file {layer name: [pe, simd]} or {layer name: {pe, simd, mult, weight_mem, "
                        "buffer_mem}} (the artifact's folding.json) overriding the automatic folding")


def folding_options(args, folding: dict | None) -> dict:
    """compile_model's keyword arguments from the options of add_folding_args (``folding``: the checked
    --folding layers)."""
    from convflow.compiler.dataflow.folding import DEFAULT_MARGIN

    return {"target_cycles": args.target_cycles, "target_fps": args.target_fps,
            "clock_mhz": getattr(args, "clock_mhz", None),
            "board": getattr(args, "board", None), "device": getattr(args, "device", None),
            "fit_margin": args.fit_margin if args.fit_margin is not None else DEFAULT_MARGIN,
            "input_pace": args.input_pace, "folding": folding}


def config_of(args):
    """The Config of --config (or the defaults) with every flag given on the command line put over its field."""
    from convflow.compiler.config import Config

    data = (args.config or Config()).to_dict()
    flags = {"clock_mhz": args.clock_mhz, "part": args.part, "fit_margin": args.fit_margin,
             "input_pace": args.input_pace}
    data.update({k: v for k, v in flags.items() if v is not None})
    # a target or a device on the command line replaces the file's (of either kind: one of each is allowed)
    if args.target_fps is not None or args.target_cycles is not None:
        data["target_fps"], data["target_cycles"] = args.target_fps, args.target_cycles
    if args.board is not None or args.device is not None:
        data["board"], data["device"] = args.board, args.device
    if args.folding is not None:
        data["folding"] = {**data["folding"], **args.folding.layers}
    if args.input_bits is not None or args.input_frac_bits is not None:
        data["input_precision"] = {"bits": args.input_bits or 16,
                                   "frac_bits": args.input_frac_bits if args.input_frac_bits is not None else 8}
    return Config.from_dict(data, where="--config" if args.config else "options")


def report_lines(out: Path) -> tuple:
    """What a compile chose, for people (the graph, the folding table, the notes) and as data for --json."""
    from convflow.compiler.dataflow.folding import format_manifest_table
    from convflow.runtime.artifact import Artifact

    artifact = Artifact.load(out)
    lines = [artifact.graph.summary()]
    table = format_manifest_table(artifact.manifest)
    if table:
        lines.append(table)
        lines.append(f"LUT4/FF/DSP/EBR are convflow's estimates for Lattice ECP5 (DSP = MULT18X18D, EBR = 18 kbit "
                     f"block RAM); the Vitis HLS project targets Xilinx {artifact.manifest.get('part')}, whose "
                     "figures come from its csynth report (`convflow report`)")
    if artifact.manifest.get("folding_file"):
        lines.append(f"folding written to {out / artifact.manifest['folding_file']} (edit it and give it back with "
                     "--folding or convflow.Config.folding)")
    lines += [f"note: {note}" for note in artifact.manifest.get("notes", [])]
    lines.append(f"artifact written to {out}")
    manifest = artifact.manifest
    data = {"artifact": str(out), "model": manifest.get("model"), "estimate": manifest.get("estimate"),
            "folding": manifest.get("folding"), "notes": manifest.get("notes", []),
            "sources": manifest.get("sources"), "sources_unavailable": manifest.get("sources_unavailable")}
    return "\n".join(lines), data


def run(args):
    from convflow.compiler.compile import compile_model
    from convflow.hw.console import progress

    model = resolve_model(args.model, args.zoo_dir)
    folding_path = args.folding.path if args.folding is not None else None
    config_path = args.config.path if args.config is not None else None
    check_output(args.out, inputs=[model, folding_path, config_path], force=args.force)   # refused before any work
    cfg = config_of(args)
    float_input = cfg.input_precision.to_float_input() if cfg.input_precision else None
    options = cfg.compile_options()
    if cfg.folding or float_input is not None:
        options["folding"] = checked_model_options(model, args, float_input, cfg)
    with progress(total=1, desc=f"compile {model.name}", unit="model") as bar:
        out = compile_model(model, args.out, dataset=zoo_of(model)[1], force=args.force, **options)
        bar.update()
    text, data = report_lines(out)
    output(args, text, data)
