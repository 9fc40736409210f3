"""`convflow train`: train a zoo model on its bundled data set and export it to QONNX."""
from __future__ import annotations

from pathlib import Path

from .common import DEFAULT_ZOO_DIR, output


def register(sub) -> None:
    t = sub.add_parser("train", help="train a zoo model on its bundled data set and export it to QONNX")
    t.add_argument("model", help="zoo model name")
    t.add_argument("-o", "--out", type=Path, help="output directory (default build/zoo/<model>)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quick", action="store_true", help="a tiny training run (CI)")
    t.set_defaults(func=run)


def run(args):
    from convflow.hw.console import is_quiet
    from convflow.models.train import train

    out = args.out or DEFAULT_ZOO_DIR / args.model
    record = train(args.model, str(out), epochs=args.epochs, seed=args.seed, quick=args.quick,
                   progress=not is_quiet())
    output(args, f"trained {record['model']} on {record['dataset']}: test accuracy "
                 f"{100 * record['test_accuracy']:.2f}% after {record['epochs']} epochs ({record['train_time_s']} s); "
                 f"wrote {', '.join(str(Path(out) / f) for f in record['files'].values())} and {record['model']}.json",
           record)
