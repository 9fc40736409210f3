"""The cycle / resource estimator: formulas on hand-built graphs, and measured cycles per frame (Verilator)
within 5% of the estimate's slowest stage."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "rtl"))
from rtl_graphs import GraphBuilder, artifact_for, lenet, random_inputs  # noqa: E402

from convflow.compiler.dataflow.memory import memory_cost  # noqa: E402
from convflow.compiler.estimate import estimate  # noqa: E402
from convflow.compiler.ir.graph import IntType  # noqa: E402


def test_cycles_follow_the_folding():
    base = estimate(lenet())
    conv1 = next(l for l in base["layers"] if l["name"] == "conv1")
    conv2 = next(l for l in base["layers"] if l["name"] == "conv2")
    assert conv1["cycles"] == 28 * 28 * 9 * 1 * 6          # OH*OW * (K*K*Cin/SIMD) * (Cout/PE)
    assert conv2["cycles"] == 14 * 14 * 9 * 6 * 8
    assert base["cycles_per_frame"] == conv2["cycles"] and base["bottleneck"] == "conv2"
    folded = estimate(lenet(pe=(2, 4, 2), simd=(1, 2, 8)))
    assert next(l for l in folded["layers"] if l["name"] == "conv2")["cycles"] == conv2["cycles"] // 8
    assert folded["cycles_per_frame"] == 28 * 28 * 9 * 6 // 2 and folded["bottleneck"] == "conv1"
    assert folded["fps"] == pytest.approx(100e6 / folded["cycles_per_frame"])


def test_resources_grow_with_parallelism_and_dsp_only_for_wide_products():
    narrow = estimate(lenet())
    wide = estimate(lenet(pe=(6, 8, 10), simd=(1, 6, 8)))
    assert wide["totals"]["lut"] > narrow["totals"]["lut"]
    assert narrow["totals"]["dsp"] == 0                       # 3-bit weights: LUT multipliers
    b = GraphBuilder("wide", (16,), IntType(8, True))
    b.dense(8, pe=4, simd=2, wbits=8)
    e = estimate(b.graph())
    assert e["totals"]["dsp"] == 8
    for layer in e["layers"]:
        assert all(layer[k] >= 0 for k in ("lut", "ff", "dsp", "bram"))


def test_memory_cost():
    assert memory_cost(16, 8) == {"lut": 8, "bram": 0}
    assert memory_cost(1024, 18)["bram"] == 1
    assert memory_cost(1024, 36)["bram"] == 2
    assert memory_cost(4096, 4)["bram"] == 1


def test_measured_cycles_per_frame_match_estimate(tmp_path):
    """LeNet-size (28x28) conv net: Verilator's steady-state initiation interval within 5% of the estimate."""
    rtlsim = pytest.importorskip("convflow.runtime.backends.rtlsim")
    try:
        rtlsim.find_verilator()
    except Exception as exc:
        pytest.skip(str(exc))
    graph = lenet(pe=(2, 4, 2), simd=(1, 2, 8))
    backend = rtlsim.RtlsimBackend(artifact_for(graph, tmp_path))
    backend.run(random_inputs(graph, 8))
    measured = backend.stats["cycles_per_frame"]
    predicted = estimate(graph)["cycles_per_frame"]
    assert abs(measured - predicted) / predicted < 0.05, (measured, predicted)
    assert backend.stats["latency_cycles"] >= predicted


@pytest.mark.parametrize("depth, width, ram, where", [
    (72, 48, False, "lut"), (72, 64, False, "bram"), (1152, 3, False, "bram"), (64, 256, False, "lut"),
    (25, 768, False, "lut"), (640, 3, False, "lut"), (640, 12, False, "bram"),
    (240, 4, True, "lut"), (384, 4, True, "bram"), (96, 16, True, "lut"), (64, 32, True, "bram"),
    (8, 784, True, "lut")])
def test_memory_placement_follows_yosys(depth, width, ram, where):
    """Where yosys synth_ecp5 put memories of these shapes in the designs the estimate was calibrated on."""
    cost = memory_cost(depth, width, ram=ram)
    assert (cost["bram"] > 0) == (where == "bram") and (cost["lut"] > 0) == (where == "lut")
