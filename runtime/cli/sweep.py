"""`convflow sweep`: a model folded for every board and frame rate, compiled (and built) in parallel on a local
process pool or a Ray cluster; the Pareto front of frames/s against LUT/FF/DSP/EBR (runtime/sweep.py does the
work)."""
from __future__ import annotations

from pathlib import Path

from .common import DEFAULT_ZOO_DIR, output, resolve_model
from .options import clock_mhz, fit_margin, positive_int


def register(sub) -> None:
    s = sub.add_parser("sweep", help="fold a model for several boards and frame rates; the Pareto front",
                       description="Compile (and with --build, build) MODEL for every board x frame rate, in "
                                   "parallel; results stream into DIR/results.jsonl (a sweep started again resumes),"
                                   " the front goes to DIR/pareto.json and DIR/pareto.png.")
    s.add_argument("model", help="model file or zoo name")
    s.add_argument("-o", "--out", type=Path, required=True, help="sweep directory")
    from .common import add_zoo_dir_arg, boards_help

    s.add_argument("--boards", default="ulx3s-25f,ulx3s-45f,ulx3s-85f",
                   help=f"comma-separated, of {boards_help()} (default %(default)s)")
    s.add_argument("--fps", default="fit",
                   help="comma-separated frame rates to fold for; 'fit' = the fastest that fits (default)")
    s.add_argument("--build", action="store_true", help="build a bitstream of every point (minutes each)")
    s.add_argument("--ray", metavar="ADDRESS", help="run each point as a Ray task on this cluster "
                                                     "(ray.init(address=ADDRESS); 'local' starts one here)")
    s.add_argument("--workers", type=positive_int, help="local process pool size (default: one per CPU)")
    s.add_argument("--clock-mhz", type=clock_mhz, default=100.0, help="clock the frame rates are counted at and "
                                                                   "bitstreams built for (default 100)")
    s.add_argument("--fit-margin", type=fit_margin, help="share of each resource a design may use (default 0.85,LUT4=0.70,EBR=0.90; 0.9,LUT4=0.75)")
    add_zoo_dir_arg(s)
    s.set_defaults(func=run)


def run(args):
    from convflow.hw.errors import ConvflowError
    from convflow.runtime.sweep import parse_fps, sweep

    try:
        fps = parse_fps(args.fps)
    except ValueError as exc:
        raise ConvflowError(f"--fps {args.fps!r}: {exc}; give numbers of frames/s or 'fit', comma-separated") from None
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    model = resolve_model(args.model, args.zoo_dir)
    result = sweep(model, args.out, boards=boards, fps=fps, build=args.build, ray=args.ray, workers=args.workers,
                   clock_mhz=args.clock_mhz, fit_margin=args.fit_margin)
    text = "\n".join([
        f"{result['ran']} point(s) run, {result['skipped']} already in {args.out / 'results.jsonl'}",
        f"Pareto front ({len(result['front'])} of {len(result['results'])}): {', '.join(result['front'])}",
        f"written: {args.out / 'pareto.json'}, {args.out / 'pareto.png'}"])
    output(args, text, {key: result[key] for key in ("ran", "skipped", "front", "results")}
           | {"results_file": str(args.out / "results.jsonl"), "pareto": str(args.out / "pareto.json")})
