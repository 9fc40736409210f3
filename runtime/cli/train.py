"""`convflow train`: train a zoo model on its bundled data set and export it to QONNX."""
from __future__ import annotations

from pathlib import Path

from .common import DEFAULT_ZOO_DIR, add_force_arg, output
from .options import positive_int, seed_int


def register(sub) -> None:
    t = sub.add_parser("train", help="train a zoo model on its bundled data set and export it to QONNX")
    from .common import zoo_help

    t.add_argument("model", help=f"zoo model name: {zoo_help()}")
    t.add_argument("-o", "--out", type=Path, help="output directory (default build/zoo/<model>)")
    t.add_argument("--epochs", type=positive_int, help="training epochs (default: the zoo model's own count)")
    t.add_argument("--seed", type=seed_int, default=0, help="seed of the weights and the data order (default "
                   "%(default)s)")
    t.add_argument("--quick", action="store_true", help="a tiny training run (CI)")
    add_force_arg(t)
    t.set_defaults(func=run)


def trained_kind(name: str):
    """A training folder of ours: <name>.json is a training record of model <name>; its entries are the three files
    train writes."""
    from convflow.hw.safe_output import Kind, _read_json

    def owned(folder: Path):
        record = _read_json(Path(folder) / f"{name}.json")
        if not isinstance(record, dict) or record.get("model") != name or "test_accuracy" not in record:
            return None
        return {f"{name}.h5", f"{name}.onnx", f"{name}.json"}
    return Kind(f"a convflow training folder of {name}", owned, marker=f"{name}.json")


def train_into(name: str, out: Path, force: bool = False, **options) -> dict:
    """Train zoo model ``name`` into a staging folder and move it to ``out`` when complete (hw/safe_output.py):
    an earlier training of the same model there is replaced, anything else refused unless ``force``."""
    from convflow.hw.console import is_quiet
    from convflow.hw.safe_output import OutputTarget
    from convflow.models.train import train
    from convflow.models.zoo import get_spec

    get_spec(name)                                    # an unknown name fails before any folder is touched
    target = OutputTarget(out, trained_kind(name), force=force)
    staging = target.stage()
    try:
        record = train(name, str(staging), progress=not is_quiet(), **options)
        target.publish(staging)
    except BaseException as exc:
        raise target.abandon(staging, exc)
    return record


def run(args):
    out = args.out or DEFAULT_ZOO_DIR / args.model
    record = train_into(args.model, out, force=args.force, epochs=args.epochs, seed=args.seed, quick=args.quick)
    output(args, f"trained {record['model']} on {record['dataset']}: test accuracy "
                 f"{100 * record['test_accuracy']:.2f}% after {record['epochs']} epochs ({record['train_time_s']} s); "
                 f"wrote {', '.join(str(Path(out) / f) for f in record['files'].values())} and "
                 f"{Path(out) / (record['model'] + '.json')}",
           record)
