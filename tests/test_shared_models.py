"""The Brevitas exports of ../shared/models/brevitas (FINN's CNV in 1W1A and 2W2A, a ResNet-8 of brevitas.nn layers
with learned scales), compiled untouched: the reference equals qonnx's own execution of the exported file bit for
bit, the estimate prices them, folding to fit an ECP5-85F finds a design, and the generated C++ and Verilog equal
the reference.  The small shared models (TFC, the jet tagger, the QKeras 3-layer) are covered in
test_frontend_models.py, test_hls_models.py (csim, 1000 inputs) and test_models_hw.py (rtlsim, 1000 inputs).

Default run: every model on reference == qonnx, the ResNet-8 in csim (its residual adds, strided 1x1 shortcuts
and average pool through g++).  `pytest -m slow tests/test_shared_models.py`: CNV x 2 and ResNet-8 folded to fit
an ECP5-85F on qonnx, csim and rtlsim (under back-pressure), 100 inputs each."""
import json

import numpy as np
import pytest

from convflow.runtime import Session

from conftest import SHARED_MODELS
from test_models_hw import assert_backend_exact, inputs_for

BREVITAS = {name: SHARED_MODELS / "brevitas" / f"{name}.onnx" for name in ("cnv_1w1a", "cnv_2w2a", "resnet8_4b")}


def brevitas_artifact(compiled, name, **options):
    path = BREVITAS[name]
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    key = name + "".join(f"-{k}={v}" for k, v in sorted(options.items()))
    return compiled(path, f"brevitas-{key}", **options)


@pytest.mark.parametrize("name", sorted(BREVITAS))
def test_brevitas_export_equals_qonnx_execution(compiled, name):
    artifact = brevitas_artifact(compiled, name)
    x = inputs_for(artifact, n=12, seed=1)
    assert_backend_exact(artifact, "qonnx", x)
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["estimate"]["cycles_per_frame"] > 0
    assert not manifest["sources_unavailable"], manifest["sources_unavailable"]


def test_brevitas_cnv_1w1a_is_binarised_in_hardware(compiled):
    """Every convolution after the 8-bit first layer takes a bipolar input with +-1 weights: an XNOR unit."""
    artifact = brevitas_artifact(compiled, "cnv_1w1a")
    accel = json.loads((artifact / "rtl" / "accel.json").read_text())
    assert "cf_xnor_mvu.v" in accel["files"], accel["files"]
    kinds = [stage["kind"] for stage in accel["stages"]]
    assert kinds.count("cf_xnor_mvu") == 8, kinds             # Conv_1..5 and the three FC layers
    hls = (artifact / "hls" / "cnv_1w1a.cpp").read_text()
    assert hls.count("cf::xnor_matrix_vector<") == 8


def test_brevitas_resnet8_csim(compiled):
    artifact = brevitas_artifact(compiled, "resnet8_4b")
    assert_backend_exact(artifact, "csim", inputs_for(artifact, n=4, seed=2))


# cycles per frame the search reached when these tests were written (estimate at the default 85 % margin): a
# later search may do better, never more than 1.5x worse.  CNV 2W2A: 200,704 since deep logic ROMs and wide
# rows-mode windows are priced as yosys builds them (the 112,896 of the old prices was 88 % of the part's LUT4 in
# nextpnr and did not route; 200,704 places at 83 %, the estimate 82.3 %)
FIT_85F_CYCLES = {"cnv_1w1a": 7_200, "cnv_2w2a": 200_704, "resnet8_4b": 36_864}


@pytest.mark.parametrize("name", sorted(BREVITAS))
def test_brevitas_models_fold_to_fit_the_85f(name):
    """--board ulx3s-85f with no other option finds a folding whose estimate fits 85 % of the part (the search
    runs on the imported graph; no files written).  CNV 2W2A's 3.1 Mbit of weights need 168 of the 175 EBR
    blocks left after the board top: only packed ROM words and a joint choice over the layers fit it."""
    from convflow.compiler.compile import import_model
    from convflow.compiler.dataflow.folding import ecp5_budget, fold

    if not BREVITAS[name].is_file():
        pytest.skip(f"{BREVITAS[name]} is not here")
    graph, _ = import_model(BREVITAS[name])
    t = graph.input_tensor
    budget = ecp5_budget(board="ulx3s-85f", frame=(int(np.prod(t.shape)), t.dtype.bits))
    chosen = fold(graph, budget=budget)
    assert not budget.over(chosen.estimate["totals"]), chosen.estimate["totals"]
    assert chosen.cycles_per_frame <= 1.5 * FIT_85F_CYCLES[name], chosen.cycles_per_frame


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BREVITAS))
@pytest.mark.parametrize("backend", ["qonnx", "csim", "rtlsim"])
def test_brevitas_models_on_hardware_backends(compiled, name, backend):
    # folded to fit the board they would run on: the default folding (for the input's pace) makes designs of
    # several 100k LUT4 that Verilator takes many minutes to build
    artifact = brevitas_artifact(compiled, name, board="ulx3s-85f")
    options = {"backpressure": 0.2, "seed": 4} if backend == "rtlsim" else {}
    stats = assert_backend_exact(artifact, backend, inputs_for(artifact, n=100, seed=3), **options)
    if backend == "rtlsim":         # without back-pressure: the estimate's pace, within 5 %
        stats = assert_backend_exact(artifact, backend, inputs_for(artifact, n=20, seed=5))
        ideal = Session(artifact).artifact.manifest["estimate"]["cycles_per_frame"]
        assert abs(stats["cycles_per_frame"] - ideal) <= 0.05 * ideal, (stats["cycles_per_frame"], ideal)
