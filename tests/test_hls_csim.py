"""End to end: IR graph -> HLS project -> g++ csim, bit for bit equal to the reference interpreter."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from convflow.compiler.emit.hls import write_hls_project
from convflow.compiler.ir.interpret import run_graph
from convflow.hw.errors import ToolMissing
from convflow.runtime.backends.csim import CsimBackend

from hls.graphs import Builder, binarised, branches, lenet, mlp, resnet_block, window_net
from hls.toolchain import compile_cpp, make_artifact, toolchain


def random_inputs(graph, n, seed=0):
    t = graph.input_tensor
    return np.random.default_rng(seed).integers(t.dtype.min, t.dtype.max, size=(n, *t.shape), endpoint=True)


def check_csim(graph, directory, n, seed=0, cache_dir=None, hls_bodies=False):
    toolchain()
    backend = CsimBackend(make_artifact(graph, directory), cache_dir=cache_dir, hls_bodies=hls_bodies)
    x = random_inputs(graph, n, seed)
    got = backend.run(x)
    want = run_graph(graph, x)
    assert got.dtype == np.int64 and got.shape == want.shape
    mismatches = int((got != want).sum())
    assert mismatches == 0, f"{mismatches} of {want.size} outputs differ from the reference"
    return backend


def test_lenet_bit_exact_1000_inputs(tmp_path):
    """The representative check: a LeNet-size conv net (uint8 28x28, conv/threshold/maxpool x2, dense), folded,
    1000 random inputs, integer equality with the reference."""
    graph = lenet(seed=0, fold=((2, 1), (4, 4), (5, 8)))
    backend = check_csim(graph, tmp_path, 1000, cache_dir=tmp_path / "cache")    # a fresh cache: g++ really runs
    assert backend.stats["compile_s"] > 0


HLS_BODY_GRAPHS = {
    "lenet": lambda: lenet(seed=5, fold=((2, 1), (4, 2), (2, 4)), size=12),
    "resnet_block": lambda: resnet_block(1),
    "binarised": lambda: binarised(1),
    "branches": lambda: branches(1),
}


@pytest.mark.parametrize("name", list(HLS_BODY_GRAPHS))
def test_synthesised_bodies_equal_csim_bodies(tmp_path, name):
    """hls_bodies=True compiles the stage bodies Vitis synthesises (ap_int arithmetic as written) instead of their
    C-simulation bodies: both equal the reference, so the fast bodies compute what the hardware computes."""
    graph = HLS_BODY_GRAPHS[name]()
    slow = check_csim(graph, tmp_path / "hls", 200, seed=3, hls_bodies=True)
    fast = check_csim(graph, tmp_path / "csim", 200, seed=3)
    assert slow.library_path != fast.library_path          # two libraries, keyed apart


SMALL_FOLDINGS = {
    "pe1_simd1": ((1, 1), (1, 1), (1, 1)),
    "fully_parallel": ((8, 1), (16, 8), (10, 64)),      # PE = Cout, SIMD = Cin
    "mixed": ((4, 1), (2, 8), (2, 16)),
}


@pytest.mark.parametrize("fold", list(SMALL_FOLDINGS), ids=list(SMALL_FOLDINGS))
def test_small_conv_net_foldings(tmp_path, fold):
    graph = lenet(seed=3, fold=SMALL_FOLDINGS[fold], size=12, c1=8, c2=16)
    check_csim(graph, tmp_path, 300, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_lenet_many_foldings_slow(tmp_path, seed):
    rng = np.random.default_rng(seed)

    def pick(n):
        divisors = [d for d in range(1, n + 1) if n % d == 0]
        return int(rng.choice(divisors))
    fold = ((pick(8), 1), (pick(16), pick(8)), (pick(10), pick(256)))     # 22 -> 22 -> 11 -> 9 -> 4: 4*4*16 = 256
    graph = lenet(seed=seed, fold=fold, size=22, thr_bits=2 + seed % 3)
    check_csim(graph, tmp_path, 1000, seed=seed)


def test_mlp_signed_inputs_cache_and_session(tmp_path):
    """A Dense-only MLP on signed inputs; a second backend on the same sources is a cache hit; Session finds csim
    in the backend registry."""
    from convflow.runtime.session import Session
    graph = mlp(seed=1, fold=((4, 8), (2, 4)))
    check_csim(graph, tmp_path / "a", 1000, cache_dir=tmp_path / "cache")
    artifact = make_artifact(graph, tmp_path / "b")                # same sources elsewhere: same hash
    for threads in (1, 3):                                         # frames on several threads: same outputs
        with Session(artifact, backend="csim", cache_dir=tmp_path / "cache", threads=threads) as session:
            assert session.stats["compile_s"] == 0.0
            x = random_inputs(graph, 50, seed=9)
            np.testing.assert_array_equal(session.run(x), run_graph(graph, x))


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_residual_shift_depthwise_pools(tmp_path, seed):
    """Add of two branches (fork + width conversion), shifts right and left, depthwise conv, strided padded
    max pool, global sum pool."""
    check_csim(resnet_block(seed), tmp_path, 300, seed=seed)


@pytest.mark.parametrize("simd", [(9, 6, 3, 36), (3, 18, 12, 9)], ids=["window", "kernel_rows"])
def test_simd_beyond_the_channels(tmp_path, simd):
    """SIMD that does not divide a layer's channels, up to the whole window (K*K*C): the window generator writes words
    spanning channels, pixels and kernel rows, with stride and padding on an odd shape."""
    graph = window_net(seed=2, simd=simd)
    from convflow.compiler.dataflow import build_plan
    assert any(s.kind == "cf_swg" and s.window_mode for s in build_plan(graph).stages)
    check_csim(graph, tmp_path, 300, seed=3)


def hostile_names_graph():
    """A small net whose layer, tensor and model names hold C++ punctuation, keywords, comment ends, non-ASCII."""
    names = ["class", "int", "conv */ /* x", "3x3 conv", "Ünïcode-層", "input", "dense.weights[0]", "module",
             "__reserved", "a\\", "s_conv1"]
    b = Builder("model \"*/\" 名前 class", (6, 6, 2), IntType_uint(4), seed=5, names=names)
    x = b.conv("input", 4, k=3, pad=1, pe=2, simd=2)
    x = b.threshold(x, bits=3)
    x = b.maxpool(x, 2)
    y = b.conv(x, 4, k=1, pad=0, pe=4, simd=4)
    y = b.threshold(y, bits=3)
    x = b.add(x, y)
    x = b.flatten(x)
    x = b.dense(x, 5, pe=5, simd=4)
    graph = b.graph
    for node, tensor_name in zip(graph.nodes, ["for", "x*/y", "1st", "while", "ü", "t", "u", "v"]):
        # tensor names as hostile as the layer names
        old = node.output
        graph.tensors[tensor_name] = graph.tensors.pop(old)
        graph.tensors[tensor_name].name = tensor_name
        node.output = tensor_name
        for other in graph.nodes:
            other.inputs = [tensor_name if i == old else i for i in other.inputs]
        if graph.output == old:
            graph.output = tensor_name
    return graph


@pytest.mark.parametrize("seed", [0, 1])
def test_branches_joined_by_add_and_concat(tmp_path, seed):
    """Forks into convolution branches, an Add of two convolutions, a three-way Concat: csim equals the reference."""
    check_csim(branches(seed), tmp_path, 300, seed=seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_binarised_xnor_layers(tmp_path, seed):
    """Binarised convolution and dense layers (bipolar bits in, +-2 weights): XNOR-popcount in csim."""
    backend = check_csim(binarised(seed), tmp_path, 300, seed=seed)
    assert "cf::xnor_matrix_vector" in next(backend.hls_dir.glob("binarised.cpp")).read_text()


def test_hostile_names(tmp_path):
    check_csim(hostile_names_graph(), tmp_path, 200)
    source = next((tmp_path / "hls").glob("*_tb.cpp")).name
    assert source.isascii()


def IntType_uint(bits):
    from convflow.compiler.ir.graph import IntType
    return IntType(bits, False)


# Every warning an error, no precompiled header (the csim backend's fast builds relax two ap_int-header warnings):
# the generated code itself must be warning-free for Dense, conv/pool/threshold, depthwise/residual/shift stages
# and sanitised hostile names.
STRICT_GRAPHS = {
    "mlp": lambda: mlp(seed=4, fold=((8, 4), (5, 2))),
    "lenet": lambda: lenet(seed=2, fold=((2, 1), (4, 2), (2, 4)), size=12),
    "resnet_block": lambda: resnet_block(0),
    "window": lambda: window_net(1),
    "hostile_names": hostile_names_graph,
}


@pytest.mark.parametrize("bodies", ["csim_bodies", "hls_bodies"])
@pytest.mark.parametrize("name", list(STRICT_GRAPHS))
def test_testbench_builds_warning_free_and_passes(tmp_path, name, bodies):
    """The Vitis testbench (what csim_design runs) compiles with -Wall -Wextra -Werror and matches the expected
    outputs the emitter wrote from the reference interpreter -- with the C-simulation bodies and with the bodies
    Vitis synthesises."""
    graph = STRICT_GRAPHS[name]()
    write_hls_project(graph, tmp_path / "hls")
    hls = tmp_path / "hls"
    top = next(hls.glob("*_tb.cpp")).name[:-len("_tb.cpp")]
    extra = ["-I", str(hls)] + (["-DCF_CSIM_HLS_BODIES"] if bodies == "hls_bodies" else [])
    binary = compile_cpp([hls / f"{top}.cpp", hls / f"{top}_tb.cpp"], tmp_path / "tb", extra=extra)
    result = subprocess.run([str(binary)], cwd=hls, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = re.search(r"(\d+) frames, 0 mismatches", result.stdout)
    assert checked and int(checked.group(1)) > 0, result.stdout


def test_project_files_and_headers(tmp_path):
    graph = lenet(seed=1, fold=((2, 1), (4, 2), (2, 4)), size=12)
    files = write_hls_project(graph, tmp_path / "hls", part="xc7z010clg400-1", model_name="LeNet 5 (test)")
    names = {f.relative_to(tmp_path / "hls").as_posix() for f in files}
    assert {"LeNet_5_test.cpp", "LeNet_5_test.h", "LeNet_5_test_tb.cpp", "convflow_csim.cpp", "build_prj.tcl",
            "tb_data/inputs.txt", "tb_data/expected.txt", "convflow_hls/convflow.h"} <= names
    top = (tmp_path / "hls" / "LeNet_5_test.cpp").read_text()
    assert top.startswith("// LeNet_5_test") and "Generated by convflow" in top
    assert "#pragma HLS DATAFLOW" in top and "#pragma HLS INTERFACE axis port = in_stream" in top
    for node in graph.nodes:                                       # each stage names the IR node it implements
        assert f"{node.op} '{node.name}'" in top
    tcl = (tmp_path / "hls" / "build_prj.tcl").read_text()
    assert "set_part {xc7z010clg400-1}" in tcl and "csynth_design" in tcl and "export_design" in tcl
    weights = (tmp_path / "hls" / "weights" / "conv4_weights.h").read_text()
    assert "ap_int<3>" in weights                                  # the exact width for synthesis
    again = write_hls_project(graph, tmp_path / "again", part="xc7z010clg400-1", model_name="LeNet 5 (test)")
    for a, b in zip(files, again):                                 # deterministic: the csim cache key is stable
        assert a.read_bytes() == b.read_bytes(), a.name


def test_missing_compiler_is_tool_missing(tmp_path, monkeypatch):
    graph = mlp(seed=2)
    artifact = make_artifact(graph, tmp_path)
    monkeypatch.setenv("CXX", "no-such-g++-convflow")
    with pytest.raises(ToolMissing, match="no-such-g"):
        CsimBackend(artifact)


def test_vitis_flow_without_vitis(tmp_path, monkeypatch):
    from convflow.hw.flows import vitis
    make_artifact(mlp(seed=2), tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissing, match="vitis_hls"):
        vitis.build(tmp_path)
