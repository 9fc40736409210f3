"""Each RTL library module simulated (Verilator) against the numpy reference kernels, under random input stalls
and output back-pressure.  A module is exercised through the smallest graph that instantiates it, so the same
cf_accel testbench drives every module through the accelerator's one-element-per-beat ports."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "rtl"))
from rtl_graphs import GraphBuilder, artifact_for, random_inputs  # noqa: E402

from convflow.compiler.dataflow import build_plan  # noqa: E402
from convflow.compiler.ir.graph import IntType  # noqa: E402
from convflow.compiler.ir.interpret import run_graph  # noqa: E402

rtlsim = pytest.importorskip("convflow.runtime.backends.rtlsim")
try:
    rtlsim.find_verilator()
except Exception as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no Verilator here: {exc}", allow_module_level=True)


def estimate_cycles(graph) -> int:
    return build_plan(graph).cycles_per_frame


def plan(graph) -> list:
    """The stages of the graph's dataflow plan."""
    return build_plan(graph).stages


def check(graph, tmp_path, frames=150, backpressure=0.3, seed=3, kinds=()):
    used = {s.kind for s in plan(graph)}
    assert set(kinds) <= used, f"graph does not exercise {set(kinds) - used}"
    backend = rtlsim.RtlsimBackend(artifact_for(graph, tmp_path), backpressure=backpressure, seed=seed)
    x = random_inputs(graph, frames, seed=seed)
    got = backend.run(x)
    want = run_graph(graph, x)
    assert got.dtype == np.int64 and got.shape == want.shape
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} mismatches, first at {bad[0]}: got {got[tuple(bad[0])]} want {want[tuple(bad[0])]}"
    return backend


def test_swg_mvu_conv_strided_padded_folded(tmp_path):
    """cf_swg (stride 2, padding, non-square image) + cf_mvu (PE=2, SIMD=2, signed input, LUT multipliers)."""
    b = GraphBuilder("conv_only", (9, 7, 4), IntType(4, True), seed=1)
    b.conv(6, k=3, stride=2, pad=1, pe=2, simd=2, wbits=3, name="conv/strided")
    check(b.graph(), tmp_path, kinds={"cf_swg", "cf_mvu", "cf_dwc"})


def test_mvu_dense_dsp_multipliers(tmp_path):
    """cf_mvu as a Dense layer with wide operands (USE_DSP=1), PE=5, SIMD=4."""
    b = GraphBuilder("dense_only", (12,), IntType(8, True), seed=2)
    b.dense(10, pe=5, simd=4, wbits=7, name="fc")
    stage = [s for s in plan(b.graph()) if s.kind == "cf_mvu"][0]
    assert stage.params["USE_DSP"] == 1
    check(b.graph(), tmp_path, kinds={"cf_mvu", "cf_dwc"})


def test_xnor_mvu_binarised_conv_and_dense(tmp_path):
    """cf_xnor_mvu: layers reading bipolar bits with +-2 weights (a binarised conv, folded, then binarised dense
    layers with PE=1 and PE=SIMD=all) -- XNOR and popcount, equal to the reference."""
    b = GraphBuilder("binarised", (6, 5, 4), IntType(1, False), seed=10)
    b.conv(8, k=3, pad=0, pe=2, simd=4, binarised=True, name="bconv").threshold(1, name="bin1").flatten()
    b.dense(6, pe=3, simd=8, binarised=True, name="bfc").threshold(1, name="bin2")
    b.dense(4, pe=4, simd=6, binarised=True, name="bfc2")
    stages = plan(b.graph())
    assert [s.kind for s in stages].count("cf_xnor_mvu") == 3 and "cf_mvu" not in {s.kind for s in stages}
    check(b.graph(), tmp_path, kinds={"cf_xnor_mvu"})


@pytest.mark.parametrize("pe, simd", [(1, 1), (3, 3), (6, 2), (2, 6)])
def test_dwmvu_depthwise_conv(tmp_path, pe, simd):
    """cf_dwmvu: depthwise 3x3 convolutions (stride 2 with padding, signed input, wide weights on DSPs), with SIMD
    channels per beat and the layer's PE lanes after a width converter."""
    b = GraphBuilder("depthwise", (7, 6, 6), IntType(5, True), seed=11)
    b.conv(6, k=3, stride=2, pad=1, pe=pe, simd=simd, wbits=6, depthwise=True, name="dw").threshold(3, name="t")
    b.conv(6, k=3, pad=1, pe=6, simd=6, wbits=3, depthwise=True, name="dw2")
    check(b.graph(), tmp_path, kinds={"cf_dwmvu", "cf_swg"})
    paced = check(b.graph(), tmp_path / "paced", frames=20, backpressure=0.0)
    assert paced.stats["cycles_per_frame"] <= 1.05 * estimate_cycles(b.graph())


def test_upsample_nearest(tmp_path):
    """cf_upsample: x2 / x3 repeats of rows and pixels, several beats per pixel (a PE=2 conv before it), then x1 x 2,
    and exact cycles (one beat out per cycle)."""
    b = GraphBuilder("upsample", (3, 4, 4), IntType(5, False), seed=12)
    b.conv(4, k=1, pad=0, pe=2, simd=4, wbits=3).threshold(3, name="t").upsample(2, 3, name="up").upsample(1, 2)
    check(b.graph(), tmp_path, kinds={"cf_upsample"})
    paced = check(b.graph(), tmp_path / "paced", frames=20, backpressure=0.0)
    assert paced.stats["cycles_per_frame"] <= 1.05 * estimate_cycles(b.graph())


def test_thresh_per_tensor_and_per_channel(tmp_path):
    """cf_thresh: per-channel thresholds after a PE=2 conv, then one shared threshold row with a negative base."""
    b = GraphBuilder("thresholds", (6, 6, 2), IntType(8, False), seed=3)
    b.conv(4, k=1, pad=0, pe=2, simd=1, wbits=4).threshold(3, name="per_channel")
    b.threshold(2, per_channel=False, out_base=-2, name="shared")
    check(b.graph(), tmp_path, kinds={"cf_thresh"})


def test_shift_round_half_even_and_clip(tmp_path):
    """cf_shift: right shift with round half to even and clipping, then a left shift."""
    b = GraphBuilder("shifts", (5, 5, 3), IntType(10, True), seed=4)
    b.shift(3, lo=-40, hi=50, name="down").shift(-2, lo=-100, hi=120, name="up")
    check(b.graph(), tmp_path, kinds={"cf_shift"})


def test_maxpool_sumpool(tmp_path):
    """cf_swg + cf_pool: overlapping 3x3/2 max pool padded with the type minimum (signed input), then 2x2 sum pool."""
    b = GraphBuilder("pools", (10, 9, 3), IntType(5, True), seed=5)
    b.maxpool(k=3, stride=2, pad=1, name="max").sumpool(k=2, stride=2, name="sum")
    check(b.graph(), tmp_path, kinds={"cf_swg", "cf_pool"})


def test_dwc_lane_changes_through_gcd(tmp_path):
    """cf_dwc up and down, including 3 lanes -> 2 lanes (through 1), and back to one element per beat."""
    b = GraphBuilder("lanes", (4, 4, 6), IntType(3, False), seed=6)
    b.conv(6, k=1, pad=0, pe=3, simd=6, wbits=3).threshold(2).flatten().dense(4, pe=2, simd=2, wbits=3)
    stages = plan(b.graph())
    convs = [(s.params["IN_L"], s.params["OUT_L"]) for s in stages if s.kind == "cf_dwc"]
    assert (3, 1) in convs and (1, 2) in convs and (1, 6) in convs
    check(b.graph(), tmp_path, kinds={"cf_dwc"})


def test_concat_of_two_branches(tmp_path):
    """cf_concat: a tensor joined with a 3x3 convolution of it (the convolution's line buffer makes the direct branch
    wait), then with itself (one stream read twice: each copy waits a pixel while the other is read)."""
    b = GraphBuilder("concat", (6, 5, 4), IntType(5, False), seed=8)
    a = b.conv(4, k=1, pad=0, pe=2, simd=2, wbits=3).threshold(3, name="a").mark()
    b.conv(6, k=3, pad=1, pe=3, simd=1, wbits=3).threshold(2, name="c").concat(a, name="cat")
    joined = b.mark()
    b.concat(joined, name="self cat")
    check(b.graph(), tmp_path, kinds={"cf_fork", "cf_concat"})
    paced = check(b.graph(), tmp_path / "paced", frames=20, backpressure=0.0)
    assert paced.stats["cycles_per_frame"] <= 1.05 * estimate_cycles(b.graph())


def test_residual_add_of_two_convolution_branches(tmp_path):
    """A ResNet block whose two branches are both convolutions (3x3/2 -> 3x3 against a 1x1/2 shortcut): the
    shortcut runs ahead, and its FIFO, sized from the branch latencies, must hold the difference.  With the default
    FIFOs this ran at 14,116 cycles/frame against the plan's 9,216 (with the FIFO on the wrong branch it can
    deadlock); sized, it runs at the plan's pace, under back-pressure too."""
    b = GraphBuilder("two conv branches", (16, 16, 4), IntType(6, False), seed=9)
    a = b.conv(8, k=1, pad=0, pe=2, simd=1, wbits=3).threshold(3, name="a").mark()
    b.conv(8, k=1, stride=2, pad=0, pe=4, simd=4, wbits=3).threshold(3, name="shortcut")
    shortcut = b.mark()
    b.at(a).conv(8, k=3, stride=2, pad=1, pe=2, simd=2, wbits=3).threshold(3, name="main1")
    b.conv(8, k=3, pad=1, pe=2, simd=2, wbits=3).threshold(3, name="main2").add(shortcut, name="join")
    check(b.graph(), tmp_path, frames=40, kinds={"cf_fork", "cf_add"})
    paced = check(b.graph(), tmp_path / "paced", frames=20, backpressure=0.0)
    assert paced.stats["cycles_per_frame"] <= 1.05 * estimate_cycles(b.graph())


def test_fork_add_residual_block(tmp_path):
    """cf_fork + cf_add: a residual block (the skip branch waits in a frame-deep FIFO), then a second Add."""
    b = GraphBuilder("residual", (6, 5, 4), IntType(6, False), seed=7)
    a = b.conv(4, k=1, pad=0, pe=2, simd=2, wbits=3).threshold(3, name="a").mark()
    b.conv(4, k=3, pad=1, pe=4, simd=1, wbits=3).threshold(3).add(a, mul_a=2, mul_b=-3, name="res add")
    s = b.mark()
    b.shift(1, lo=-20, hi=20).add(s, name="second add")
    check(b.graph(), tmp_path, kinds={"cf_fork", "cf_add"})


# cf_swg in window mode (SIMD does not divide the channels, up to the whole KH x KW x C window): shape, cout, k,
# stride, pad, pe, simd.  Odd shapes, strides, padding; SIMD > C, SIMD = K*K*C, SIMD spanning pixels but not whole
# ones (C=2, SIMD=6: three pixels of two channels; C=4, SIMD=3: words straddling pixels), a 5x5 kernel.
WINDOW_CASES = {
    "c1_simd9_pad1": ((8, 8, 1), 4, 3, 1, 1, 4, 9),
    "c3_simd27_stride2_odd": ((9, 7, 3), 4, 3, 2, 1, 2, 27),
    "c2_simd6_straddles_pixels": ((9, 7, 2), 4, 3, 1, 1, 2, 6),
    "c4_simd3_under_c": ((7, 9, 4), 4, 3, 1, 1, 2, 3),
    "k5_stride2_pad2_simd25": ((11, 10, 1), 4, 5, 2, 2, 4, 25),
    "stride3_no_pad_simd18": ((10, 10, 2), 4, 3, 3, 0, 1, 18),
}


@pytest.mark.parametrize("case", list(WINDOW_CASES), ids=list(WINDOW_CASES))
def test_swg_window_mode_simd_beyond_the_channels(tmp_path, case):
    shape, cout, k, stride, pad, pe, simd = WINDOW_CASES[case]
    b = GraphBuilder(f"window {case}", shape, IntType(4, True), seed=4)
    b.conv(cout, k=k, stride=stride, pad=pad, pe=pe, simd=simd, wbits=3, name="conv")
    graph = b.graph()
    swg = next(s for s in plan(graph) if s.kind == "cf_swg")
    assert swg.window_mode and swg.params["OL"] == simd and swg.params["L"] == shape[2]
    check(graph, tmp_path, frames=60, kinds={"cf_swg", "cf_mvu"})


@pytest.mark.parametrize("shape, k, stride, pad", [((28, 28, 1), 3, 1, 1), ((11, 10, 1), 5, 2, 2),
                                                   ((12, 12, 3), 3, 1, 1)])
def test_swg_window_mode_runs_at_one_pixel_per_cycle(tmp_path, shape, k, stride, pad):
    """SIMD = KH*KW*C: the window generator takes a pixel per cycle and writes a window per cycle, so the layer
    keeps up with its input; rtlsim's cycles per frame equal the plan's, exactly."""
    b = GraphBuilder("window pace", shape, IntType(8, False), seed=5)
    b.conv(1, k=k, stride=stride, pad=pad, pe=1, simd=k * k * shape[2], wbits=3, name="conv")
    graph = b.graph()
    backend = check(graph, tmp_path, frames=12, backpressure=0.0)
    assert backend.stats["cycles_per_frame"] == estimate_cycles(graph)
    assert estimate_cycles(graph) == shape[0] * shape[1] * shape[2]      # the input interface's pace


# The resource choices of a layer (node.mult, node.weight_mem, node.buffer_mem; the folding search picks them):
# each implemented by cf_mvu / cf_swg and bit-exact under back-pressure.
RESOURCE_CASES = {
    "dsp2_packed_unsigned_in": dict(bits=IntType(6, False), wbits=4, pe=4, simd=2, mult="dsp2"),
    "dsp2_packed_signed_in": dict(bits=IntType(5, True), wbits=5, pe=2, simd=3, mult="dsp2"),
    "dsp_wide_weights_in_luts": dict(bits=IntType(8, True), wbits=7, pe=2, simd=2, mult="lut"),
    "weights_in_block_ram": dict(bits=IntType(4, False), wbits=3, pe=2, simd=2, weight_mem="block"),
    "weights_in_logic_ring_in_block_ram": dict(bits=IntType(4, False), wbits=3, pe=1, simd=2, weight_mem="lut",
                                               buffer_mem="block"),
    "ring_in_lut_ram": dict(bits=IntType(4, False), wbits=3, pe=2, simd=1, buffer_mem="lut"),
    # a logic ROM split by PE (36 words: deeper than cf_mvu's SPLIT_WORDS), each read at its own address copy;
    # signed input, LUT multipliers
    "weights_in_logic_split_by_pe": dict(bits=IntType(5, True), wbits=4, pe=2, simd=1, weight_mem="lut",
                                         mult="lut"),
    "window_mode_ring_in_block_ram": dict(bits=IntType(4, False), wbits=3, pe=2, simd=9, buffer_mem="block"),
}


@pytest.mark.parametrize("case", list(RESOURCE_CASES), ids=list(RESOURCE_CASES))
def test_mvu_and_swg_resource_choices(tmp_path, case):
    spec = dict(RESOURCE_CASES[case])
    b = GraphBuilder(f"resources {case}", (7, 6, 2 if spec["simd"] != 9 else 1), spec.pop("bits"), seed=6)
    b.conv(4, k=3, pad=1, pe=spec.pop("pe"), simd=spec.pop("simd"), wbits=spec.pop("wbits"), name="conv")
    b.flatten().dense(3, pe=1, simd=4, wbits=3, name="fc")
    graph = b.graph()
    conv = graph.nodes[0]
    for field, value in spec.items():
        setattr(conv, field, value)
    stages = plan(graph)
    mvu = next(s for s in stages if s.kind == "cf_mvu" and s.node is conv)
    swg = next(s for s in stages if s.kind == "cf_swg")
    assert mvu.params["USE_DSP"] == {"lut": 0, "dsp": 1, "dsp2": 2}[spec.get("mult", "lut" if not mvu.use_dsp
                                                                           else "dsp")]
    # ("auto" says logic where the ROM goes there anyway, so that cf_mvu splits it by PE)
    assert mvu.params.get("WMEM", 0) in {"auto": (0, 2), "block": (1,), "lut": (2,)}[spec.get("weight_mem", "auto")]
    assert swg.params.get("BMEM", 0) == {"auto": 0, "block": 1, "lut": 2}[spec.get("buffer_mem", "auto")]
    check(graph, tmp_path, frames=80, kinds={"cf_swg", "cf_mvu"})


def test_auto_weight_rom_in_logic_is_split_by_pe():
    """A weight ROM left to synthesis ("auto") that the placement rule puts in logic is emitted as a logic ROM
    (WMEM=2), which cf_mvu splits by PE; a PE=1 unit stays "auto", and so does one the rule puts in block RAM,
    unless it is deep enough to be built in banks (WMEM=1, WBANK)."""
    def wmem(cout, cin, pe, simd):
        b = GraphBuilder("rom place", (6, 6, cin), IntType(4, False), seed=2)
        b.conv(cout, k=3, pad=1, pe=pe, simd=simd, wbits=4, name="conv")
        mvu = next(s for s in plan(b.graph()) if s.kind == "cf_mvu")
        return mvu.params.get("WMEM", 0)
    assert wmem(8, 4, pe=4, simd=4) == 2                    # 18 words x 64 bits: logic
    assert wmem(8, 4, pe=1, simd=4) == 0                    # one PE: nothing to split
    assert wmem(8, 4, pe=4, simd=36) == 0                   # 2 words: one LUT4 a bit, nothing to split
    assert wmem(64, 64, pe=4, simd=8) == 1                  # 1152 words x 128 bits: block RAM, in banks (WBANK)


def test_dsp2_needs_an_even_pe_and_narrow_operands():
    from convflow.hw.errors import FoldingError

    b = GraphBuilder("dsp2 refused", (4, 4, 2), IntType(8, True), seed=1)
    b.conv(4, k=1, pad=0, pe=2, simd=2, wbits=6, name="conv")          # 9 + 2 x 6 = 21 > 18 bits
    graph = b.graph()
    graph.nodes[0].mult = "dsp2"
    with pytest.raises(FoldingError, match="dsp2"):
        plan(graph)


@pytest.mark.parametrize("pack", [4, 9])
def test_mvu_weight_rom_packed_words(tmp_path, pack):
    """cf_mvu with WPACK weight words a ROM word (the packing the compiler chooses where it saves block RAM,
    memory.rom_pack): 18 words of 12 bits in 5 (padded) or 2 words, bit-exact under back-pressure, same cycles.
    The ROM is one bank (WBANK): its output is registered before the slice multiplexer."""
    from convflow.compiler.emit.rtl import write_rtl

    b = GraphBuilder(f"weight pack {pack}", (7, 6, 2), IntType(4, False), seed=6)
    b.conv(4, k=3, pad=1, pe=2, simd=2, wbits=3, name="conv").flatten().dense(3, pe=1, simd=4, wbits=3, name="fc")
    graph = b.graph()
    graph.nodes[0].weight_mem = "block"
    design = build_plan(graph)
    mvu = next(s for s in design.stages if s.kind == "cf_mvu" and s.node is graph.nodes[0])
    mvu.weight_pack = pack
    assert mvu.params["WPACK"] == pack and mvu.packed_weight_words().shape == (-(-18 // pack), pack * 4)
    assert mvu.params["WBANK"] == -(-18 // pack)    # one bank: its output registered before the slice multiplexer
    write_rtl(graph, tmp_path / "rtl", model_name=graph.name, plan=design)
    backend = rtlsim.RtlsimBackend(artifact_for(graph, tmp_path, write=False), backpressure=0.3, seed=3)
    x = random_inputs(graph, 60, seed=3)
    got = backend.run(x)
    assert np.array_equal(got, run_graph(graph, x))
    backend = rtlsim.RtlsimBackend(artifact_for(graph, tmp_path, write=False), backpressure=0.0, seed=3)
    backend.run(random_inputs(graph, 20, seed=4))
    assert backend.stats["cycles_per_frame"] == design.cycles_per_frame


@pytest.mark.parametrize("pack", [1, 2])
def test_mvu_weight_rom_in_banks(tmp_path, pack):
    """A block-RAM weight ROM deeper than one row of blocks is built as banks (cf_mvu's WBANK, one file a bank),
    each bank's output registered before the bank multiplexer: 1,280 words of 36 bits (plain, or 2,560 words of 18
    bits packed two a word) in banks of 512, the last one partial.  Bit-exact under back-pressure (the output FIFO
    sized from the model's latency, one cycle longer here, holds what is in flight), and the cycles per frame equal
    the estimate (the input's pace: 1,920 elements against the unit's 1,280 beats)."""
    from convflow.compiler.emit.rtl import write_rtl

    b = GraphBuilder(f"weight banks {pack}", (1920,), IntType(4, False), seed=8)
    b.dense(8, pe=4 // pack, simd=3, wbits=3, name="fc").dense(3, pe=1, simd=1, wbits=3, name="out")
    graph = b.graph()
    graph.nodes[0].weight_mem = "block"
    design = build_plan(graph)
    mvu = next(s for s in design.stages if s.kind == "cf_mvu" and s.node is graph.nodes[0])
    mvu.weight_pack = pack              # (18-bit words packed two a ROM word; 36-bit words as they are)
    assert mvu.rom_shape == (1280, 36) and mvu.weight_bank == 512
    assert mvu.params["WMEM"] == 1 and mvu.params["WBANK"] == 512
    files = write_rtl(graph, tmp_path / "rtl", model_name=graph.name, plan=design)
    banks = sorted(f.name for f in files if "_w_b" in f.name and mvu.node.name in f.name)
    assert len(banks) == 3 and banks[0].endswith("_b00.hex")
    assert [len(f.read_text().split()) for f in files if f.name in banks] == [512, 512, 256]
    backend = rtlsim.RtlsimBackend(artifact_for(graph, tmp_path, write=False), backpressure=0.3, seed=3)
    x = random_inputs(graph, 12, seed=3)
    assert np.array_equal(backend.run(x), run_graph(graph, x))
    backend = rtlsim.RtlsimBackend(artifact_for(graph, tmp_path, write=False), backpressure=0.0, seed=3)
    backend.run(random_inputs(graph, 6, seed=4))
    assert backend.stats["cycles_per_frame"] == design.cycles_per_frame


# Back-pressure straight on each matrix-vector unit's output (cf_outbuf.v: a free-running pipeline whose issue waits
# on a registered credit): the unit under test is the design's last stage with one lane out, so the testbench's
# m_ready is its m_ready, and it is the bottleneck with one output word per beat (a 1x1 layer, SF = 1 for cf_mvu /
# cf_xnor_mvu, KK = 1 for cf_dwmvu), so it issues every cycle it may.  "bursts" holds m_ready low for up to 64
# cycles at a time, longer than the unit's FIFO takes to fill, so its credit runs out and everything behind it
# stalls; "toggle" lets one word out every other cycle, so the credit stops and restarts the unit all the time.
# The layer before it is a full-window convolution (SF = 1: the deepest output FIFO, DEPTH = 2 + 8 - 1) stalled in turn.
def _bp_mvu():
    b = GraphBuilder("mvu under back-pressure", (6, 5, 2), IntType(4, True), seed=21)
    b.conv(4, k=3, pad=1, pe=4, simd=18, wbits=3, name="full window").threshold(2, name="t")
    return b.conv(5, k=1, pad=0, pe=1, simd=4, wbits=3, name="last")


def _bp_xnor():
    b = GraphBuilder("xnor under back-pressure", (6, 5, 2), IntType(1, False), seed=22)
    b.conv(4, k=3, pad=0, pe=4, simd=18, binarised=True, name="full window").threshold(1, name="t")
    return b.conv(5, k=1, pad=0, pe=1, simd=4, binarised=True, name="last")


def _bp_dwmvu():
    b = GraphBuilder("dwmvu under back-pressure", (6, 5, 2), IntType(4, True), seed=23)
    b.conv(4, k=3, pad=1, pe=4, simd=18, wbits=3, name="full window").threshold(3, name="t")
    return b.conv(4, k=1, pad=0, pe=1, simd=1, wbits=4, depthwise=True, name="last")


BACKPRESSURE_UNITS = {"cf_mvu": _bp_mvu, "cf_xnor_mvu": _bp_xnor, "cf_dwmvu": _bp_dwmvu}


@pytest.mark.parametrize("kind", list(BACKPRESSURE_UNITS))
def test_mvu_units_under_long_and_toggling_back_pressure(tmp_path, kind):
    graph = BACKPRESSURE_UNITS[kind]().graph()
    design = build_plan(graph)
    last = design.stages[-1]
    assert last.kind == kind and last.output.lanes == 1 and last.cycles == design.cycles_per_frame
    x = random_inputs(graph, 40, seed=5)
    want = run_graph(graph, x)
    art = artifact_for(graph, tmp_path)
    free = rtlsim.RtlsimBackend(art, backpressure=0.0)
    assert np.array_equal(free.run(x), want)
    assert free.stats["cycles_per_frame"] == design.cycles_per_frame      # never stalled: a beat every cycle
    for pattern, p in (("bursts", 0.0), ("toggle", 0.0), ("bursts", 0.2)):
        backend = rtlsim.RtlsimBackend(art, backpressure=p, backpressure_pattern=pattern, seed=7)
        got = backend.run(x)
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"{pattern}: {len(bad)} mismatches, first at {bad[0]}"
        # the output port was the bottleneck: the unit was held back about half of the time
        assert backend.stats["cycles_per_frame"] >= 1.5 * design.cycles_per_frame, (pattern, backend.stats)
