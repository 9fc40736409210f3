"""convflow csim vs hls4ml's C simulation on the same QKeras ConvNet.

For each zoo ConvNet (default lenet-fmnist and cnn-digits; trained quickly here unless --zoo-dir holds trained
copies) and N test images:

* convflow: compile_model(QONNX export; HLS and RTL, as `convflow compile`) -> Session(backend="csim") -- time to
  the first batch's result (compile + g++ + one image), then images/s over N images on one thread (and on all
  usable CPUs); outputs compared with the QKeras logits.  Timed twice: "cold", on a machine that has never run csim
  (the precompiled ap_int header is made during that build), and "warm", a new artifact and library cache but the
  precompiled header already there (every later build on the machine).
* hls4ml 1.3: config_from_keras_model + convert_from_keras_model(io_type="io_stream", backend="Vitis") +
  compile() + predict() -- the same two times; outputs compared with the QKeras logits (exact matches, max |error|).

Brevitas models (default ../shared/models/brevitas/cnv_2w2a.onnx, FINN's CNV): hls4ml cannot convert them, so
convflow is compared with itself -- the C-simulation bodies of the stages (hw/hls/cf_csim.h, the default) against
the bodies Vitis synthesises run in C simulation (hls_bodies=True, what csim ran before those bodies existed) --
on random inputs, both bit-exact with the reference backend.

Prints a table and writes JSON with the ratios.  Run:
    python benchmarks/csim_vs_hls4ml.py [--models lenet-fmnist,cnn-digits] [--images 1000] [--zoo-dir DIR]
        [--brevitas ../shared/models/brevitas/cnv_2w2a.onnx] [--brevitas-images 200] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
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
    artifact = compile_model(onnx_path, work / "artifact")
    session = Session(artifact, backend="csim", cache_dir=work / "library_cache", threads=1)
    first = session.run(x[:1])
    first_s = time.perf_counter() - start
    stats = dict(session.stats)
    ints, run_s = _timed(lambda: session.run(x))           # one thread, as hls4ml's predict
    session.close()
    threads = Session(artifact, backend="csim", cache_dir=work / "library_cache")
    ints_threads, threads_s = _timed(lambda: threads.run(x))
    assert np.array_equal(ints, ints_threads)
    out = ints.astype(np.float64) * session.output_tensor.scale + session.output_tensor.offset
    result = {"compile_and_first_image_s": first_s, "gxx_compile_s": stats["compile_s"],
              "precompiled_header": stats.get("pch"), "images_per_s": len(x) / run_s,
              "threads": threads.backend.threads, "images_per_s_all_threads": len(x) / threads_s,
              **compare(out, logits)}
    # the integer contract: logits == scale * ints exactly
    result["first_image_consistent"] = bool(np.array_equal(first, ints[:1]))
    return result


def finish_header() -> None:
    """The cold build returns without waiting for the precompiled header it started (runtime/backends/csim_pch.py);
    "warm" is a machine where it is made, so it is finished here, untimed."""
    from convflow.runtime.backends import csim_pch

    csim_pch.finish_pending()


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


def bench_model(name: str, zoo_dir: Path, work: Path, n_images: int) -> dict:
    from convflow.models.data import load_dataset
    from convflow.models.train import load_qkeras, predict_logits
    from convflow.models.zoo import get_spec

    zoo_dir = trained_model(name, zoo_dir)
    keras_model = load_qkeras(str(zoo_dir / f"{name}.h5"))
    _, _, x_test, _ = load_dataset(get_spec(name).dataset)
    x = np.ascontiguousarray(x_test[:n_images], dtype=np.float32)
    logits = predict_logits(keras_model, x).astype(np.float64)

    # cold: a cache that has never seen csim (the precompiled header is made during the build); warm: the same
    # cache, a new artifact and library cache
    os.environ["CONVFLOW_CACHE"] = str(work / "convflow_user_cache")
    cold = run_convflow(zoo_dir / f"{name}.onnx", work / "convflow_cold", x, logits)
    finish_header()
    warm = run_convflow(zoo_dir / f"{name}.onnx", work / "convflow_warm", x, logits)
    theirs = run_hls4ml(keras_model, work, x, logits)
    ratios = {
        "compile_and_first_image_speedup_cold": theirs["compile_and_first_image_s"] / cold["compile_and_first_image_s"],
        "compile_and_first_image_speedup_warm": theirs["compile_and_first_image_s"] / warm["compile_and_first_image_s"],
        "throughput_ratio": warm["images_per_s"] / theirs["images_per_s"],
    }
    rows = [("", "convflow cold", "convflow warm", "hls4ml (io_stream, Vitis)"),
            ("compile + first image [s]", *(f"{r['compile_and_first_image_s']:.1f}" for r in (cold, warm, theirs))),
            ("  of which g++ [s]", f"{cold['gxx_compile_s']:.1f}", f"{warm['gxx_compile_s']:.1f}", "-"),
            ("  precompiled ap_int header", cold["precompiled_header"], warm["precompiled_header"], "-"),
            ("images / s (1 thread)", *(f"{r['images_per_s']:.0f}" for r in (cold, warm, theirs))),
            (f"images / s ({warm['threads']} threads)", f"{cold['images_per_s_all_threads']:.0f}",
             f"{warm['images_per_s_all_threads']:.0f}", "-"),
            ("images equal to QKeras", *(f"{r['exact_images']}/{r['images']}" for r in (cold, warm, theirs))),
            ("max |logit error|", *(f"{r['max_abs_error']:.3g}" for r in (cold, warm, theirs))),
            ("argmax agreement", *(f"{r['argmax_agreement']:.3f}" for r in (cold, warm, theirs)))]
    print(f"\n{name}, {len(x)} test images, {platform.processor() or platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} CPUs")
    for row in rows:
        print(f"  {row[0]:<30}{row[1]:>15}{row[2]:>15}{row[3]:>28}")
    print(f"  compile + first image: {ratios['compile_and_first_image_speedup_cold']:.2f}x faster than hls4ml cold, "
          f"{ratios['compile_and_first_image_speedup_warm']:.2f}x warm; "
          f"throughput {ratios['throughput_ratio']:.2f}x on one thread")
    return {"images": len(x), "convflow_cold": cold, "convflow_warm": warm, "hls4ml": theirs, "ratios": ratios}


def bench_brevitas(onnx_path: Path, work: Path, n_images: int, n_hls_bodies: int) -> dict:
    """convflow's csim of a model hls4ml cannot run: time to the first result (cold and warm, as above) and
    images/s of the C-simulation bodies against the synthesised bodies, every output equal to the reference's."""
    from convflow.compiler.compile import compile_model
    from convflow.runtime import Session

    os.environ["CONVFLOW_CACHE"] = str(work / "convflow_user_cache")
    results = {}
    for label in ("cold", "warm"):
        start = time.perf_counter()
        artifact = compile_model(onnx_path, work / label / "artifact")
        session = Session(artifact, backend="csim", cache_dir=work / label / "library_cache", threads=1)
        t = session.input_tensor
        x = np.random.default_rng(0).integers(t.dtype.min, t.dtype.max, size=(n_images, *t.shape), endpoint=True)
        first = session.run(x[:1])
        results[label] = {"compile_and_first_image_s": time.perf_counter() - start,
                          "gxx_compile_s": session.stats["compile_s"], "precompiled_header": session.stats.get("pch")}
        finish_header()
    ints, run_s = _timed(lambda: session.run(x))
    want = Session(artifact, backend="reference").run(x)
    slow = Session(artifact, backend="csim", cache_dir=work / "hls_bodies_cache", threads=1, hls_bodies=True)
    slow_ints, slow_s = _timed(lambda: slow.run(x[:n_hls_bodies]))
    result = {**results, "images": n_images, "images_per_s": n_images / run_s,
              "exact_images": int(np.all((ints == want).reshape(n_images, -1), axis=1).sum()),
              "first_image_consistent": bool(np.array_equal(first, ints[:1])),
              "hls_bodies_images": n_hls_bodies, "hls_bodies_images_per_s": n_hls_bodies / slow_s,
              "hls_bodies_exact_images": int(np.all((slow_ints == want[:n_hls_bodies]).reshape(n_hls_bodies, -1),
                                                    axis=1).sum())}
    result["ratios"] = {"throughput_vs_hls_bodies": result["images_per_s"] / result["hls_bodies_images_per_s"]}
    print(f"\n{onnx_path.stem} (Brevitas; hls4ml cannot convert it), random inputs, 1 thread")
    print(f"  compile + first image [s]     cold {results['cold']['compile_and_first_image_s']:.1f} "
          f"(g++ {results['cold']['gxx_compile_s']:.1f}, header {results['cold']['precompiled_header']}), "
          f"warm {results['warm']['compile_and_first_image_s']:.1f} (g++ {results['warm']['gxx_compile_s']:.1f})")
    print(f"  images / s, csim bodies       {result['images_per_s']:.1f}  "
          f"({result['exact_images']}/{n_images} equal to the reference)")
    print(f"  images / s, synthesised bodies {result['hls_bodies_images_per_s']:.2f}  "
          f"({result['hls_bodies_exact_images']}/{n_hls_bodies} equal to the reference)")
    print(f"  throughput {result['ratios']['throughput_vs_hls_bodies']:.1f}x the synthesised bodies")
    return result


def main(argv=None) -> int:
    from convflow.runtime.cli import quiet_third_parties

    quiet_third_parties()            # the quick zoo training's Keras warnings stay off the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet-fmnist,cnn-digits", help="comma-separated zoo ConvNets")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--zoo-dir", type=Path, default=None, help="trained zoo models (<model>.h5/.onnx)")
    parser.add_argument("--brevitas", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "models"
                                                  / "brevitas" / "cnv_2w2a.onnx"),
                        help="comma-separated QONNX files hls4ml cannot run ('' for none)")
    parser.add_argument("--brevitas-images", type=int, default=200)
    parser.add_argument("--hls-bodies-images", type=int, default=10, help="images for the (slow) synthesised bodies")
    parser.add_argument("--work", type=Path, default=Path("build/bench_csim_vs_hls4ml"))
    parser.add_argument("--json", type=Path, default=Path("build/bench_csim_vs_hls4ml.json"))
    args = parser.parse_args(argv)

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    results = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        results[name] = bench_model(name, args.zoo_dir or args.work / "zoo", args.work / name, args.images)
    for path in [Path(p.strip()) for p in args.brevitas.split(",") if p.strip()]:
        results[path.stem] = bench_brevitas(path, args.work / path.stem, args.brevitas_images,
                                            args.hls_bodies_images)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"models": results, "python": sys.version.split()[0],
                                     "cpus": len(os.sched_getaffinity(0))}, indent=1) + "\n")
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
