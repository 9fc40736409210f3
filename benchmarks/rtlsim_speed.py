"""rtlsim speed per model: simulated cycles per second of one simulator process (per wall-clock and per CPU second),
images/s on one core and with the batch split over every usable core (one simulator process each), and the
measured cycles per frame and latency of both runs (they must agree) -- every output equal to the reference's.

Zoo models are trained quickly here unless --zoo-dir holds trained copies; Brevitas QONNX files (--brevitas) run
on random inputs.  --before JSON (an earlier run of this script, e.g. on the code before a change) adds the
ratios against it.  --instructions adds the instructions one simulated cycle takes (valgrind's callgrind: the
difference between a run of 4 frames and one of at least CALLGRIND_CYCLES cycles more, so loading the model and the
ROM files cancels out): unlike the wall clock it does not move with the load of a shared machine, so it is the number to
compare RTL or testbench changes by.  Prints a table and writes JSON.  Run:
    .venv/bin/python benchmarks/rtlsim_speed.py [--models cnn-digits,mlp-mnist5k,lenet-fmnist] [--frames 400]
        [--brevitas ../shared/models/brevitas/cnv_2w2a.onnx] [--before OLD.json] [--json OUT] [--instructions]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ZOO_ORDER = ("cnn-digits", "mlp-mnist5k", "lenet-fmnist")
CALLGRIND_CYCLES = 30_000          # --instructions: the longer run simulates at least this many cycles more


def zoo_inputs(name: str, zoo_dir: Path, frames: int):
    from convflow.models.data import load_dataset
    from convflow.models.train import train
    from convflow.models.zoo import ZOO

    model_dir = zoo_dir / name
    if not (model_dir / f"{name}.onnx").is_file():
        print(f"training {name} (quick) ...", flush=True)
        train(name, str(model_dir), quick=True, seed=0, progress=False)
    _, _, x_test, _ = load_dataset(ZOO[name].dataset)
    return model_dir / f"{name}.onnx", np.asarray(x_test[:frames], dtype=np.float32)


def instructions_per_cycle(session, ints, cycles_per_frame: float) -> float:
    """Instructions per simulated cycle of the session's simulator, steady state: callgrind's instruction count of
    a long run less that of a run of 4 frames, over the difference of their cycles."""
    backend = session.backend
    flat = np.ascontiguousarray(np.asarray(ints).astype(np.int64).reshape(len(ints), -1))
    counts = []
    with tempfile.TemporaryDirectory(prefix="cf_rtlsim_callgrind_") as tmp:
        tmp = Path(tmp)
        for frames in (4, 4 + max(20, int(CALLGRIND_CYCLES / max(cycles_per_frame, 1.0)) + 1)):
            rows = np.resize(flat, (frames, flat.shape[1]))          # repeats the batch where it is shorter
            job = backend._jobs(rows, [(0, frames)])[0]
            rows.tofile(tmp / "in.bin")
            run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(backend.exe),
                                  str(tmp / "in.bin"), str(tmp / "out.bin"), str(tmp / "stats.json"), *job.params],
                                 cwd=backend.entry.path, capture_output=True, text=True)
            found = re.search(r"Collected : (\d+)", run.stderr)
            if run.returncode != 0 or not found:
                raise RuntimeError(f"callgrind on {backend.exe} failed: {run.stderr.strip()[-300:]}")
            counts.append((int(found.group(1)), json.loads((tmp / "stats.json").read_text())["cycles"]))
    (i0, c0), (i1, c1) = counts
    return (i1 - i0) / (c1 - c0)


def measure(name: str, onnx_path: Path, x, work: Path, frames: int, instructions: bool = False) -> dict:
    from convflow.compiler.compile import compile_model
    from convflow.runtime import Session

    artifact = compile_model(onnx_path, work / name)
    reference = Session(artifact)
    if x is None:                                   # random integer inputs of the model's input type
        t = reference.input_tensor
        ints = np.random.default_rng(0).integers(t.dtype.min, t.dtype.max, size=(frames, *t.shape), endpoint=True)
    else:
        ints = reference.quantize_input(x)
    want = reference.run(ints)
    started = time.perf_counter()
    one = Session(artifact, "rtlsim", workers=1)
    build_s = time.perf_counter() - started
    got, wall = _timed(lambda: one.run(ints))
    s1 = dict(one.stats)
    row = {"model": name, "frames": len(ints), "build_s": round(build_s, 2),
           "cycles_per_frame": s1["cycles_per_frame"], "latency_cycles": s1["latency_cycles"],
           "total_cycles": s1["total_cycles"], "cycles_per_s": s1["sim_cycles_per_second"],
           "cycles_per_cpu_s": s1["sim_cycles_per_cpu_second"], "images_per_s_1": len(ints) / wall,
           "cycles_per_loop_s": s1.get("sim_loop_cycles_per_second"),
           "exact": bool(np.array_equal(got, want))}
    if instructions:
        row["instructions_per_cycle"] = instructions_per_cycle(one, ints, s1["cycles_per_frame"])
    cores = len(os.sched_getaffinity(0))
    every = Session(artifact, "rtlsim", workers=cores)
    got_all, wall_all = _timed(lambda: every.run(ints))
    s_all = every.stats
    row.update(workers=s_all.get("workers", cores), images_per_s_all=len(ints) / wall_all,
               exact_all=bool(np.array_equal(got_all, want)),
               cycles_per_frame_all=s_all["cycles_per_frame"], latency_cycles_all=s_all["latency_cycles"])
    return row


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def table(rows: list, before: dict) -> str:
    head = (f"{'model':<14} {'exact':>5} {'cyc/frame':>10} {'latency':>8} {'Mcyc/s':>7} {'Mcyc/cpu-s':>10} "
            f"{'Mcyc/s loop':>11} "
            f"{'img/s 1':>9} {'img/s all':>10} {'workers':>7} {'instr/cyc':>9} "
            f"{'x before (Mcyc/cpu-s, img/s all, instr/cyc)':>42}")
    lines = [head]
    for r in rows:
        old = before.get(r["model"])
        ratio = (f"{r['cycles_per_cpu_s'] / old['cycles_per_cpu_s']:.2f}x, "
                 f"{r['images_per_s_all'] / old['images_per_s_1']:.2f}x") if old else "-"
        if old and r.get("instructions_per_cycle") and old.get("instructions_per_cycle"):
            ratio += f", {r['instructions_per_cycle'] / old['instructions_per_cycle']:.2f}x"
        ipc = f"{r['instructions_per_cycle']:.0f}" if r.get("instructions_per_cycle") else "-"
        lines.append(f"{r['model']:<14} {str(r['exact'] and r['exact_all']):>5} {r['cycles_per_frame']:>10.1f} "
                     f"{r['latency_cycles']:>8} {r['cycles_per_s'] / 1e6:>7.2f} {r['cycles_per_cpu_s'] / 1e6:>10.2f} "
                     f"{(r.get('cycles_per_loop_s') or float('nan')) / 1e6:>11.2f} "
                     f"{r['images_per_s_1']:>9.0f} {r['images_per_s_all']:>10.0f} {r['workers']:>7} {ipc:>9} "
                     f"{ratio:>42}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from convflow.runtime.cli import quiet_third_parties

    quiet_third_parties()            # the quick zoo training's Keras warnings stay off the table
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(ZOO_ORDER))
    p.add_argument("--brevitas", default="", help="comma-separated QONNX files (random inputs)")
    p.add_argument("--zoo-dir", type=Path, default=Path("build/zoo"))
    p.add_argument("--work", type=Path, default=Path("build/bench_rtlsim"))
    p.add_argument("--frames", type=int, default=400)
    p.add_argument("--before", type=Path, default=None, help="an earlier run's JSON: ratios against it")
    p.add_argument("--json", type=Path, default=Path("build/bench_rtlsim.json"))
    p.add_argument("--instructions", action="store_true",
                   help="also count instructions per simulated cycle with valgrind's callgrind (load-independent)")
    args = p.parse_args(argv)
    if args.instructions and shutil.which("valgrind") is None:
        p.error("--instructions needs valgrind on PATH (apt-get install valgrind)")
    before = {}
    if args.before:
        before = {r["model"]: r for r in json.loads(args.before.read_text())["rows"]}
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        onnx_path, x = zoo_inputs(name, args.zoo_dir, args.frames)
        rows.append(measure(name, onnx_path, x, args.work, args.frames, args.instructions))
        print(table(rows[-1:], before), flush=True)
    for path in [Path(s.strip()) for s in args.brevitas.split(",") if s.strip()]:
        rows.append(measure(path.stem, path, None, args.work, args.frames, args.instructions))
        print(table(rows[-1:], before), flush=True)
    print(f"\n{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} usable CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(table(rows, before))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": platform.platform(), "cpus": len(os.sched_getaffinity(0)),
                                     "load_average": os.getloadavg()[0], "python": sys.version.split()[0],
                                     "rows": rows}, indent=1) + "\n")
    print(f"\nJSON written to {args.json}")
    return 0 if all(r["exact"] and r["exact_all"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
