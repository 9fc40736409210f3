"""Each HLS stage of hw/hls against a tiny numpy reference: tests/hls/stage_tests.cpp is compiled (g++ with
-Wall -Wextra -Werror) twice -- with the stages' C-simulation bodies and with the bodies Vitis synthesises
(-DCF_CSIM_HLS_BODIES) -- numpy makes random frames, the outputs of both must equal the reference.  Cases with an
accumulator or working type too narrow for the values check that both bodies wrap as the hardware does."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hls.toolchain import compile_cpp

HERE = Path(__file__).parent / "hls"
FRAMES = 40


@pytest.fixture(scope="module", params=["csim_bodies", "hls_bodies"])
def stage_tests(tmp_path_factory, request):
    extra = ["-DCF_CSIM_HLS_BODIES"] if request.param == "hls_bodies" else []
    return compile_cpp([HERE / "stage_tests.cpp"], tmp_path_factory.mktemp("stages") / "stage_tests", extra=extra)


def wrap(values, bits):
    """Two's complement wrap to a signed ``bits``-bit integer (what assigning to ap_int<bits> does)."""
    half = 1 << (bits - 1)
    return (np.asarray(values) + half) % (1 << bits) - half


def run_case(binary, case, constants, frames):
    data = [np.array([len(frames)])] + [np.asarray(c).ravel() for c in constants] + [f.ravel() for f in frames]
    text = " ".join(str(int(v)) for v in np.concatenate(data))
    result = subprocess.run([str(binary), case], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [np.array(line.split(), dtype=np.int64) for line in result.stdout.splitlines()]


def windows(x, kernel, stride, pads, pad_value):
    """(H, W, C) -> flat (oy, ox, ky, kx, c) order, as the window generator writes them."""
    top, left, bottom, right = pads
    xp = np.pad(x, ((top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    kh, kw = kernel
    oh = (xp.shape[0] - kh) // stride[0] + 1
    ow = (xp.shape[1] - kw) // stride[1] + 1
    out = [xp[oy * stride[0] + ky, ox * stride[1] + kx, :]
           for oy in range(oh) for ox in range(ow) for ky in range(kh) for kx in range(kw)]
    return np.concatenate(out)


@pytest.mark.parametrize("case, shape, kernel, stride, pads, pad_value", [
    ("swg_a", (5, 6, 4), (3, 3), (1, 1), (1, 1, 1, 1), 0),
    ("swg_b", (7, 7, 2), (2, 2), (3, 3), (0, 0, 0, 0), -3),
    ("swg_c", (4, 5, 3), (3, 2), (2, 1), (2, 1, 1, 0), -8),
])
def test_sliding_window(stage_tests, case, shape, kernel, stride, pads, pad_value):
    rng = np.random.default_rng(1)
    frames = [rng.integers(-32, 31, size=shape, endpoint=True) for _ in range(FRAMES)]
    got = run_case(stage_tests, case, [], frames)
    for f, g in zip(frames, got):
        np.testing.assert_array_equal(g, windows(f, kernel, stride, pads, pad_value))


def _folded_mvu_case(seed: int) -> tuple:
    """A 12 x 6 matrix-vector case folded SIMD=3, PE=2 (the mvu and mvu_narrow stage tests' shape): the weights
    and bias, the arrays the stage reads ([pe][nf][sf][simd] and [pe][nf]), and FRAMES frames of 4 vectors."""
    rng = np.random.default_rng(seed)
    k, n, simd, pe, vectors = 12, 6, 3, 2, 4
    w = rng.integers(-4, 3, size=(k, n), endpoint=True)
    b = rng.integers(-16, 15, size=(n,), endpoint=True)
    nf, sf = n // pe, k // simd
    folded = w.reshape(sf, simd, nf, pe).transpose(3, 2, 0, 1)         # [pe][nf][sf][simd]
    frames = [rng.integers(0, 15, size=(vectors, k), endpoint=True) for _ in range(FRAMES)]
    return w, b, [folded, b.reshape(nf, pe).T], frames


def test_matrix_vector_folded(stage_tests):
    w, b, arrays, frames = _folded_mvu_case(2)
    got = run_case(stage_tests, "mvu", arrays, frames)
    for f, g in zip(frames, got):
        np.testing.assert_array_equal(g, (f @ w + b).ravel())


def test_matrix_vector_accumulator_too_narrow_wraps(stage_tests):
    w, b, arrays, frames = _folded_mvu_case(12)
    got = run_case(stage_tests, "mvu_narrow", arrays, frames)
    exact = [(f @ w + b).ravel() for f in frames]
    assert any((np.abs(e) > 63).any() for e in exact)                 # the case does overflow int7
    for e, g in zip(exact, got):
        np.testing.assert_array_equal(g, wrap(e, 7))


def test_depthwise(stage_tests):
    rng = np.random.default_rng(3)
    kk, c, vectors = 4, 4, 3
    w = rng.integers(-8, 7, size=(kk, c), endpoint=True)
    b = rng.integers(-8, 7, size=(c,), endpoint=True)
    frames = [rng.integers(-8, 7, size=(vectors, kk, c), endpoint=True) for _ in range(FRAMES)]
    got = run_case(stage_tests, "dw", [w, b], frames)
    for f, g in zip(frames, got):
        np.testing.assert_array_equal(g, ((f * w).sum(axis=1) + b).ravel())


@pytest.mark.parametrize("case, rows", [("thr_channel", 6), ("thr_shared", 1)])
def test_threshold(stage_tests, case, rows):
    rng = np.random.default_rng(4)
    t = np.sort(rng.integers(-200, 200, size=(rows, 3)), axis=1)
    t[:, 1] = t[:, 0]                                                  # equal thresholds are allowed
    frames = [rng.integers(-256, 255, size=(5, 6), endpoint=True) for _ in range(FRAMES)]
    frames[0][0, :] = t[0, 0]                                          # on the threshold counts as reached
    got = run_case(stage_tests, case, [t], frames)
    tb = np.broadcast_to(t, (6, 3))
    for f, g in zip(frames, got):
        want = -1 + (f[..., None] >= tb).sum(-1)
        np.testing.assert_array_equal(g, want.ravel())


@pytest.mark.parametrize("case, shift", [("shift_right", 3), ("shift_left", -2), ("shift_none", 0)])
def test_shift(stage_tests, case, shift):
    from convflow.compiler.ir.interpret import round_half_even_shift
    rng = np.random.default_rng(5)
    frames = [rng.integers(-512, 511, size=(32,), endpoint=True) for _ in range(FRAMES)]
    frames[0][:8] = [4, 12, -4, -12, 20, -20, 3, -5]                    # exact halves round to even
    got = run_case(stage_tests, case, [], frames)
    for f, g in zip(frames, got):
        np.testing.assert_array_equal(g, np.clip(round_half_even_shift(f, shift), -16, 15))


@pytest.mark.parametrize("case, shift, bits", [("shift_narrow", 3, 8), ("shift_left_narrow", -2, 10)])
def test_shift_working_type_too_narrow_wraps(stage_tests, case, shift, bits):
    from convflow.compiler.ir.interpret import round_half_even_shift
    rng = np.random.default_rng(13)
    frames = [rng.integers(-512, 511, size=(32,), endpoint=True) for _ in range(FRAMES)]
    got = run_case(stage_tests, case, [], frames)
    for f, g in zip(frames, got):
        if shift > 0:
            want = round_half_even_shift(wrap(f, bits), shift)
        else:
            want = wrap(f << -shift, bits)
        np.testing.assert_array_equal(g, np.clip(want, -16, 15))


@pytest.mark.parametrize("case, bits", [("sum_narrow", 5), ("max_narrow", 4)])
def test_window_reduce_accumulator_too_narrow_wraps(stage_tests, case, bits):
    rng = np.random.default_rng(14)
    frames = [rng.integers(-16, 15, size=(2, 4, 6), endpoint=True) for _ in range(FRAMES)]
    got = run_case(stage_tests, case, [], frames)
    for f, g in zip(frames, got):
        want = wrap(f.sum(axis=1), bits) if case == "sum_narrow" else wrap(f, bits).max(axis=1)
        np.testing.assert_array_equal(g, want.ravel())


@pytest.mark.parametrize("case", ["max", "sum"])
def test_window_reduce(stage_tests, case):
    rng = np.random.default_rng(6)
    frames = [rng.integers(-16, 15, size=(2, 4, 6), endpoint=True) for _ in range(FRAMES)]
    got = run_case(stage_tests, case, [], frames)
    for f, g in zip(frames, got):
        want = f.max(axis=1) if case == "max" else f.sum(axis=1)
        np.testing.assert_array_equal(g, want.ravel())


def test_add(stage_tests):
    rng = np.random.default_rng(7)
    a = [rng.integers(0, 15, size=12, endpoint=True) for _ in range(FRAMES)]
    b = [rng.integers(-16, 15, size=12, endpoint=True) for _ in range(FRAMES)]
    frames = [np.concatenate(pair) for pair in zip(a, b)]
    got = run_case(stage_tests, "add", [], frames)
    for x, y, g in zip(a, b, got):
        np.testing.assert_array_equal(g, 3 * x - 2 * y)


def test_width_converters_and_fork(stage_tests):
    rng = np.random.default_rng(8)
    frames = [rng.integers(-64, 63, size=12, endpoint=True) for _ in range(FRAMES)]
    got = run_case(stage_tests, "convert", [], frames)
    assert len(got) == 2 * FRAMES
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(got[2 * i], f)
        np.testing.assert_array_equal(got[2 * i + 1], f)


def test_label_select(stage_tests):
    rng = np.random.default_rng(9)
    frames = [rng.integers(-32, 31, size=10, endpoint=True) for _ in range(FRAMES)]
    frames[0][:] = 5                                                  # ties: the first index, as numpy
    frames[1][[3, 7]] = 40 - 9                                        # two maxima
    got = run_case(stage_tests, "label", [], frames)
    for f, g in zip(frames, got):
        assert g.tolist() == [int(np.argmax(f))]


def test_hls_bodies_are_the_synthesised_text(tmp_path):
    """What Vitis HLS reads (-D__SYNTHESIS__) and what hls_bodies=True compiles (-DCF_CSIM_HLS_BODIES) are the same
    text after preprocessing: the C-simulation bodies never reach synthesis, and the tests of the synthesised
    bodies run exactly those."""
    from hls.toolchain import toolchain
    from convflow.hw import HLS_DIR
    cxx, _ = toolchain()
    stub = tmp_path / "stub"                     # Xilinx's headers stand aside: only convflow's text is compared
    stub.mkdir()
    (stub / "ap_int.h").write_text("")
    (stub / "hls_stream.h").write_text("")
    (tmp_path / "all.cpp").write_text('#include "convflow.h"\n')

    def view(define):
        result = subprocess.run([cxx, "-E", "-P", define, "-isystem", str(stub), "-I", str(HLS_DIR),
                                 str(tmp_path / "all.cpp")], capture_output=True, text=True, check=True)
        return " ".join(result.stdout.split())
    synthesised = view("-D__SYNTHESIS__")
    assert "#pragma HLS PIPELINE" in synthesised and "csim" not in synthesised
    assert view("-DCF_CSIM_HLS_BODIES") == synthesised
    assert "csim::" in view("-DCF_NOTHING")      # and plain g++ sees the C-simulation bodies
