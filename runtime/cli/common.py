"""What several sub-commands share: zoo models by name, and the inputs of run / verify."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from convflow.hw.errors import ConvflowError

DEFAULT_ZOO_DIR = Path(os.environ.get("CONVFLOW_ZOO_DIR", "build/zoo"))


def output(args, text: str | None, data) -> None:
    """A command's result: ``data`` as one JSON document with --json, else ``text`` (lines for people)."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=1, default=_plain))
    elif text:
        print(text)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def zoo_names() -> list:
    from convflow.models.zoo import ZOO

    return sorted(ZOO)


def zoo_help() -> str:
    """The zoo's model names, for --help (importing the zoo stays light: no TensorFlow)."""
    try:
        return ", ".join(zoo_names())
    except ImportError:                       # pragma: no cover - the zoo ships with convflow
        return "none installed"


def backends_help() -> str:
    from convflow.runtime.backends import BACKEND_MODULES

    return ", ".join(BACKEND_MODULES)


def boards_help() -> str:
    from convflow.hw.flows import ecp5_board

    return ", ".join(ecp5_board.boards())


def add_zoo_dir_arg(parser) -> None:
    parser.add_argument("--zoo-dir", type=Path, default=DEFAULT_ZOO_DIR,
                        help="where zoo models are trained and looked up (default %(default)s; $CONVFLOW_ZOO_DIR)")


def zoo_model_path(name: str, zoo_dir: Path, quick: bool = False, epochs=None, seed: int = 0) -> Path:
    """The QONNX export of zoo model ``name`` under zoo_dir, training it first if it is not there yet."""
    onnx_path = zoo_dir / name / f"{name}.onnx"
    if not onnx_path.is_file():
        from .train import train_into

        from convflow.hw.console import notice

        notice(f"{name} is not trained in {zoo_dir}; training it now")
        train_into(name, zoo_dir / name, epochs=epochs, seed=seed, quick=quick)
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


def add_input_args(parser) -> None:
    from .options import positive_int, seed_int

    parser.add_argument("--input", help=".npy batch (integers or floats), or .npz with x (and y labels)")
    parser.add_argument("--dataset", choices=["test", "random"], default="test",
                        help="the model's test split (default, where it has one) or seeded random integers")
    parser.add_argument("--count", type=positive_int, help="number of inputs (default: all / 1000 random)")
    parser.add_argument("--random", action="store_true", help="same as --dataset random")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the random inputs (default %(default)s)")


def add_device_args(parser) -> None:
    """--port / --baud / --timeout for the device backend."""
    parser.add_argument("--port", help="serial port of the board for the device backend (/dev/ttyUSB0), or 'sim' "
                        "for the simulated board of this artifact")
    parser.add_argument("--baud", type=int, help="baud rate (default: the bitstream's, from bitstream/report.json)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds of silence before the link gives up (default %(default)s s)")


def add_sim_args(parser) -> None:
    """--sim-workers / --ray for the rtlsim backend: a batch split over simulator processes or Ray workers."""
    from .options import positive_int

    parser.add_argument("--sim-workers", type=positive_int,
                        help="rtlsim: simulator processes a batch is split over (default: one per usable core; "
                             "shares of at least 64 frames)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="rtlsim: run the batch's shares as Ray tasks on this cluster (ray.init(address=ADDRESS); "
                             "default: local processes)")


def backend_options(args) -> dict:
    """Per-backend options from the command line (the device backend's port, baud and time-out; rtlsim's split)."""
    options = {}
    device = {k: getattr(args, k) for k in ("port", "baud", "timeout") if getattr(args, k, None) is not None}
    if device:
        options["device"] = device
    rtlsim = {key: getattr(args, name) for key, name in (("workers", "sim_workers"), ("ray", "ray"))
              if getattr(args, name, None) is not None}
    if rtlsim:
        options["rtlsim"] = rtlsim
    return options


def load_inputs(args, session) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Inputs for run/verify: an .npy/.npz file, a zoo model's test split, or seeded random integers.  A file's
    batch is checked here (runtime/inputs.py), so that a bad one is named by its file."""
    from convflow.runtime.inputs import check_batch, load_input_file

    if getattr(args, "input", None):
        x, y = load_input_file(args.input, args.count)
        check_batch(session.graph, x, where=f"--input {args.input}")
        return x, y, f"from {args.input}"
    dataset = session.artifact.manifest.get("dataset")
    random = getattr(args, "random", False) or getattr(args, "dataset", "test") == "random"
    if dataset and not random:
        from convflow.models.data import load_dataset

        _, _, x_test, y_test = load_dataset(dataset)
        n = args.count or len(x_test)
        return x_test[:n], y_test[:n], f"{dataset} test split"
    lo, hi = session.input_range
    rng = np.random.default_rng(args.seed)
    n = args.count or 1000
    x = rng.integers(lo, hi + 1, size=(n,) + tuple(session.input_tensor.shape), dtype=np.int64)
    return x, None, f"seeded random integers in [{lo}, {hi}], seed {args.seed}"


def add_force_arg(parser, what: str = "-o") -> None:
    parser.add_argument("--force", action="store_true",
                        help=f"write {what} into a folder that holds other files (they are kept; only what convflow "
                             "wrote is ever replaced, never the input)")


def check_output(out, inputs=(), force: bool = False):
    """Refuse an unsafe -o before any work (hw/safe_output.py); the writer checks again when it publishes."""
    from convflow.hw.safe_output import ARTIFACT, OutputTarget

    return OutputTarget(out, ARTIFACT, inputs=inputs, force=force)
