"""convflow csim vs hls4ml's C simulation on the same QKeras ConvNet.

For one zoo model (trained quickly here if no trained copy is given) and N test images:

* convflow: compile_model(QONNX export) -> Session(backend="csim") -- time to the first batch's result (compile +
  g++ + one image), then images/s over N images on one thread (and on all usable CPUs); outputs compared with the
  QKeras logits.
* hls4ml 1.3: config_from_keras_model + convert_from_keras_model(io_type="io_stream", backend="Vitis") +
  compile() + predict() -- the same two times; outputs compared with the QKeras logits (exact matches, max |error|).

Prints a table and writes JSON with the ratios.  Run:
    python benchmarks/csim_vs_hls4ml.py --model lenet-fmnist --images 1000 [--zoo-dir DIR] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def trained_model(name: str, zoo_dir: Path) -> Path:
    from convflow.models.train import train

    if not (zoo_dir / f"{name}.h5").is_file() or not (zoo_dir / f"{name}.onnx").is_file():
        print(f"training {name} (quick) into {zoo_dir} ...", flush=True)
        train(name, str(zoo_dir), quick=True, seed=0, progress=False)
    return zoo_dir


def compare(outputs: np.ndarray, logits: np.ndarray) -> dict:
    outputs = np.asarray(outputs, dtype=np.float64).reshape(logits.shape)
    diff = np.abs(outputs - logits)
    return {"exact_images": int(np.all(diff == 0, axis=1).sum()), "images": int(len(logits)),
            "max_abs_error": float(diff.max()),
            "argmax_agreement": float(np.mean(outputs.argmax(1) == logits.argmax(1)))}


def run_convflow(onnx_path: Path, work: Path, x: np.ndarray, logits: np.ndarray) -> dict:
    from convflow.compiler.compile import compile_model
    from convflow.runtime import Session

    start = time.perf_counter()
    artifact = compile_model(onnx_path, work / "convflow", emit_rtl=False)
    session = Session(artifact, backend="csim", cache_dir=work / "convflow_cache", threads=1)
    first = session.run(x[:1])
    first_s = time.perf_counter() - start
    compile_s = session.stats["compile_s"]
    ints, run_s = _timed(lambda: session.run(x))           # one thread, as hls4ml's predict
    session.close()
    threads = Session(artifact, backend="csim", cache_dir=work / "convflow_cache")
    ints_threads, threads_s = _timed(lambda: threads.run(x))
    assert np.array_equal(ints, ints_threads)
    out = ints.astype(np.float64) * session.output_tensor.scale + session.output_tensor.offset
    result = {"compile_and_first_image_s": first_s, "gxx_compile_s": compile_s, "images_per_s": len(x) / run_s,
              "threads": threads.backend.threads, "images_per_s_all_threads": len(x) / threads_s,
              **compare(out, logits)}
    # the integer contract: logits == scale * ints exactly
    result["first_image_consistent"] = bool(np.array_equal(first, ints[:1]))
    return result


def _rename_input_layer(keras_model):
    """hls4ml reserves the layer name 'input' (the zoo's input layer is called that): the same model, same weights,
    with that layer renamed."""
    from tensorflow import keras

    from convflow.models.train import _custom_objects

    text = keras_model.to_json().replace('"input"', '"model_input"')
    clone = keras.models.model_from_json(text, custom_objects=_custom_objects())
    clone.set_weights(keras_model.get_weights())
    return clone


def run_hls4ml(keras_model, work: Path, x: np.ndarray, logits: np.ndarray) -> dict:
    import hls4ml

    keras_model = _rename_input_layer(keras_model)
    start = time.perf_counter()
    config = hls4ml.utils.config_from_keras_model(keras_model, granularity="name", backend="Vitis")
    model = hls4ml.converters.convert_from_keras_model(keras_model, hls_config=config, io_type="io_stream",
                                                       backend="Vitis", output_dir=str(work / "hls4ml"),
                                                       project_name="bench")
    model.compile()
    model.predict(np.ascontiguousarray(x[:1]))
    first_s = time.perf_counter() - start
    y, run_s = _timed(lambda: model.predict(np.ascontiguousarray(x)))
    return {"compile_and_first_image_s": first_s, "images_per_s": len(x) / run_s, **compare(y, logits),
            "hls4ml_version": hls4ml.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-fmnist")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--zoo-dir", type=Path, default=None, help="a trained zoo model (<model>.h5/.onnx)")
    parser.add_argument("--work", type=Path, default=Path("build/bench_csim_vs_hls4ml"))
    parser.add_argument("--json", type=Path, default=Path("build/bench_csim_vs_hls4ml.json"))
    args = parser.parse_args(argv)

    from convflow.models.data import load_dataset
    from convflow.models.train import load_qkeras, predict_logits
    from convflow.models.zoo import get_spec

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    zoo_dir = trained_model(args.model, args.zoo_dir or work / "zoo")
    keras_model = load_qkeras(str(zoo_dir / f"{args.model}.h5"))
    _, _, x_test, _ = load_dataset(get_spec(args.model).dataset)
    x = np.ascontiguousarray(x_test[:args.images], dtype=np.float32)
    logits = predict_logits(keras_model, x).astype(np.float64)

    ours = run_convflow(zoo_dir / f"{args.model}.onnx", work, x, logits)
    theirs = run_hls4ml(keras_model, work, x, logits)
    ratios = {
        "compile_and_first_image_speedup": theirs["compile_and_first_image_s"] / ours["compile_and_first_image_s"],
        "throughput_ratio": ours["images_per_s"] / theirs["images_per_s"],
    }
    rows = [("", "convflow csim", "hls4ml (io_stream, Vitis)"),
            ("compile + first image [s]", f"{ours['compile_and_first_image_s']:.1f}",
             f"{theirs['compile_and_first_image_s']:.1f}"),
            ("images / s (1 thread)", f"{ours['images_per_s']:.0f}", f"{theirs['images_per_s']:.0f}"),
            (f"images / s ({ours['threads']} threads)", f"{ours['images_per_s_all_threads']:.0f}", "-"),
            ("images equal to QKeras", f"{ours['exact_images']}/{ours['images']}",
             f"{theirs['exact_images']}/{theirs['images']}"),
            ("max |logit error|", f"{ours['max_abs_error']:.3g}", f"{theirs['max_abs_error']:.3g}"),
            ("argmax agreement", f"{ours['argmax_agreement']:.3f}", f"{theirs['argmax_agreement']:.3f}")]
    print(f"\n{args.model}, {len(x)} test images, {platform.processor() or platform.machine()}")
    for row in rows:
        print(f"  {row[0]:<28}{row[1]:>16}{row[2]:>28}")
    print(f"  ratios: compile+first {ratios['compile_and_first_image_speedup']:.2f}x faster, "
          f"throughput {ratios['throughput_ratio']:.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": args.model, "images": len(x), "convflow": ours, "hls4ml": theirs,
                                     "ratios": ratios, "python": sys.version.split()[0]}, indent=1) + "\n")
    print(f"  written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
