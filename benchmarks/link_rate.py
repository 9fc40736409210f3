"""How close the pipelined UART link (protocol 2) comes to line rate, measured on the simulated board in simulated time.

For each model the device backend (the same host code as on a board) sends N frames to the artifact's own board top
(cf_board_top + cf_accel, UART included) under Verilator, whose clock runs freely (also while the host is slow, so
the host's turn-around shows up as idle line time), once stop-and-wait (window 1) and once pipelined (the board's
window).  From the harness's own cycle counts:

    line efficiency = frames/s x INFER frame bytes / (baud / 10),  in simulated time
                    = frames x frame bytes x 10 x CLKS_PER_BIT / (cycles from the first INFER byte in to the last
                      RESULT byte out)

(frame bytes: the whole INFER frame on the line, 9 bytes of header and CRC included; "goodput" counts only the
payload).  Prints a table and writes JSON.  Run:
    .venv/bin/python benchmarks/link_rate.py [--frames 300] [--models tfc,jet,cnn-digits] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
MODELS = {"tfc": SHARED / "qonnx-zoo" / "TFC" / "TFC_2W2A.onnx",
          "jet": SHARED / "qonnx-zoo" / "JetTagging" / "qkeras_jettagging.onnx",
          "cnn-digits": None}                         # a zoo model: trained quickly into --zoo-dir if not there


def artifact_for(name: str, work: Path, zoo_dir: Path) -> Path:
    from convflow.compiler.compile import compile_model

    source = MODELS[name]
    if source is None:
        from convflow.models.train import train

        source = zoo_dir / name / f"{name}.onnx"
        if not source.is_file():
            print(f"training {name} (quick) ...", flush=True)
            train(name, str(zoo_dir / name), quick=True, seed=0, progress=False)
    return compile_model(source, work / name, name=name)


def measure(artifact: Path, frames: int, window: int | None) -> dict:
    from convflow.runtime import Session
    from convflow.runtime.board_sim import SIM_CLKS_PER_BIT, SimBoard

    reference = Session(artifact)
    lo, hi = reference.input_range
    x = np.random.default_rng(0).integers(lo, hi + 1, size=(frames,) + tuple(reference.input_tensor.shape))
    expected = reference.run(x)
    board = SimBoard(artifact, free_running=True)
    board.start()
    try:
        with Session(artifact, "device", port=board.port, window=window) as session:
            board.reset_stats()                       # count from the first INFER byte, not the INFO
            time.sleep(0.05)
            t0 = time.perf_counter()
            got = session.run(x)
            wall = time.perf_counter() - t0
            stats, info = dict(session.stats), session.backend.info
    finally:
        sim = board.stop()
    assert np.array_equal(got, expected), "the device backend differs from the reference"
    cycles = sim["last_out_cycle"] - sim["first_in_cycle"]
    frame_bytes = info.infer_frame_bytes
    line = frames * frame_bytes * 10 * SIM_CLKS_PER_BIT / cycles
    return {"window": window or info.window, "frames": frames, "frame_bytes": frame_bytes,
            "payload_bytes": frame_bytes - 9, "result_bytes": info.result_frame_bytes,
            "sim_cycles": cycles, "clks_per_bit": SIM_CLKS_PER_BIT,
            "line_efficiency": line, "goodput_efficiency": line * (frame_bytes - 9) / frame_bytes,
            "rx_line_busy": sim["line_busy_cycles"] / max(1, sim["last_in_cycle"] - sim["first_in_cycle"]),
            "bytes_in": sim["bytes_in"], "bytes_out": sim["bytes_out"],
            "frames_per_second_at_25mhz": frames / (cycles / 25e6),
            "onchip_latency_cycles": stats["latency_cycles"], "resent": stats["resent"],
            "wall_seconds": wall, "sim_cycles_per_second": sim["cycles"] / max(wall, 1e-9)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--zoo-dir", type=Path, default=Path("build/zoo"))
    p.add_argument("--work", type=Path, default=Path("build/bench-link"))
    p.add_argument("--json", type=Path, default=Path("build/bench-link/link_rate.json"))
    args = p.parse_args()
    from convflow.hw.console import set_quiet
    from convflow.runtime.cli import quiet_third_parties

    set_quiet(True)
    quiet_third_parties()
    rows = []
    for name in args.models.split(","):
        artifact = artifact_for(name, args.work, args.zoo_dir)
        for window in (1, None):
            row = {"model": name, **measure(artifact, args.frames, window)}
            rows.append(row)
            print(f"{name:<11} window {row['window']}: {row['frames']} frames of {row['frame_bytes']} B, "
                  f"{row['sim_cycles']:,} simulated cycles, line efficiency {100 * row['line_efficiency']:.1f} %",
                  flush=True)
    print(f"\n{'model':<11} {'window':>6} {'frame B':>8} {'frames':>7} {'sim cycles':>12} {'line eff.':>10} "
          f"{'goodput':>8} {'rx busy':>8} {'frames/s @25MHz':>16} {'resent':>7}")
    for r in rows:
        print(f"{r['model']:<11} {r['window']:>6} {r['frame_bytes']:>8} {r['frames']:>7} {r['sim_cycles']:>12,} "
              f"{100 * r['line_efficiency']:>9.1f}% {100 * r['goodput_efficiency']:>7.1f}% "
              f"{100 * r['rx_line_busy']:>7.1f}% {r['frames_per_second_at_25mhz']:>16,.0f} {r['resent']:>7}")
    print("(simulated UART: 8 clocks per bit, i.e. 3.125 Mbaud at 25 MHz; line efficiency = frames/s x INFER frame "
          "bytes / (baud/10))")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                     "rows": rows}, indent=1) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
