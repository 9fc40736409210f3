"""Training the zoo models: ``train(name, out_dir, ...)`` writes ``<name>.h5``, ``<name>.onnx`` and ``<name>.json``.

Reproducible: python, numpy and TensorFlow are seeded and TensorFlow's ops are made deterministic, so the same
seed on the same software stack gives the same weights. TensorFlow/QKeras are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import platform
import time

# TensorFlow reads this when it is imported (inside the functions below): its C++ start-up lines stay quiet
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from .data import dataset_input_grid, load_dataset
from .zoo import get_spec


def _set_seeds(seed: int):
    import random

    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)  # python, numpy and tf in one call (belt and braces above)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - older TF
        pass


def _EpochBar(name: str, epochs: int, keras):
    """A Keras callback driving one tqdm bar (on stderr) over the epochs, with the loss and accuracy; like every
    convflow bar, shown on a terminal (or with CONVFLOW_PROGRESS=1)."""
    import sys

    from tqdm import tqdm

    shown = os.environ.get("CONVFLOW_PROGRESS") == "1" or sys.stderr.isatty()

    class EpochBar(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar = tqdm(total=epochs, desc=f"train {name}", unit="epoch", file=sys.stderr, leave=False,
                            disable=not shown)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.3f}",
                                 acc=f"{logs.get('accuracy', float('nan')):.3f}")
            self.bar.update()

        def close(self):
            self.bar.close()

    return EpochBar()


def _custom_objects():
    from qkeras.utils import _add_supported_quantized_objects

    objs = {}
    _add_supported_quantized_objects(objs)
    return objs


def load_qkeras(path: str):
    """Load a zoo ``.h5`` QKeras model (uncompiled: ready for inference and export)."""
    from tensorflow import keras

    return keras.models.load_model(path, custom_objects=_custom_objects(), compile=False)


def predict_logits(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Pre-softmax outputs of the QKeras model on ``x`` (zoo models end in linear logits), float32, batched."""
    x = np.asarray(x, dtype=np.float32)
    outs = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs, axis=0).astype(np.float32) if outs else np.zeros((0,), np.float32)


def accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(predict_logits(model, x), axis=1) == y))


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "qkeras", "qonnx", "onnx", "tf2onnx", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def train(name: str, out_dir: str, epochs: int | None = None, seed: int = 0, quick: bool = False,
          progress: bool = True) -> dict:
    """Train zoo model ``name``; write ``<name>.h5``, ``<name>.onnx``, ``<name>.json`` into ``out_dir``.

    ``epochs`` overrides the zoo's default; ``quick`` trains a tiny run (few epochs, maybe a data subset) for CI.
    Returns the record that is written to ``<name>.json``; ``test_accuracy`` is measured with the QKeras model
    on the data set's full test split.
    """
    spec = get_spec(name)
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    x_train, y_train, x_test, y_test = load_dataset(spec.dataset)
    if quick and spec.quick_samples:
        x_train, y_train = x_train[:spec.quick_samples], y_train[:spec.quick_samples]
    n_epochs = int(epochs) if epochs is not None else (spec.quick_epochs if quick else spec.epochs)

    _set_seeds(seed)
    import tensorflow as tf
    from tensorflow import keras

    model = spec.builder()
    steps = max(1, -(-len(x_train) // spec.batch_size) * n_epochs)
    lr = keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    t_fit = time.time()
    # one progress bar for the whole training instead of Keras's lines per epoch
    callbacks = [_EpochBar(name, n_epochs, keras)] if progress else []
    history = model.fit(x_train, y_train, batch_size=spec.batch_size, epochs=n_epochs, shuffle=True, verbose=0,
                        callbacks=callbacks)
    for cb in callbacks:
        cb.close()
    fit_s = time.time() - t_fit
    test_acc = accuracy(model, x_test, y_test)

    from .export import describe_onnx, export_qonnx

    stem = os.path.join(out_dir, name)
    model.save(stem + ".h5", include_optimizer=False)
    proto = export_qonnx(model, stem + ".onnx", name=name)
    grid = dataset_input_grid(spec.dataset)
    record = {
        "model": name,
        "dataset": spec.dataset,
        "description": spec.description,
        "epochs": n_epochs,
        "quick": bool(quick),
        "seed": int(seed),
        "batch_size": spec.batch_size,
        "learning_rate": spec.learning_rate,
        "n_train": int(len(x_train)),
        "n_test": int(len(x_test)),
        "test_accuracy": test_acc,
        "train_accuracy_last_epoch": float(history.history["accuracy"][-1]) if n_epochs > 0 else None,
        "train_time_s": round(fit_s, 3),
        "time_per_epoch_s": round(fit_s / n_epochs, 3) if n_epochs > 0 else None,
        "total_time_s": round(time.time() - t0, 3),
        "input_shape": list(spec.input_shape),
        "input_grid": grid,
        "output_shape": [int(d) for d in model.output_shape[1:]],
        "n_params": int(model.count_params()),
        "onnx_nodes": [n["op_type"] for n in describe_onnx(proto)],
        "files": {"qkeras": name + ".h5", "qonnx": name + ".onnx"},
        "tf_threads": {"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter": tf.config.threading.get_inter_op_parallelism_threads()},
        "versions": _versions(),
    }
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    return record
