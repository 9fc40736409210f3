"""Design-space sweeps (runtime/sweep.py, `convflow sweep`): every (board, frame rate) point compiled in parallel on a
local process pool and as Ray tasks on a local Ray instance, results streamed to JSON lines, an interrupted sweep
resumed, the Pareto front computed and plotted."""
import json
import subprocess
import sys

import onnx
import pytest

from qonnx_builders import conv_bn_model
from convflow.runtime.sweep import RESULTS, pareto_front, read_results, sweep

CLI = [sys.executable, "-m", "convflow.runtime.cli"]
BOARDS = ["ulx3s-12f", "ulx3s-85f"]
FPS = [2000.0, None]                      # a frame rate, and the fastest folding that fits


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "conv_bn.onnx"
    onnx.save(conv_bn_model(seed=3), str(path))
    return path


def comparable(records):
    """What a point's result is, whoever computed it (not where its artifact went)."""
    keep = ("key", "status", "cycles_per_frame", "fps", "resources", "folding", "config")
    return sorted(({k: r.get(k) for k in keep} for r in records), key=lambda r: r["key"])


def check_sweep(result, out):
    records = read_results(out / RESULTS)
    assert sorted(r["key"] for r in records) == sorted(f"{b}@{'fit' if f is None else f'{f:g}'}"
                                                       for b in BOARDS for f in FPS)
    for r in records:
        assert r["status"] == "compiled", r
        assert r["resources"]["LUT4"] > 0 and r["cycles_per_frame"] > 0
        if r["target_fps"] is not None:
            assert r["fps"] >= r["target_fps"]
    assert result["front"] and set(result["front"]) <= {r["key"] for r in records}
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "pareto.json").read_text())["front"] == result["front"]
    return records


def test_pool_sweep_streams_results_and_resumes(model, tmp_path):
    out = tmp_path / "pool"
    lines = []
    result = sweep(model, out, boards=BOARDS, fps=FPS, workers=2, progress=False, echo=lines.append)
    records = check_sweep(result, out)
    assert result["ran"] == 4 and len(lines) == 4 and all("cycles/frame" in line for line in lines)
    # the fastest design that fits the big board is at least as fast as the one that fits the small one
    fps = {r["key"]: r["fps"] for r in records}
    assert fps["ulx3s-85f@fit"] >= fps["ulx3s-12f@fit"] >= fps["ulx3s-12f@2000"]
    # started again: nothing to do
    again = sweep(model, out, boards=BOARDS, fps=FPS, workers=2, progress=False, echo=lines.append)
    assert again["ran"] == 0 and again["skipped"] == 4
    # interrupted: the last result lost and the one before it cut short mid-line -> those two run again
    text = (out / RESULTS).read_text().splitlines()
    (out / RESULTS).write_text("\n".join(text[:2]) + "\n" + text[2][: len(text[2]) // 2])
    resumed = sweep(model, out, boards=BOARDS, fps=FPS, workers=2, progress=False, echo=lines.append)
    assert resumed["ran"] == 2 and resumed["skipped"] == 2
    assert comparable(resumed["results"]) == comparable(records)


def test_ray_sweep_on_a_local_instance(model, tmp_path):
    ray = pytest.importorskip("ray")
    pool = sweep(model, tmp_path / "pool", boards=BOARDS, fps=FPS, workers=2, progress=False, echo=lambda s: None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        out = tmp_path / "ray"
        result = sweep(model, out, boards=BOARDS, fps=FPS, use_ray=True, progress=False, echo=lambda s: None)
    finally:
        ray.shutdown()
    check_sweep(result, out)
    assert comparable(result["results"]) == comparable(pool["results"])
    assert result["front"] == pool["front"]


def test_points_that_do_not_fit_are_results_too(model, tmp_path):
    result = sweep(model, tmp_path / "s", boards=["ulx3s-12f"], fps=[1e9], workers=1, progress=False,
                   echo=lambda s: None)
    (record,) = result["results"]
    assert record["status"] == "error" and "frames/s" in record["error"] and result["front"] == []


def test_pareto_front():
    def point(key, fps, lut, ebr=0):
        return {"key": key, "status": "compiled", "fps": fps,
                "resources": {"LUT4": lut, "FF": 1, "MULT18X18D": 0, "EBR": ebr}}
    records = [point("a", 100, 10), point("b", 200, 20), point("c", 150, 30), point("d", 200, 20),
               point("e", 300, 25, ebr=5), {"key": "f", "status": "does not fit"}]
    assert pareto_front(records) == ["a", "b", "e"]          # c is beaten by b; d equals b


def test_cli_sweep_errors_are_one_line(model, tmp_path):
    r = subprocess.run(CLI + ["sweep", str(model), "-o", str(tmp_path / "s"), "--fps", "fast"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("convflow: error: --fps 'fast'") and "Traceback" not in r.stderr
    r = subprocess.run(CLI + ["sweep", str(model), "-o", str(tmp_path / "s"), "--boards", "ulx3s-99f"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown board 'ulx3s-99f'" in r.stderr


@pytest.mark.bitstream
def test_pool_sweep_builds_bitstreams(model, tmp_path):
    """--build: each point a real bitstream; frames/s at the Fmax nextpnr reports (minutes)."""
    result = sweep(model, tmp_path / "b", boards=["ulx3s-12f"], fps=[None], build=True, workers=1, progress=False,
                   echo=lambda s: None)
    (record,) = result["results"]
    assert record["status"] == "built", record
    assert record["fmax_mhz"] > 0 and record["fps_at_fmax"] == pytest.approx(
        record["fmax_mhz"] * 1e6 / record["cycles_per_frame"], rel=1e-6)
    assert (tmp_path / "b" / "artifacts" / "ulx3s-12f-fit" / "bitstream" / "top.bit").is_file()
