"""Pass-level tests: each pass on a tiny input, checked against exact numbers (or against onnxruntime itself)."""
import numpy as np
import pytest

from convflow.compiler.ir.floatops import F32, FloatOp, Quantizer, apply_chain
from convflow.compiler.ir.graph import Conv2D, Dense, Graph, IntType, Tensor, Threshold
from convflow.compiler.dataflow.mvu import mvu_cycles
from convflow.compiler.numerics.absorb import absorb_leading_ops, is_power_of_two
from convflow.compiler.numerics.batchnorm import fold_batchnorm
from convflow.compiler.numerics.thresholds import apply_thresholds, as_shift, derive_thresholds, shift_thresholds
from convflow.compiler.passes.choose_folding import choose_folding
from convflow.compiler.passes.infer_bitwidths import infer_bitwidths
from convflow.hw.errors import ModelError, UnsupportedOp


def ort_batchnorm(x, gamma, beta, mean, var, eps):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    c = len(gamma)
    inits = [numpy_helper.from_array(np.asarray(a, np.float32), n)
             for a, n in ((gamma, "g"), (beta, "b"), (mean, "m"), (var, "v"))]
    node = helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], epsilon=eps)
    graph = helper.make_graph([node], "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, c])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, c])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    return ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]


def test_fold_batchnorm_is_bit_exact_with_onnxruntime():
    rng = np.random.default_rng(0)
    c = 32
    gamma = rng.normal(size=c) * 3
    beta, mean = rng.normal(size=c), rng.normal(size=c) * 20
    var = rng.random(c) * 1000 + 0.1
    x = np.arange(-2000, 2001, dtype=np.float32)[:, None].repeat(c, 1) * F32(0.25)
    expected = ort_batchnorm(x, gamma, beta, mean, var, 1e-5)
    got = apply_chain(fold_batchnorm(gamma, beta, mean, var, 1e-5), x)
    assert np.array_equal(got.view(np.int32), expected.view(np.int32))     # the same float32 bits


def quant_levels(q, ops, scale):
    return lambda acc: q.levels(apply_chain(ops, (acc * scale).astype(F32)))


def test_thresholds_at_rounding_ties():
    """acc * 0.5 hits every .5 tie: half-to-even decides each threshold, and the thresholds must agree."""
    q = Quantizer("quant", np.asarray(1.0, F32), 0.0, 4, signed=True)
    fn = quant_levels(q, [], 0.5)
    lo, hi = np.array([-40]), np.array([40])
    t = derive_thresholds(fn, lo, hi, q.level_min, q.level_max, "test")
    acc = np.arange(-40, 41)[:, None]
    assert np.array_equal(apply_thresholds(acc, t, q.level_min), fn(acc))
    # column j is level -8 + j + 1.  acc = 1 is the tie 0.5 -> 0 (even), so level 1 needs acc >= 2;
    # acc = 3 is the tie 1.5 -> 2 (even), so level 2 is reached at acc = 3 already
    assert t[0, 8] == 2 and t[0, 9] == 3
    assert as_shift(t, lo, hi, q.level_min, q.level_max) == 1


def test_shift_thresholds_formula():
    for s in range(0, 5):
        levels = np.arange(-8, 8)
        acc = np.arange(-200, 200)
        expected = np.clip(np.round(acc / 2 ** s), -8, 7)
        t = shift_thresholds(s, -8, 7)
        got = -8 + (acc[:, None] >= t[None, :]).sum(1)
        assert np.array_equal(got, expected), s
        assert levels.size == 16


def test_narrow_range_and_unsigned_levels():
    narrow = Quantizer("quant", np.asarray(1.0, F32), 0.0, 2, signed=True, narrow=True)
    assert (narrow.level_min, narrow.level_max) == (-1, 1)
    unsigned = Quantizer("quant", np.asarray(0.5, F32), 0.0, 3, signed=False)
    assert (unsigned.level_min, unsigned.level_max) == (0, 7)
    fn = quant_levels(narrow, [FloatOp("add", np.asarray(0.3, F32))], 0.25)
    t = derive_thresholds(fn, np.array([-20]), np.array([20]), -1, 1, "test")
    acc = np.arange(-20, 21)[:, None]
    assert np.array_equal(apply_thresholds(acc, t, -1), fn(acc))
    assert apply_thresholds(np.array([[-20]]), t, -1)[0, 0] == -1      # never -2: narrow range


def test_per_channel_scales_and_batchnorm_thresholds():
    rng = np.random.default_rng(1)
    c = 6
    scale = 2.0 ** -rng.integers(3, 7, size=c)
    ops = fold_batchnorm(rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(.5, 2, c), 1e-5)
    ops.append(FloatOp("relu"))
    q = Quantizer("quant", np.asarray(0.25, F32), 0.0, 4, signed=False)
    fn = quant_levels(q, ops, scale[None, :])
    lo, hi = np.full(c, -300), np.full(c, 300)
    t = derive_thresholds(fn, lo, hi, 0, 15, "test")
    acc = np.arange(-300, 301)[:, None].repeat(c, 1)
    assert np.array_equal(apply_thresholds(acc, t, 0), fn(acc))
    assert as_shift(t, lo, hi, 0, 15) is None        # per-channel: no common shift


def test_large_range_uses_binary_search_and_still_verifies():
    q = Quantizer("quant", np.asarray(2.0 ** -3, F32), 0.0, 8, signed=True)
    fn = quant_levels(q, [FloatOp("mul", np.asarray(0.37, F32))], 2.0 ** -10)
    lo, hi = np.array([-(1 << 20)]), np.array([1 << 20])
    t = derive_thresholds(fn, lo, hi, -128, 127, "test")
    acc = np.random.default_rng(0).integers(-(1 << 20), 1 << 20, size=(20000, 1))
    assert np.array_equal(apply_thresholds(acc, t, -128), fn(acc))


def test_non_monotonic_level_function_is_refused():
    # chains of affine ops and ReLUs are monotonic; the check is the safety net for anything else
    def fn(acc):
        return np.clip(np.abs(acc) // 2, 0, 15)       # a V: down, then up
    with pytest.raises(UnsupportedOp, match="not monotonic"):
        derive_thresholds(fn, np.array([-10]), np.array([10]), 0, 15, "node 'tent'")


def test_absorb_scales_exact_only():
    scale = np.full(2, 2.0 ** -6)
    bias = np.array([0, 1])
    ops = [FloatOp("add", np.array([0.25, -0.5], F32)), FloatOp("mul", np.asarray(0.5, F32)), FloatOp("relu")]
    rest, new_scale, new_bias = absorb_leading_ops(ops, scale, bias, np.array([-100, -100]), np.array([100, 100]))
    assert [o.kind for o in rest] == ["relu"]
    assert np.array_equal(new_bias, [16, 1 - 32]) and np.array_equal(new_scale, [2.0 ** -7] * 2)
    # 0.3 is no integer multiple of the scale: stays a float op
    rest, _, b2 = absorb_leading_ops([FloatOp("add", np.asarray(0.3, F32))], scale, bias, np.array([0, 0]),
                                     np.array([1, 1]))
    assert len(rest) == 1 and np.array_equal(b2, bias)
    assert is_power_of_two(np.array([0.25, 8.0])) and not is_power_of_two(np.array([0.3]))


def small_mvu_graph():
    w1 = np.arange(-36, 36).reshape(3, 3, 2, 4) % 7 - 3
    t = {"in": Tensor("in", (6, 6, 2), IntType(4, False), np.asarray(1.0)),
         "c": Tensor("c", (6, 6, 4), IntType(32, True), np.asarray(1.0)),
         "t": Tensor("t", (6, 6, 4), IntType(2, False), np.asarray(1.0)),
         "d": Tensor("d", (3,), IntType(32, True), np.asarray(1.0))}
    nodes = [Conv2D("conv", ["in"], "c", weights=w1, bias=np.array([1, 2, 3, 4]), pads=(1, 1, 1, 1)),
             Threshold("th", ["c"], "t", thresholds=np.array([[-500, 0, 900]]), out_base=0),
             Dense("fc", ["t"], "d", weights=np.ones((144, 3), np.int64), bias=np.zeros(3, np.int64))]
    return Graph("g", t, nodes, "in", "d")


def test_infer_bitwidths_from_ranges():
    g = infer_bitwidths(small_mvu_graph())
    w = g.nodes[0].weights.reshape(-1, 4)
    lo = np.minimum(w * 0, w * 15).sum(0) + [1, 2, 3, 4]
    hi = np.maximum(w * 0, w * 15).sum(0) + [1, 2, 3, 4]
    lo_all, hi_all = min(lo.min(), -500), max(hi.max(), 900)      # thresholds widen the comparator input
    assert g.tensors["c"].dtype == IntType.for_range(lo_all, hi_all)
    assert g.tensors["t"].dtype == IntType(2, False)               # declared by the quantiser, kept
    assert g.tensors["d"].dtype == IntType.for_range(0, 3 * 144)


def test_choose_folding_meets_target_and_respects_divisors():
    g = small_mvu_graph()
    choose_folding(g, target_cycles=40)
    conv, fc = g.nodes[0], g.nodes[2]
    assert 4 % conv.pe == 0 and 18 % conv.simd == 0          # SIMD divides the 3 x 3 x 2 window
    # 40 cycles/frame is below the input's pace (6 x 6 x 2 elements at one per cycle): both layers are folded for
    # that pace, no faster (72 = 36 pixels x 18 / SIMD x 4 / PE)
    assert g.meta["target_cycles"] == 40
    assert mvu_cycles(conv, g, conv.pe, conv.simd) == 72 == mvu_cycles(fc, g, fc.pe, fc.simd)
    choose_folding(g, overrides={"conv": (2, 1), "fc": (1, 1)})
    assert (conv.pe, conv.simd) == (2, 1)
    with pytest.raises(ModelError, match="must divide"):
        choose_folding(g, overrides={"conv": (3, 1)})


# ------------------------------------------------------------------ the passes from the lowered graph to the IR
def requantize_graph(bias_add, gammas, q_scale=0.25):
    """in (int4) -> Dense 6 -> Requantize(add bias_add, BatchNorm-like mul, relu, Quant u3): the lowering's form."""
    from convflow.compiler.ir.graph import Requantize

    rng = np.random.default_rng(11)
    w = rng.integers(-4, 5, size=(6, 4))
    dense = Dense("fc", ["in"], "acc", weights=w, bias=np.zeros(4, np.int64))
    ops = [FloatOp("add", np.asarray(bias_add, F32)), FloatOp("mul", np.asarray(gammas, F32)), FloatOp("relu")]
    rq = Requantize("act", ["acc"], "out", ops=ops, quantizer=Quantizer("quant", np.asarray(q_scale, F32), bits=3,
                                                                        signed=False), source="node 'act'")
    tensors = {"in": Tensor("in", (6,), IntType(4, True), np.asarray(0.5)),
               "acc": Tensor("acc", (4,), IntType(32, True), np.asarray(0.125)),
               "out": Tensor("out", (4,), IntType(3, False), np.asarray(q_scale))}
    return Graph("rq", tensors, [dense, rq], "in", "out")


def test_absorb_into_accumulator_moves_exact_bias_and_keeps_the_numbers():
    from convflow.compiler.ir.interpret import run_graph
    from convflow.compiler.passes.absorb_into_accumulator import absorb_into_accumulator

    g = requantize_graph(bias_add=[0.25, -0.5, 0.375, 1.0], gammas=[1.5, 0.75, 2.0, 1.0])
    x = np.random.default_rng(1).integers(-8, 8, size=(4000, 6))
    before = run_graph(g, x)
    absorb_into_accumulator(g)
    assert np.array_equal(g.nodes[0].bias, [2, -4, 3, 8])       # 0.25 / 0.125 ... whole accumulator units
    assert [op.kind for op in g.nodes[1].ops] == ["mul", "relu"]
    assert np.array_equal(run_graph(g, x), before)
    # a bias that is not a whole number of accumulator units stays in the float path
    g = requantize_graph(bias_add=[0.1, 0, 0, 0], gammas=[1, 1, 1, 1])
    absorb_into_accumulator(g)
    assert [op.kind for op in g.nodes[1].ops] == ["add", "mul", "relu"]


def test_flip_and_thresholds_passes_equal_the_float_path_exactly():
    """Negative gammas: the flip pass negates those channels, the threshold pass then derives exact thresholds;
    every integer input gives the same outputs as the lowering's float Requantize node."""
    from convflow.compiler.ir.interpret import run_graph
    from convflow.compiler.passes.flip_decreasing_channels import flip_decreasing_channels
    from convflow.compiler.passes.requantize_to_thresholds import requantize_to_thresholds

    g = requantize_graph(bias_add=[0.3, -0.2, 0.1, 0.0], gammas=[-1.5, 0.75, -2.0, 1.0])
    x = np.random.default_rng(2).integers(-8, 8, size=(5000, 6))
    before = run_graph(g, x)
    flip_decreasing_channels(g)
    assert np.array_equal(np.sign(g.tensors["acc"].scale), [-1, 1, -1, 1])
    assert np.array_equal(run_graph(g, x), before)
    requantize_to_thresholds(g)
    assert isinstance(g.nodes[1], Threshold)
    assert np.array_equal(run_graph(g, x), before)


def test_requantize_of_a_power_of_two_ratio_becomes_a_shift():
    from convflow.compiler.ir.graph import Requantize, Shift
    from convflow.compiler.ir.interpret import run_graph
    from convflow.compiler.passes.requantize_to_thresholds import requantize_to_thresholds

    q = Quantizer("quant", np.asarray(1.0, F32), bits=4, signed=True)
    g = Graph("sh", {"in": Tensor("in", (3,), IntType(8, True), np.asarray(0.125)),
                     "out": Tensor("out", (3,), IntType(4, True), np.asarray(1.0))},
              [Requantize("q", ["in"], "out", ops=[], quantizer=q)], "in", "out")
    x = np.arange(-128, 128)[:, None].repeat(3, 1)
    before = run_graph(g, x)
    requantize_to_thresholds(g)
    assert isinstance(g.nodes[0], Shift) and g.nodes[0].shift == 3
    assert np.array_equal(run_graph(g, x), before)


def test_dequantize_output_turns_the_float_tail_into_scale_and_offset():
    from convflow.compiler.ir.floatops import InputQuantizer
    from convflow.compiler.ir.host import HostInput, HostInterface, HostOutput, IntTap
    from convflow.compiler.passes.dequantize_output import dequantize_output

    g = requantize_graph(bias_add=[0, 0, 0, 0], gammas=[1, 1, 1, 1])
    g.nodes.pop()
    g.output = "acc"
    tail = [FloatOp("mul", np.asarray([2.0, 3.0, 0.5, 1.0], F32)), FloatOp("sub", np.asarray(0.25, F32))]
    host_in = HostInput(InputQuantizer([], Quantizer("quant", np.asarray(0.5, F32), bits=4)), (6,), (6,))
    g.host = HostInterface(host_in, HostOutput("y", IntTap("acc_onnx", [0, 1]), pending_ops=tail,
                                               pending_taps=[None, "y"], pending_names=["Mul_0", "Sub_0"]))
    dequantize_output(g)
    t = g.tensors["acc"]
    assert np.allclose(t.scale, 0.125 * np.array([2.0, 3.0, 0.5, 1.0])) and np.allclose(t.offset, -0.25)
    assert g.host.output.tap.scale == 0.125 and not g.host.output.pending_ops
    assert "Mul_0, Sub_0" in g.meta["notes"][-1]


def test_fold_pads_merges_a_pad_into_the_window_after_it():
    """Pad -> Conv2D / MaxPool becomes the window's own padding where the values agree; other Pads stay; every
    output is the same."""
    from convflow.compiler.ir.graph import MaxPool, Pad
    from convflow.compiler.ir.interpret import run_graph
    from convflow.compiler.passes.fold_pads import fold_pads

    rng = np.random.default_rng(3)
    conv = Conv2D("c", ["p1"], "c", weights=rng.integers(-3, 4, size=(3, 3, 2, 3)), bias=np.arange(3),
                  pads=(0, 0, 0, 0))
    nodes = [Pad("p1", ["in"], "p1", pads=(1, 2, 1, 0), value=-2), conv,
             Pad("p2", ["c"], "p2", pads=(0, 1, 1, 0), value=-(1 << 20)), MaxPool("m", ["p2"], "m", kernel=(2, 2)),
             Pad("p3", ["m"], "p3", pads=(1, 1, 1, 1), value=5)]
    shapes = {"in": (5, 4, 2), "p1": (7, 6, 2), "c": (5, 4, 3), "p2": (6, 5, 3), "m": (3, 2, 3), "p3": (5, 4, 3)}
    types = {"in": IntType(4, True), "c": IntType(21, True), "p2": IntType(21, True)}
    tensors = {k: Tensor(k, v, types.get(k, IntType(21, True)), np.asarray(1.0)) for k, v in shapes.items()}
    g = Graph("pads", tensors, nodes, "in", "p3")
    x = rng.integers(-8, 8, size=(20, 5, 4, 2))
    before = run_graph(g, x)
    fold_pads(g)
    assert [n.op for n in g.nodes] == ["Conv2D", "MaxPool", "Pad"]
    assert conv.pads == (1, 2, 1, 0) and conv.pad_value == -2 and conv.inputs == ["in"]
    assert g.nodes[1].pads == (0, 1, 1, 0)
    assert np.array_equal(run_graph(g, x), before)
