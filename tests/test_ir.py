"""The reference kernels against straightforward loops, the IR types, and (de)serialisation."""
import numpy as np
import pytest

from convflow.compiler.ir.graph import (Add, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Shift, SumPool,
                                        Tensor, Threshold)
from convflow.compiler.ir.interpret import round_half_even_shift, run_graph
from convflow.compiler.ir.serialize import graph_from_dict, graph_to_dict


def test_inttype_ranges():
    assert (IntType(4, True).min, IntType(4, True).max) == (-8, 7)
    assert (IntType(4, False).min, IntType(4, False).max) == (0, 15)
    assert IntType.for_range(0, 15) == IntType(4, False)
    assert IntType.for_range(-8, 7) == IntType(4, True)
    assert IntType.for_range(-9, 7) == IntType(5, True)
    assert IntType.for_range(-1, 8) == IntType(5, True)
    assert IntType.parse("int12") == IntType(12, True) and IntType.parse("uint3") == IntType(3, False)


def test_round_half_even_shift_matches_numpy_round():
    x = np.arange(-300, 301)
    for s in range(0, 6):
        assert np.array_equal(round_half_even_shift(x, s), np.round(x / 2 ** s).astype(np.int64))
    assert np.array_equal(round_half_even_shift(x, -2), x * 4)


def naive_conv(x, w, b, stride, pads, pad_value, depthwise=False):
    n, h, wd, c = x.shape
    kh, kw, _, co = w.shape
    xp = np.full((n, h + pads[0] + pads[2], wd + pads[1] + pads[3], c), pad_value, np.int64)
    xp[:, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (xp.shape[1] - kh) // stride[0] + 1
    ow = (xp.shape[2] - kw) // stride[1] + 1
    out = np.zeros((n, oh, ow, co), np.int64)
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            if depthwise:
                out[:, i, j] = np.einsum("nabc,abc->nc", win, w[:, :, 0, :])
            else:
                out[:, i, j] = np.einsum("nabc,abco->no", win, w)
    return out + b


def chain_graph(nodes, shapes, in_type=IntType(4, True)):
    tensors = {"in": Tensor("in", shapes[0], in_type, np.asarray(1.0))}
    for node, shape in zip(nodes, shapes[1:]):
        tensors[node.output] = Tensor(node.output, shape, IntType(32, True), np.asarray(1.0))
    return Graph("t", tensors, nodes, "in", nodes[-1].output)


@pytest.mark.parametrize("stride,pads,depthwise", [((1, 1), (0, 0, 0, 0), False), ((2, 1), (1, 2, 0, 1), False),
                                                   ((1, 1), (1, 1, 1, 1), True)])
def test_conv2d_kernel(stride, pads, depthwise):
    rng = np.random.default_rng(1)
    cin, cout = (3, 3) if depthwise else (3, 5)
    w = rng.integers(-8, 8, size=(3, 2, 1 if depthwise else cin, cout))
    b = rng.integers(-20, 20, size=cout)
    node = Conv2D("c", ["in"], "out", weights=w, bias=b, stride=stride, pads=pads, pad_value=-1,
                  depthwise=depthwise)
    x = rng.integers(-8, 8, size=(7, 6, 5, cin))
    oh = (6 + pads[0] + pads[2] - 3) // stride[0] + 1
    ow = (5 + pads[1] + pads[3] - 2) // stride[1] + 1
    out = run_graph(chain_graph([node], [(6, 5, cin), (oh, ow, cout)]), x)
    assert np.array_equal(out, naive_conv(x, w, b, stride, pads, -1, depthwise))


def test_pools_threshold_shift_dense_flatten_add():
    rng = np.random.default_rng(2)
    x = rng.integers(-8, 8, size=(9, 4, 4, 2))
    nodes = [MaxPool("m", ["in"], "m", kernel=(2, 2), stride=(2, 2)),
             SumPool("s", ["m"], "s", kernel=(2, 2), stride=(2, 2)),
             Threshold("t", ["s"], "t", thresholds=np.array([[-4, 0, 3], [-1, 1, 2]]), out_base=-1),
             Flatten("f", ["t"], "f"),
             Dense("d", ["f"], "d", weights=np.array([[1, -2], [3, 4]]), bias=np.array([5, -5])),
             Shift("sh", ["d"], "sh", shift=1, lo=-3, hi=3)]
    g = chain_graph(nodes, [(4, 4, 2), (2, 2, 2), (1, 1, 2), (1, 1, 2), (2,), (2,), (2,)])
    values = run_graph(g, x, keep_all=True)
    m = x.reshape(9, 2, 2, 2, 2, 2).max(axis=(2, 4))
    assert np.array_equal(values["m"], m)
    s = m.sum(axis=(1, 2), keepdims=True)
    assert np.array_equal(values["s"], s)
    t = -1 + (s[..., None] >= np.array([[-4, 0, 3], [-1, 1, 2]])).sum(-1)
    assert np.array_equal(values["t"], t)
    d = t.reshape(9, 2) @ np.array([[1, -2], [3, 4]]) + np.array([5, -5])
    assert np.array_equal(values["d"], d)
    assert np.array_equal(values["sh"], np.clip(np.round(d / 2), -3, 3).astype(np.int64))

    add = Add("a", ["in", "in"], "a", mul_a=2, mul_b=1)
    g2 = chain_graph([add], [(4, 4, 2), (4, 4, 2)])
    assert np.array_equal(run_graph(g2, x), 3 * x)


def test_reference_rejects_wrong_inputs():
    g = chain_graph([Flatten("f", ["in"], "f")], [(2, 2, 1), (4,)])
    with pytest.raises(ValueError, match="shape"):
        run_graph(g, np.zeros((1, 3, 2, 1), np.int64))
    with pytest.raises(TypeError, match="integers"):
        run_graph(g, np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match="outside int4"):
        run_graph(g, np.full((1, 2, 2, 1), 8))


def test_serialise_round_trip():
    rng = np.random.default_rng(3)
    w = rng.integers(-8, 8, size=(3, 3, 2, 4))
    nodes = [Conv2D("conv */ weird", ["in"], "c", weights=w, bias=np.arange(4), pads=(1, 1, 1, 1), pe=2, simd=1),
             Threshold("t", ["c"], "t", thresholds=np.array([[0, 5, 9]]), out_base=0)]
    g = chain_graph(nodes, [(5, 5, 2), (5, 5, 4), (5, 5, 4)])
    desc, arrays = graph_to_dict(g)
    back = graph_from_dict(desc, arrays)
    x = rng.integers(-8, 8, size=(4, 5, 5, 2))
    assert np.array_equal(run_graph(g, x), run_graph(back, x))
    assert back.nodes[0].pe == 2 and back.nodes[0].pads == (1, 1, 1, 1) and back.nodes[0].name == "conv */ weird"


def test_concat_kernel_range_and_round_trip():
    """Concat joins channels in input order; its range rule is the union of the inputs'; it survives serialising."""
    from convflow.compiler.ir.graph import Concat
    from convflow.compiler.numerics.ranges import node_range

    rng = np.random.default_rng(4)
    x = rng.integers(-8, 8, size=(5, 3, 3, 2))
    nodes = [Shift("s", ["in"], "s", shift=1, lo=-2, hi=3), Concat("cat", ["in", "s", "in"], "cat")]
    g = chain_graph(nodes, [(3, 3, 2), (3, 3, 2), (3, 3, 6)])
    got = run_graph(g, x)
    half = np.clip(round_half_even_shift(x, 1), -2, 3)
    assert np.array_equal(got, np.concatenate([x, half, x], axis=-1))
    assert node_range(nodes[1], g, {"in": (-8, 7), "s": (-2, 3)}) == (-8, 7)
    desc, arrays = graph_to_dict(g)
    assert np.array_equal(run_graph(graph_from_dict(desc, arrays), x), got)


def test_requantize_is_the_source_models_float_path():
    """The lowering's Requantize node evaluates its float ops and quantiser exactly as floatops does, per channel,
    and no artifact can hold one (passes must replace it)."""
    from convflow.compiler.ir.floatops import F32, FloatOp, Quantizer, apply_chain
    from convflow.compiler.ir.graph import Requantize

    q = Quantizer("quant", np.asarray([0.5, 0.25], F32), bits=3, signed=True)
    ops = [FloatOp("add", np.asarray([0.1, -0.3], F32)), FloatOp("relu")]
    node = Requantize("rq", ["in"], "rq", ops=ops, quantizer=q)
    g = chain_graph([node], [(4, 2), (4, 2)])
    g.tensors["in"].scale = np.asarray([0.125, 0.5])
    x = np.random.default_rng(5).integers(-8, 8, size=(6, 4, 2))
    want = q.levels(apply_chain(ops, (x * np.array([0.125, 0.5])).astype(F32)))
    assert np.array_equal(run_graph(g, x), want)
    with pytest.raises(TypeError, match="cannot be stored"):
        graph_to_dict(g)
