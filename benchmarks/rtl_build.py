"""Per zoo model: the RTL design's cycles per frame (estimated and measured in rtlsim), Fmax and frames/s at Fmax,
LUT / FF / DSP (MULT18X18D) / EBR on a ULX3S 85F, and build times, from the real open tools.

Models are trained quickly here unless a trained copy is in --zoo-dir.  Prints a table and writes JSON.  Run:
    .venv/bin/python benchmarks/rtl_build.py [--models cnn-digits,mlp-mnist5k,lenet-fmnist] [--json OUT]
A LeNet place and route takes about 10 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ZOO_ORDER = ("cnn-digits", "mlp-mnist5k", "lenet-fmnist")


def measure(name: str, zoo_dir: Path, work: Path, frames: int) -> dict:
    from convflow.compiler.compile import compile_model
    from convflow.hw.flows.ecp5 import build
    from convflow.models.data import load_dataset
    from convflow.models.train import train
    from convflow.models.zoo import ZOO
    from convflow.runtime import Session

    model_dir = zoo_dir / name
    if not (model_dir / f"{name}.onnx").is_file():
        print(f"training {name} (quick) ...", flush=True)
        train(name, str(model_dir), quick=True, seed=0, progress=False)
    started = time.perf_counter()
    artifact = compile_model(model_dir / f"{name}.onnx", work / name)
    compile_s = time.perf_counter() - started
    estimate = Session(artifact).artifact.manifest["estimate"]

    _, _, x_test, _ = load_dataset(ZOO[name].dataset)
    with Session(artifact, "rtlsim") as rtl:
        got = rtl.run(x_test[:frames])
        stats = dict(rtl.stats)
    exact = bool(np.array_equal(got, Session(artifact).run(x_test[:frames])))

    report = build(artifact, board="ulx3s-85f")
    fmax = report["clock"]["fmax_mhz"]
    cycles = stats["cycles_per_frame"]
    res = report["resources"]
    return {
        "model": name, "rtlsim_bit_exact": exact, "frames": frames,
        "cycles_per_frame_measured": cycles, "cycles_per_frame_estimated": estimate["cycles_per_frame"],
        "latency_cycles": stats["latency_cycles"], "fmax_mhz": fmax,
        "frames_per_s_at_fmax": fmax * 1e6 / cycles if fmax else None,
        "lut4": res["LUT4"]["used"], "ff": res["FF"]["used"], "dsp": res["MULT18X18D"]["used"],
        "ebr": res["EBR"]["used"], "lut4_estimated": estimate["totals"]["lut"],
        "compile_s": round(compile_s, 2), "rtlsim_build_s": round(stats.get("build_seconds", 0.0), 2),
        "sim_cycles_per_s": stats.get("sim_cycles_per_second"), "bitstream_times_s": report["times_s"],
    }


def table(rows: list) -> str:
    head = (f"{'model':<14} {'exact':>5} {'cyc/frame':>10} {'(est)':>8} {'Fmax MHz':>9} {'frames/s':>10} "
            f"{'LUT4':>7} {'(est)':>7} {'FF':>6} {'DSP':>4} {'EBR':>4} {'synth s':>8} {'P&R s':>7}")
    lines = [head]
    for r in rows:
        t = r["bitstream_times_s"]
        lines.append(f"{r['model']:<14} {str(r['rtlsim_bit_exact']):>5} {r['cycles_per_frame_measured']:>10.0f} "
                     f"{r['cycles_per_frame_estimated']:>8} {r['fmax_mhz']:>9.1f} {r['frames_per_s_at_fmax']:>10,.0f} "
                     f"{r['lut4']:>7} {r['lut4_estimated']:>7} {r['ff']:>6} {r['dsp']:>4} {r['ebr']:>4} "
                     f"{t.get('synth', 0):>8.0f} {t.get('pnr', 0):>7.0f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from convflow.runtime.cli import quiet_third_parties

    quiet_third_parties()            # the quick zoo training's Keras warnings stay off the table
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(ZOO_ORDER))
    p.add_argument("--zoo-dir", type=Path, default=Path("build/zoo"))
    p.add_argument("--work", type=Path, default=Path("build/bench-rtl"))
    p.add_argument("--frames", type=int, default=200, help="test images run through rtlsim")
    p.add_argument("--json", type=Path, default=Path("build/bench-rtl/rtl_build.json"))
    args = p.parse_args(argv)
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        print(f"== {name}", flush=True)
        rows.append(measure(name, args.zoo_dir, args.work, args.frames))
        print(table(rows[-1:]), flush=True)
    print()
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": platform.platform(), "cpus": __import__("os").cpu_count(),
                                     "board": "ulx3s-85f", "rows": rows}, indent=1) + "\n")
    print(f"\nJSON written to {args.json}")
    return 0 if all(r["rtlsim_bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
