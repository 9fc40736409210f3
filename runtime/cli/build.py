"""`convflow build`: a bitstream from an artifact, with the open ECP5 flow (default) or the Vitis flow.

Given a model file (or a zoo name) instead of an artifact, it first compiles the model folded to fit the board
(`convflow compile MODEL -o DIR --board B`), then builds.  An artifact whose estimate does not fit the board is
refused before any tool runs, with the compile command that folds it to fit."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .common import add_force_arg, output
from .compile import add_folding_args, folding_options, report_lines
from .options import board_name, clock_mhz, int_at_least, part_name


def register(sub) -> None:
    b = sub.add_parser("build", help="build a bitstream: open ECP5 flow (default) or the Vitis flow",
                       description="Build a bitstream of an artifact; given a model file or zoo name, compile it "
                                   "folded to fit the board first (into -o DIR).")
    b.add_argument("artifact", help="an artifact directory, or a model file / zoo name to compile to fit first")
    b.add_argument("-o", "--out", type=Path, help="where the artifact of a model goes (default build/<model name>)")
    from .common import boards_help

    b.add_argument("--flow", choices=["ecp5", "vitis"], default="ecp5",
                   help="ecp5: the open flow (yosys, nextpnr, ecppack) to a bitstream here; vitis: the Vitis HLS "
                        "project where vitis_hls is installed (default %(default)s)")
    b.add_argument("--board", type=board_name, default="ulx3s-85f",
                   help=f"board, one of {boards_help()} (default %(default)s)")
    b.add_argument("--device", type=part_name, help="bare ECP5 part, e.g. LFE5U-85F (no board pins)")
    b.add_argument("--package", help="package for --device (default CABGA381)")
    b.add_argument("--clock-mhz", type=clock_mhz,
                   help="design clock in MHz (above 0, at most 400; default: the board's oscillator, 25 MHz bare)")
    b.add_argument("--hard-clock", action="store_true", help="fail if the clock is not met")
    b.add_argument("--router", choices=["router1", "router2"],
                   help="nextpnr's router (default: router2 when the design takes half the part's LUT4 or more, "
                        "where router1 stalls; else router1, the better Fmax)")
    b.add_argument("--baud", type=int_at_least(1, "a baud rate"),
                   help="UART baud rate of the board top (default: the board's, 115200; up to 3000000 with a design "
                   "clock that is a multiple of 3 MHz, e.g. --clock-mhz 48)")
    b.add_argument("--window", type=int_at_least(1, "a window"),
                   help="frame slots of the board top: INFERs in flight (default 4)")
    b.add_argument("--part", type=part_name, help="Xilinx part (vitis flow)")
    b.add_argument("--zoo-dir", type=Path, help="where zoo models are trained and looked up (default "
                   "build/zoo; $CONVFLOW_ZOO_DIR)")
    add_force_arg(b, "bitstream/ (and -o)")
    add_folding_args(b, fit_target=False, clock=False)
    b.set_defaults(func=run)


def run(args):
    artifact = Path(args.artifact)
    if not (artifact / "manifest.json").is_file():
        artifact = compile_to_fit(args)
    if args.flow == "vitis":
        from convflow.hw.flows.vitis import build
        result = build(artifact, part=args.part)
        output(args, f"vitis: {result}", result)
        return
    from convflow.hw.errors import DesignDoesNotFit
    from convflow.hw.flows import ecp5_board
    from convflow.hw.flows.ecp5 import DEFAULT_WINDOW, build

    from .options import check_baud

    board = None if args.device else ecp5_board.board(args.board)
    clock = args.clock_mhz or (board.clock_mhz if board else 25.0)
    check_baud(args.baud or (board.baud if board else 115200), clock)      # before any tool runs
    target_board = None if args.device else args.board
    check_fits(artifact, target_board, args.device)
    try:
        result = build(artifact, board=target_board, device=args.device, package=args.package,
                       clock_mhz=args.clock_mhz, hard_clock=args.hard_clock, baud=args.baud,
                       window=args.window or DEFAULT_WINDOW, force=args.force, router=args.router)
    except DesignDoesNotFit as exc:
        raise DesignDoesNotFit(f"{exc}; {fitting_command(artifact, target_board, args.device)}") from None
    res = result["resources"]
    clock = result["clock"]
    text = (f"bitstream {artifact / 'bitstream' / 'top.bit'} for {result['device']} ({result['board']}): "
            + ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in res.items() if k != "IO")
            + f"; Fmax {clock['fmax_mhz']} MHz (clock {clock['design_mhz']} MHz"
            + ("" if clock["timing_met"] else ", NOT met") + f"); UART {result['uart']['baud']} baud; "
            f"{result['times_s']['total']} s")
    from convflow.hw.flows.timing import stage_label
    slow = [r for r in result.get("timing_by_stage", []) if not clock["timing_met"]][:3]
    if slow:            # where the period goes: the slowest stages, each with its slowest path's logic / routing
        text += "\nslowest stages: " + ", ".join(
            f"{stage_label(r['stage'])} {r['fmax_mhz']} MHz ({r['logic_ns']} ns logic, {r['routing_ns']} ns routing)"
            for r in slow)
    output(args, text, result)


def compile_to_fit(args) -> Path:
    """Compile the model named by args.artifact folded to fit the board (or device): the artifact's path."""
    from convflow.compiler.compile import compile_model
    from convflow.hw.errors import ConvflowError

    from .common import DEFAULT_ZOO_DIR, check_output, resolve_model, zoo_of
    from .compile import checked_model_options

    if args.flow != "ecp5":
        raise ConvflowError(f"{args.artifact}: not an artifact directory (no manifest.json); the vitis flow builds "
                            f"artifacts only: run `convflow compile` first")
    model = resolve_model(str(args.artifact), args.zoo_dir or DEFAULT_ZOO_DIR)
    out = args.out or Path("build") / model.stem
    folding_path = args.folding.path if args.folding is not None else None
    check_output(out, inputs=[model, folding_path], force=args.force)      # refused before any work
    options = folding_options(args, checked_model_options(model, args, None))
    options["board"], options["device"] = (None, args.device) if args.device else (args.board, None)
    if not getattr(args, "quiet", False):
        print(f"convflow: compiling {model} folded to fit {args.device or args.board} into {out}", file=sys.stderr)
    out = compile_model(model, out, dataset=zoo_of(model)[1], force=args.force, **options)
    if not getattr(args, "quiet", False) and not getattr(args, "json", False):
        print(report_lines(out)[0], file=sys.stderr)
    return out


def check_fits(artifact: Path, board: str | None, device: str | None) -> None:
    """Refuse (DesignDoesNotFit, with the compile command that fits) an artifact whose estimate, with the board top,
    exceeds the part's resources; warn when it is above the fit margin."""
    import numpy as np

    from convflow.compiler.dataflow.folding import DEFAULT_MARGIN, PART_RESOURCES, RESOURCES, ecp5_budget
    from convflow.hw.errors import DesignDoesNotFit
    from convflow.runtime.artifact import Artifact

    loaded = Artifact.load(artifact)
    estimate = loaded.manifest.get("estimate")
    if not estimate:
        return
    t = loaded.graph.input_tensor
    frame = (int(np.prod(t.shape)), t.dtype.bits)
    budget = ecp5_budget(board=board, device=device, margin=1.0, frame=frame)
    totals = estimate["totals"]
    over = budget.over(totals)
    if over:
        detail = "; ".join(f"{PART_RESOURCES[k]} {used:,.0f} > {limit:,.0f} ({100 * used / limit:.0f}%)"
                           for k, (used, limit) in over.items())
        raise DesignDoesNotFit(f"{artifact} does not fit {budget.target} by its estimate (board top included): "
                               f"{detail}; {fitting_command(artifact, board, device)}")
    shares = budget.shares(totals)
    default = ecp5_budget(board=board, device=device, margin=DEFAULT_MARGIN, frame=frame)
    high = [f"{PART_RESOURCES[k]} {100 * shares[k]:.0f}% (over {100 * default.share(k):.0f}%)" for k in RESOURCES
            if shares[k] > default.share(k)]
    if high:
        print(f"convflow: warning: the estimate uses {', '.join(high)} of {budget.target}, above what the "
              f"default folding leaves for place and route; "
              f"{fitting_command(artifact, board, device)}", file=sys.stderr)


def fitting_command(artifact: Path, board: str | None, device: str | None) -> str:
    """The compile command that folds the artifact's model to fit, and what that folding reaches (the search runs
    on the artifact's own graph)."""
    import numpy as np

    from convflow.compiler.dataflow.folding import ecp5_budget, fold
    from convflow.hw.errors import DesignDoesNotFit
    from convflow.runtime.artifact import Artifact

    loaded = Artifact.load(artifact)
    source = (loaded.manifest.get("source") or {}).get("path") or "MODEL"
    target = ["--board", board] if board else ["--device", device]
    command = shlex.join(["convflow", "compile", str(source), "-o", str(artifact), *target])
    t = loaded.graph.input_tensor
    try:
        folding = fold(loaded.graph, budget=ecp5_budget(board=board, device=device,
                                                        frame=(int(np.prod(t.shape)), t.dtype.bits)))
    except DesignDoesNotFit as exc:
        return f"and no folding of this model fits: {exc}"
    return (f"`{command}` folds it to fit ({folding.cycles_per_frame:,} cycles/frame, "
            f"{folding.fps:,.0f} frames/s at {folding.clock_mhz:g} MHz)")
