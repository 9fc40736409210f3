"""`convflow train`: train a zoo model on its bundled data set and export it to QONNX."""
from __future__ import annotations

import json
from pathlib import Path

from .common import DEFAULT_ZOO_DIR


def register(sub) -> None:
    t = sub.add_parser("train", help="train a zoo model on its bundled data set and export it to QONNX")
    t.add_argument("model", help="zoo model name")
    t.add_argument("-o", "--out", type=Path, help="output directory (default build/zoo/<model>)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quick", action="store_true", help="a tiny training run (CI)")
    t.set_defaults(func=run)


def run(args):
    from convflow.models.train import train

    record = train(args.model, str(args.out or DEFAULT_ZOO_DIR / args.model), epochs=args.epochs, seed=args.seed,
                   quick=args.quick)
    print(json.dumps(record, indent=1, default=str))
