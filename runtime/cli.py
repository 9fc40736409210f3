"""The `convflow` command: the front door.  Every sub-command is a thin shell over a library call; errors of the
project's hierarchy become one clear line on stderr and a non-zero exit."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from convflow.hw.errors import ConvflowError

DEFAULT_ZOO_DIR = Path(os.environ.get("CONVFLOW_ZOO_DIR", "build/zoo"))


# --------------------------------------------------------------------------- zoo helpers
def zoo_names() -> list:
    from convflow.models.zoo import ZOO

    return sorted(ZOO)


def zoo_model_path(name: str, zoo_dir: Path, quick: bool = False, epochs=None, seed: int = 0) -> Path:
    """The QONNX export of zoo model ``name`` under zoo_dir, training it first if it is not there yet."""
    onnx_path = zoo_dir / name / f"{name}.onnx"
    if not onnx_path.is_file():
        from convflow.models.train import train

        print(f"convflow: {name} is not trained in {zoo_dir}; training it now", file=sys.stderr)
        train(name, str(zoo_dir / name), epochs=epochs, seed=seed, quick=quick)
    return onnx_path


def resolve_model(spec: str, zoo_dir: Path) -> Path:
    """A model file path, or a zoo name."""
    path = Path(spec)
    if path.exists():
        return path
    if spec in zoo_names():
        return zoo_model_path(spec, zoo_dir)
    raise ConvflowError(f"{spec}: neither a model file nor a zoo model (zoo: {', '.join(zoo_names())})")


def zoo_of(model_path: Path):
    """(zoo name, data set) when ``model_path`` is a zoo export, else (None, None)."""
    try:
        from convflow.models.zoo import ZOO
    except ImportError:
        return None, None
    stem = model_path.stem
    if stem in ZOO:
        return stem, ZOO[stem].dataset
    return None, None


# --------------------------------------------------------------------------- inputs
def load_inputs(args, session) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Inputs for run/verify: an .npy/.npz file, a zoo model's test split, or seeded random integers."""
    if getattr(args, "input", None):
        path = Path(args.input)
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                x = data["x"]
                y = data["y"] if "y" in data.files else None
        else:
            x, y = np.load(path, allow_pickle=False), None
        return x[: args.count] if args.count else x, (y[: args.count] if (y is not None and args.count) else y), \
            f"from {path}"
    dataset = session.artifact.manifest.get("dataset")
    if dataset and not getattr(args, "random", False):
        from convflow.models.data import load_dataset

        _, _, x_test, y_test = load_dataset(dataset)
        n = args.count or len(x_test)
        return x_test[:n], y_test[:n], f"{dataset} test split"
    lo, hi = session.input_range
    rng = np.random.default_rng(args.seed)
    n = args.count or 1000
    x = rng.integers(lo, hi + 1, size=(n,) + tuple(session.input_tensor.shape), dtype=np.int64)
    return x, None, f"seeded random integers in [{lo}, {hi}], seed {args.seed}"


# --------------------------------------------------------------------------- commands
def cmd_train(args):
    from convflow.models.train import train

    record = train(args.model, str(args.out or DEFAULT_ZOO_DIR / args.model), epochs=args.epochs, seed=args.seed,
                   quick=args.quick)
    print(json.dumps(record, indent=1, default=str))


def cmd_compile(args):
    from convflow.compiler.compile import compile_model

    model = resolve_model(args.model, args.zoo_dir)
    folding = json.loads(Path(args.folding).read_text()) if args.folding else None
    float_input = None
    if args.input_bits or args.input_frac_bits is not None:
        float_input = {"bits": args.input_bits or 16, "signed": True,
                       "scale": 2.0 ** -(args.input_frac_bits if args.input_frac_bits is not None else 8)}
    out = compile_model(model, args.out, target_cycles=args.target_cycles, folding=folding, part=args.part,
                        float_input=float_input, dataset=zoo_of(model)[1])
    from convflow.runtime.artifact import Artifact

    artifact = Artifact.load(out)
    print(artifact.graph.summary())
    estimate = artifact.manifest.get("estimate")
    if estimate:
        print(f"estimate: {estimate.get('cycles_per_frame')} cycles/frame; "
              + ", ".join(f"{k}={v}" for k, v in estimate.get("totals", {}).items()))
    for note in artifact.manifest.get("notes", []):
        print(f"note: {note}")
    print(f"artifact written to {out}")


def cmd_run(args):
    from convflow.runtime.session import Session

    with Session(args.artifact, args.backend) as session:
        x, y, desc = load_inputs(args, session)
        ints = session.run(x)
        print(f"{args.backend}: {len(ints)} inputs ({desc})")
        if args.output:
            np.save(args.output, ints)
            print(f"integer outputs written to {args.output}")
        if ints.ndim == 2:
            pred = ints.argmax(axis=1)
            if y is not None:
                print(f"accuracy: {100 * np.mean(pred == y):.2f}%")
            for i in range(min(args.show, len(ints))):
                print(f"  #{i}: logits {ints[i].tolist()} -> class {pred[i]}")
        for k, v in session.stats.items():
            if np.isscalar(v):
                print(f"  {k}: {v}")


def cmd_verify(args):
    from convflow.compiler.compile import compile_model
    from convflow.runtime.session import Session
    from convflow.runtime.verify import report, verify

    model = Path(args.model)
    if (model / "manifest.json").is_file():
        out = model
    else:
        model = resolve_model(args.model, args.zoo_dir)
        out = compile_model(model, args.out, dataset=zoo_of(model)[1])
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    session = Session(out, "reference")
    x, y, desc = load_inputs(args, session)
    expected, results = verify(session.artifact, x, backends, labels=y)
    print(report(results, expected, desc))
    failed = [r.backend for r in results if not r.exact]
    if failed:
        print(f"verify FAILED: {', '.join(failed)} not bit-exact with the reference", file=sys.stderr)
        return 1
    print(f"verify passed: {', '.join(backends)} bit-exact on {len(expected)} inputs")
    return 0


def cmd_build(args):
    if args.flow == "vitis":
        from convflow.hw.flows.vitis import build
        result = build(args.artifact, part=args.part)
    else:
        from convflow.hw.flows.ecp5 import build
        result = build(args.artifact, board=None if args.device else args.board, device=args.device,
                       package=args.package, clock_mhz=args.clock_mhz, hard_clock=args.hard_clock, baud=args.baud)
    print(json.dumps(result, indent=1, default=str))


def cmd_demo(args):
    from convflow.runtime.demo import run_demo

    return run_demo(args.model, Path(args.out), quick=args.quick, bitstream=not args.no_bitstream,
                    count=args.count)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convflow", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a zoo model on its bundled data set and export it to QONNX")
    t.add_argument("model", help="zoo model name")
    t.add_argument("-o", "--out", type=Path, help="output directory (default build/zoo/<model>)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quick", action="store_true", help="a tiny training run (CI)")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("compile", help="compile a QONNX / QKeras model (or zoo name) into an artifact")
    c.add_argument("model", help="model.onnx, model.h5 / .keras, model.json (+ _weights.h5), or a zoo name")
    c.add_argument("-o", "--out", type=Path, required=True)
    c.add_argument("--target-cycles", type=int, help="cycles per frame to fold for (default: the input's pace)")
    c.add_argument("--folding", help="JSON file {layer name: [pe, simd]} overriding the automatic folding")
    c.add_argument("--part", default="xc7z020clg400-1", help="Xilinx part for the Vitis HLS project")
    c.add_argument("--input-bits", type=int, help="bits of the fixed-point input of a model with no input quantiser")
    c.add_argument("--input-frac-bits", type=int, help="fraction bits of that input (scale 2^-n)")
    c.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    c.set_defaults(func=cmd_compile)

    def add_input_args(sp):
        sp.add_argument("--input", help=".npy batch (integers or floats), or .npz with x (and y labels)")
        sp.add_argument("--count", type=int, help="number of inputs (default: all / 1000 random)")
        sp.add_argument("--random", action="store_true", help="seeded random integers even if a data set is known")
        sp.add_argument("--seed", type=int, default=0)

    r = sub.add_parser("run", help="run inputs through an artifact on one backend")
    r.add_argument("artifact", type=Path)
    r.add_argument("--backend", default="reference")
    r.add_argument("--output", help="write the integer outputs to this .npy")
    r.add_argument("--show", type=int, default=3, help="print this many outputs")
    add_input_args(r)
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("verify", help="compile and check backends bit-exact against the reference (exit 1 if not)")
    v.add_argument("model", help="model file, zoo name, or an artifact directory")
    v.add_argument("-o", "--out", type=Path, default=Path("build/verify"))
    v.add_argument("--backends", default="reference,qonnx")
    v.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR)
    add_input_args(v)
    v.set_defaults(func=cmd_verify)

    b = sub.add_parser("build", help="build a bitstream: open ECP5 flow (default) or the Vitis flow")
    b.add_argument("artifact", type=Path)
    b.add_argument("--flow", choices=["ecp5", "vitis"], default="ecp5")
    b.add_argument("--board", default="ulx3s-85f")
    b.add_argument("--device", help="bare ECP5 part, e.g. LFE5U-85F (no board pins)")
    b.add_argument("--package", help="package for --device (default CABGA381)")
    b.add_argument("--clock-mhz", type=float)
    b.add_argument("--hard-clock", action="store_true", help="fail if the clock is not met")
    b.add_argument("--baud", type=int, help="UART baud rate of the board top (default 115200)")
    b.add_argument("--part", help="Xilinx part (vitis flow)")
    b.set_defaults(func=cmd_build)

    d = sub.add_parser("demo", help="the quick start: train, export, compile, run every backend, build")
    d.add_argument("--model", default="cnn-digits")
    d.add_argument("-o", "--out", default="build/demo")
    d.add_argument("--quick", action="store_true", help="tiny training (CI)")
    d.add_argument("--no-bitstream", action="store_true")
    d.add_argument("--count", type=int, help="test inputs to run (default: the whole test split)")
    d.set_defaults(func=cmd_demo)
    return p


def user_errors() -> tuple:
    """Exceptions that mean "the user's input or environment is wrong" rather than a bug.  The zoo keeps its
    own classes (convflow.models imports nothing else of convflow)."""
    errors = [ConvflowError, FileNotFoundError]
    try:
        from convflow.models.data import DatasetError
        from convflow.models.export import ExportError
        from convflow.models.zoo import ZooError
        errors += [DatasetError, ExportError, ZooError]
    except ImportError:
        pass
    return tuple(errors)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except user_errors() as exc:
        print(f"convflow: error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
