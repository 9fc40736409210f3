"""`import convflow`: the public API (compile, Config, Session, trace, compare_to_onnx, __version__), its Config
round trips and one-line errors, the folding.json a compile writes and reads back, per-layer resource choices,
the Vitis clock from the config, and the Session's conveniences (one sample, the final softmax, warnings about
raw-looking inputs).  The Keras side (the notebook flow, compare_to_keras) is tests/test_notebook.py."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import convflow
from conftest import TFC
from convflow.hw.errors import InputError, UsageError


@pytest.fixture(scope="module")
def tfc(tmp_path_factory):
    """TFC_2W2A compiled once through convflow.compile with a Config (a target and a clock)."""
    out = tmp_path_factory.mktemp("api") / "tfc"
    return convflow.compile(TFC, out, convflow.Config(target_cycles=1024, clock_mhz=125))


def random_ints(session, n, seed=0):
    lo, hi = session.input_range
    return np.random.default_rng(seed).integers(lo, hi + 1, size=(n,) + session.input_tensor.shape)


# ---------------------------------------------------------------------------------------------- the package
def test_import_convflow_is_light_and_versioned():
    code = ("import sys, convflow; heavy = [m for m in ('numpy', 'onnx', 'tensorflow', 'qonnx', 'onnxruntime') "
            "if m in sys.modules]; print(convflow.__version__, heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from importlib.metadata import version

    assert r.stdout.split()[0] == version("convflow") and r.stdout.strip().endswith("[]"), r.stdout
    cli = subprocess.run([sys.executable, "-m", "convflow.runtime.cli", "--version"], capture_output=True, text=True)
    assert cli.returncode == 0 and cli.stdout.strip() == f"convflow {convflow.__version__}"
    for name in convflow.__all__:
        assert getattr(convflow, name) is not None
        assert name == "__version__" or getattr(convflow, name).__doc__, f"convflow.{name} has no docstring"


# ---------------------------------------------------------------------------------------------- Config
def full_config():
    return convflow.Config(target_fps=50_000, clock_mhz=75, board="ulx3s-85f", part="xcku5p-ffvb676-2-e",
                           fit_margin="0.9,LUT4=0.75", input_pace=0.5, emit_rtl=False,
                           folding={"conv1": convflow.LayerConfig(pe=4, simd=9, mult="dsp"),
                                    "fc": {"weight_mem": "lut"}, "fc2": [2, 3]},
                           input_precision={"bits": 12, "frac_bits": 6})


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_round_trips(tmp_path, suffix):
    cfg = full_config()
    path = cfg.save(tmp_path / f"convflow{suffix}")
    loaded = convflow.Config.load(path)
    assert loaded == cfg and loaded.to_dict() == cfg.to_dict()
    assert loaded.folding["fc2"] == convflow.LayerConfig(pe=2, simd=3)
    assert isinstance(loaded.input_precision, convflow.InputPrecision)
    if suffix == ".json":
        assert json.loads(path.read_text())["folding"]["conv1"] == {"pe": 4, "simd": 9, "mult": "dsp"}


BAD_CONFIGS = {
    "target_fps": ({"target_fps": -5}, "config.target_fps"),
    "clock": ({"clock_mhz": "fast"}, "config.clock_mhz"),
    "two_targets": ({"target_fps": 10, "target_cycles": 100}, "not both"),
    "cycles": ({"target_cycles": 1.5}, "config.target_cycles"),
    "board_and_device": ({"board": "ulx3s-85f", "device": "LFE5U-45F"}, "board or device"),
    "part": ({"part": "xc7; rm -rf /"}, "config.part"),
    "margin": ({"fit_margin": 1.5}, "config.fit_margin"),
    "pace": ({"input_pace": 2}, "config.input_pace"),
    "unknown_field": ({"reuse_factor": 4}, "unknown field 'reuse_factor'"),
    "layer_pe": ({"folding": {"conv1": {"pe": 0, "simd": 1}}}, "config.folding['conv1'].pe"),
    "layer_half": ({"folding": {"conv1": {"pe": 2}}}, "both pe and simd"),
    "layer_mult": ({"folding": {"conv1": {"mult": "dsp48"}}}, "config.folding['conv1'].mult"),
    "layer_key": ({"folding": {"conv1": {"reuse": 2}}}, "unknown key 'reuse'"),
    "layer_list": ({"folding": {"conv1": [1, 2, 3]}}, "[pe, simd]"),
    "input_bits": ({"input_precision": {"bits": 64}}, "config.input_precision.bits"),
    "emit": ({"emit_hls": "yes"}, "config.emit_hls"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_a_bad_config_field_is_one_line_naming_it(case):
    data, needle = BAD_CONFIGS[case]
    with pytest.raises(UsageError) as info:
        convflow.Config.from_dict(data)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_bad_config_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("target_fps: [1, 2\n")
    with pytest.raises(UsageError, match="bad.yaml: not valid YAML or JSON at line"):
        convflow.Config.load(path)
    path.write_text("clock_mhz: -1\n")
    with pytest.raises(UsageError, match=r"bad.yaml: config.clock_mhz"):
        convflow.Config.load(path)


# ---------------------------------------------------------------------------------------------- compile
def test_compile_with_config_writes_folding_json_that_reads_back(tfc, tmp_path):
    art = convflow.Artifact.load(tfc)                   # folding.json is one of the hashed files
    assert "folding.json" in art.files and art.manifest["folding_file"] == "folding.json"
    written = json.loads((tfc / "folding.json").read_text())
    assert list(written) == [n.name for n in art.graph.mvu_nodes()]          # the source's layer names
    assert {row["name"]: (row["pe"], row["simd"]) for row in art.manifest["folding"]["layers"]} == \
        {name: (row["pe"], row["simd"]) for name, row in written.items()}
    assert art.manifest["folding"]["clock_mhz"] == 125
    # fed back (as a Config's folding, and as --folding) it reproduces the same design with no target at all
    again = convflow.compile(TFC, tmp_path / "again", folding=written)
    assert json.loads((again / "folding.json").read_text()) == written
    r = subprocess.run([sys.executable, "-m", "convflow.runtime.cli", "compile", str(TFC), "-o",
                        str(tmp_path / "cli"), "--folding", str(tfc / "folding.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "cli" / "folding.json").read_text()) == written
    assert "folding written to" in r.stdout and "estimates for Lattice ECP5" in r.stdout


def test_an_unknown_layer_name_lists_the_known_ones(tmp_path):
    for folding in ({"conv1": [2, 1]}, {"conv1": {"mult": "dsp"}}):
        with pytest.raises(UsageError) as info:
            convflow.compile(TFC, tmp_path / "x", convflow.Config(folding=folding))
        assert "no layer 'conv1'" in str(info.value) and "'MatMul_0'" in str(info.value)
        assert not (tmp_path / "x").exists()
    cfg = convflow.Config(folding={"conv1": [2, 1]}).save(tmp_path / "c.yaml")
    r = subprocess.run([sys.executable, "-m", "convflow.runtime.cli", "compile", str(TFC), "-o",
                        str(tmp_path / "y"), "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2 and "no layer 'conv1'" in r.stderr and "MatMul_0" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_resource_choices_per_layer_reach_the_design(tmp_path):
    cfg = convflow.Config(folding={"MatMul_1": {"pe": 4, "simd": 8, "mult": "dsp"},
                                   "MatMul_0": {"weight_mem": "lut"}})
    out = convflow.compile(TFC, tmp_path / "res", cfg)
    manifest = json.loads((out / "manifest.json").read_text())
    rows = {r["name"]: r for r in manifest["estimate"]["layers"]}
    assert (rows["MatMul_1"]["pe"], rows["MatMul_1"]["simd"]) == (4, 8) and rows["MatMul_1"]["dsp"] > 0
    assert rows["MatMul_0"]["bram"] == 0                  # its weights in LUTs (8 EBR when left to the rule)
    written = json.loads((out / "folding.json").read_text())
    assert written["MatMul_1"]["mult"] == "dsp" and written["MatMul_0"]["weight_mem"] == "lut"
    # the HLS project and the RTL print that folding, each stage under its source layer's name
    top = next((out / "hls").glob("TFC*.cpp")).read_text()
    assert "// Dense 'MatMul_1': 64 x 64 matrix, PE=4 SIMD=8" in top
    assert re.search(r"// stage \d+: cf_mvu -- IR node Dense 'MatMul_1'", (out / "rtl" / "cf_accel.v").read_text())
    with pytest.raises(Exception, match="dsp2"):          # two products a DSP need an even PE
        convflow.compile(TFC, tmp_path / "bad", folding={"MatMul_1": {"pe": 1, "simd": 8, "mult": "dsp2"}})


def test_the_vitis_project_takes_clock_and_part_from_the_config(tmp_path):
    out = convflow.compile(TFC, tmp_path / "v", convflow.Config(clock_mhz=250, part="xcu50-fsvh2104-2-e",
                                                                emit_rtl=False))
    tcl = (out / "hls" / "build_prj.tcl").read_text()
    assert "create_clock -period 4.0 -name default" in tcl and "set_part {xcu50-fsvh2104-2-e}" in tcl
    assert not (out / "rtl").exists()
    default = (convflow.compile(TFC, tmp_path / "d") / "hls" / "build_prj.tcl").read_text()
    assert "create_clock -period 10.0" in default          # 100 MHz, the estimate's default clock


def test_compile_takes_an_onnx_model_object_and_keeps_its_name(tmp_path):
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper

    proto = onnx.load(str(TFC))
    for source in (proto, ModelWrapper(proto)):
        out = convflow.compile(source, tmp_path / type(source).__name__, force=True)
        assert json.loads((out / "manifest.json").read_text())["model"] == proto.graph.name


# ---------------------------------------------------------------------------------------------- Session
def test_trace_gives_every_layer_by_name(tfc):
    s = convflow.Session(tfc)
    x = random_ints(s, 40)
    trace = s.trace(x)
    assert list(trace) == [s.graph.input] + [n.name for n in s.graph.nodes]
    last = trace[s.graph.nodes[-1].name]
    assert np.array_equal(last.ints, s.run(x)) and np.array_equal(last.floats, s.predict(x))
    assert trace["Quant_5"].op == "Threshold" and trace["Quant_5"].ints.shape == (40, 64)
    one = s.trace(x[0])                                    # one sample: no batch axis in, none out
    assert np.array_equal(one["MatMul_1"].ints, trace["MatMul_1"].ints[0])


def test_one_sample_without_the_batch_axis(tfc):
    s = convflow.Session(tfc)
    x = random_ints(s, 3)
    assert np.array_equal(s.run(x[1]), s.run(x)[1]) and s.run(x[1]).shape == (10,)
    assert np.array_equal(s.predict(x[1]), s.predict(x)[1])


def test_predict_applies_softmax_on_request_only_when_the_source_has_none(tfc):
    s = convflow.Session(tfc)
    x = random_ints(s, 5)
    assert s.softmax is None
    logits = s.predict(x)
    probs = s.predict(x, softmax=True)
    assert np.allclose(probs.sum(axis=1), 1) and np.array_equal(probs.argmax(axis=1), logits.argmax(axis=1))
    assert np.array_equal(s.predict(x, softmax=False), logits)


def test_raw_looking_integer_inputs_warn_naming_the_range(tmp_path):
    """An int8 input quantiser takes codes -128..127: a batch of 0..7 is probably raw data (like the 0..16
    pixels of sklearn's digits given to a model that takes codes 0..255).  Codes across the range are not warned
    about; floats never are."""
    from convflow.runtime.inputs import InputWarning
    from qonnx_builders import conv_bn_model

    s = convflow.Session(convflow.compile(conv_bn_model(seed=1), tmp_path / "conv"))
    lo, hi = s.input_range
    shape = (4,) + s.input_tensor.shape
    with pytest.warns(InputWarning, match=rf"codes \[{lo}, {hi}\].*only reaches 7.*give floats"):
        s.run(np.random.default_rng(0).integers(0, 8, size=shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.run(np.random.default_rng(0).integers(lo, hi + 1, size=shape))
        s.run(np.random.default_rng(0).uniform(-1, 1, size=shape))
    with pytest.raises(InputError):                      # outside the type: refused, as before
        s.run(np.full(shape, hi + 10 ** 6))


# ---------------------------------------------------------------------------------------------- compare_to_onnx
def test_compare_to_onnx_agrees_and_names_the_first_drifting_layer(tfc, tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    s = convflow.Session(tfc)
    x = random_ints(s, 30, seed=3)
    same = convflow.compare_to_onnx(TFC, tfc, x)
    assert same.equal and sum(d.compared for d in same.layers) == len(s.graph.nodes)
    assert "every compared layer agrees" in capsys.readouterr().out
    # the source model changed after compile: the second BatchNorm's beta shifted by a whole unit
    proto = onnx.load(str(TFC))
    bns = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    beta = next(i for i in proto.graph.initializer if i.name == bns[1].input[2])
    beta.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(beta) + 1.0, beta.name))
    drifted = convflow.compare_to_onnx(proto, s, x, show=False)
    first = drifted.first_difference
    assert first is not None and first.name == "Quant_6" and first.op == "Threshold", drifted.table()
    assert all(d.differing == 0 for d in drifted.layers[:3])          # MatMul_0, Quant_5, MatMul_1 agree
    assert first.max_steps >= 1 and "first difference: layer 'Quant_6'" in drifted.table()


def test_predict_applies_an_onnx_models_final_softmax(tmp_path):
    """The jet tagger's QONNX export ends in a Softmax: compile records it (the accelerator returns logits),
    predict applies it and equals qonnx's execution of the whole model, softmax included."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from conftest import JET
    from convflow.runtime.backends.qonnx_exec import QonnxBackend

    s = convflow.Session(convflow.compile(JET, tmp_path / "jet"))
    assert s.softmax is not None and s.artifact.manifest["graph"]["host"]["output"]["softmax"] == s.softmax
    x = random_ints(s, 1)
    floats = QonnxBackend(s.artifact).float_inputs(x)           # the floats the model quantises onto x
    model = ModelWrapper(str(JET))
    expected = execute_onnx(model, {model.graph.input[0].name: floats})[model.graph.output[0].name]
    assert np.allclose(s.predict(x), expected, rtol=0, atol=1e-6)
    assert not np.allclose(s.predict(x, softmax=False), expected)


def test_config_file_and_flags_on_the_command_line(tmp_path):
    cfg = convflow.Config(clock_mhz=125, target_fps=20_000, part="xc7a35tcpg236-1").save(tmp_path / "cfg.yaml")
    r = subprocess.run([sys.executable, "-m", "convflow.runtime.cli", "compile", str(TFC), "-o", str(tmp_path / "a"),
                        "--config", str(cfg), "--clock-mhz", "200", "--target-cycles", "2048"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["folding"]["clock_mhz"] == 200 and manifest["folding"]["mode"] == "cycles"    # flags win
    assert manifest["folding"]["target_cycles"] == 2048 and manifest["part"] == "xc7a35tcpg236-1"  # file kept
    assert "create_clock -period 5.0" in (tmp_path / "a" / "hls" / "build_prj.tcl").read_text()
    # the API takes the same file, and keyword overrides
    out = convflow.compile(TFC, tmp_path / "b", cfg, clock_mhz=250)
    assert json.loads((out / "manifest.json").read_text())["folding"]["clock_mhz"] == 250
    bad = tmp_path / "bad.json"
    bad.write_text('{"target_fps": 1, "reuse_factor": 2}')
    r = subprocess.run([sys.executable, "-m", "convflow.runtime.cli", "compile", str(TFC), "-o", str(tmp_path / "c"),
                        "--config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown field 'reuse_factor'" in r.stderr and "bad.json" in r.stderr


def test_trace_on_another_backend_checks_its_output(tfc):
    with convflow.Session(tfc, "gpu") as s:
        trace = s.trace(random_ints(s, 8))
    assert trace.backend == "gpu" and trace.backend_equal is True
