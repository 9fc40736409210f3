"""Performance and resource estimate of the RTL dataflow design, before any build.

``estimate(graph)`` prices the hardware plan (``emit/rtl_plan.plan``: the very stages the Verilog emitter
instantiates) for an ECP5 target: cycles per frame of every stage and layer, and LUT4 / FF / DSP (MULT18X18D) /
BRAM (EBR, 18 kbit) counts.

The cycle model (the one formula, also written into each stage by the plan):

    stage cycles per frame = the largest of the beats it must accept, the beats it must emit, and its compute beats
        cf_mvu     vectors * SF * NF         (SF = MH / SIMD input beats, NF = MW / PE output groups per vector)
        cf_swg     max(H*W*CF, OH*OW*KH*KW*CF)            (CF = C / lanes)
        cf_pool    OH*OW*KH*KW*CF
        cf_thresh, cf_shift, cf_add, cf_fork   elements / lanes
        cf_dwc     elements / min(lanes in, lanes out)
    design cycles per frame (initiation interval) = the slowest stage   (every stage runs concurrently; FIFOs
    decouple them), checked against cycle-accurate simulation by tests/test_estimate.py.

Resources are per-stage formulas fitted to yosys ``synth_ecp5`` cell counts (stage_resources; the fit and its
data: benchmarks/estimate_vs_yosys.py).  On the 14 designs measured, the design totals are within about 15 % of
yosys for LUT4 sites and within about 20 % for flip-flops, and block RAM and DSP counts are exact; single small
stages can be off by up to 2x.  Place and route adds route-through LUTs (nextpnr reports a few to 20 % more), and
the board top (UART, framing) comes on top.
"""
from __future__ import annotations

import math

from .emit.rtl_plan import FIFO_DEPTH_DEFAULT, plan
from .ir.graph import Graph

# ECP5 EBR block configurations (depth, width) of one 18 kbit block
EBR_SHAPES = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
# Where yosys's memory mapping (memory_libmap) puts a memory.  A ROM goes to block RAM when that is cheaper: 128 per
# EBR block (the cost yosys's ECP5 block-RAM library gives) against 1/16 per bit of logic (our fit: it reproduces
# every ROM placement seen; a tie stays in logic).  For a RAM the rule is
# the one seen in synth_ecp5 results on 14 designs (distributed RAM otherwise): deep and at least 1 kbit, or not
# shallow and at least 2 kbit.
EBR_COST = 128
ROM_LOGIC_COST_PER_BIT = 1 / 16
LUTRAM_MAX_DEPTH = 32
RAM_EBR_MIN_DEPTH, RAM_EBR_MIN_DEPTH_BITS = 128, 1024
RAM_EBR_MIN_BITS = 2048


def _ebr_blocks(depth: int, width: int) -> int:
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in EBR_SHAPES)


def memory_cost(depth: int, width: int, ram: bool = False) -> dict:
    """LUT4s or EBR blocks for a depth x width memory (a ROM, or with ``ram`` a simple dual-port RAM)."""
    bits = depth * width
    if bits == 0:
        return {"lut": 0, "bram": 0}
    if ram:
        in_luts = not ((depth >= RAM_EBR_MIN_DEPTH and bits >= RAM_EBR_MIN_DEPTH_BITS)
                       or (depth > LUTRAM_MAX_DEPTH and bits >= RAM_EBR_MIN_BITS))
    else:
        in_luts = EBR_COST * _ebr_blocks(depth, width) >= ROM_LOGIC_COST_PER_BIT * bits
    if in_luts:
        if ram:    # TRELLIS_DPR16X4: 16 x 4 bits in 6 LUT sites (as the ECP5 flow counts them)
            return {"lut": math.ceil(depth / 16) * math.ceil(width / 4) * 6, "bram": 0}
        return {"lut": math.ceil(depth / 16) * width, "bram": 0}      # ROM: one LUT4 holds 16 x 1 bit
    return {"lut": 0, "bram": _ebr_blocks(depth, width)}


def _counter_bits(n: int) -> int:
    return max(1, (max(1, n) - 1).bit_length())


def rom_luts(depth: int, width: int) -> int:
    """LUT4s yosys spends on a ROM held in logic: each output bit is a function of the address, one LUT4 per 16
    words of the power-of-two address space (a one-word ROM is a constant: no LUT)."""
    if depth <= 1 or memory_cost(depth, width)["bram"]:
        return 0
    return 2 ** max(0, (depth - 1).bit_length() - 4) * width


# The coefficients below were fitted (non-negative least squares on relative error) to yosys synth_ecp5 cell counts
# of every stage of 8 hand-built designs (4 foldings each of a LeNet and an MLP) and the 3 zoo models; see
# benchmarks/estimate_vs_yosys.py, which re-measures them.  LUT counts are LUT4 sites: LUT4 + 2 per CCU2C carry cell
# + 6 per distributed-RAM TRELLIS_DPR16X4, what nextpnr counts before its packer adds route-through LUTs.
def stage_resources(stage) -> dict:
    """LUT / FF / DSP / BRAM of one plan stage (plus the FIFO that follows it in the top)."""
    p, info = stage.params, stage.info
    lut = ff = dsp = bram = 0
    if stage.kind == "cf_mvu":
        simd, pe, sf, nf = p["SIMD"], p["PE"], p["SF"], p["NF"]
        ib, wb, ab = p["IBITS"] + 1, p["WBITS"], p["ABITS"]
        pw = ib + wb
        mults = pe * simd
        weights_vary = nf * sf > 1          # one weight word: constants, which synthesis folds into the adders
        if p["USE_DSP"]:
            dsp += mults * math.ceil(ib / 18) * math.ceil(wb / 18)     # registered MULT18X18D
        elif weights_vary:
            lut += 1.8 * mults * ib * wb                                # shift-and-add partial products
        lut += 1.15 * mults * ab + 3.6 * simd * p["IBITS"] + 30         # adder trees + accumulators, input mux
        wrom = memory_cost(nf * sf, pe * simd * wb)
        brom = memory_cost(nf, pe * ab)
        ibuf = memory_cost(sf, simd * p["IBITS"], ram=True) if nf > 1 else {"lut": 0, "bram": 0}
        lut += 1.3 * (rom_luts(nf * sf, pe * simd * wb) + rom_luts(nf, pe * ab) + ibuf["lut"])
        ff += 1.4 * simd * p["IBITS"] + 2.5 * mults * wb * weights_vary + 0.12 * mults * pw + 2.3 * pe * ab + 33
        bram += wrom["bram"] + brom["bram"] + ibuf["bram"]
    elif stage.kind == "cf_swg":
        word = p["L"] * p["EW"]
        buf = memory_cost(info["buffer_words"], word, ram=True)
        lut += 780 + 0.3 * buf["lut"]          # position registers and their adders, ring bookkeeping, pad mux
        ff += 270 + 1.5 * word
        bram += buf["bram"]
    elif stage.kind == "cf_thresh":
        lanes, n, tb = p["L"], p["N"], p["TBITS"]
        rom = memory_cost(p["C"] // lanes, lanes * n * tb)
        # comparators against the threshold words, which synthesis merges with a ROM held in logic
        lut += 0.85 * rom["lut"] + (lanes * n * tb // 2 if rom["bram"] else 0) + 100
        ff += 1.1 * lanes * p["IBITS"] + 16
        bram += rom["bram"]
    elif stage.kind == "cf_shift":
        lut += p["L"] * (2 * max(1, p["IBITS"] - max(0, p["SHIFT"])) + p["OBITS"]) + 20   # rounding add, clip
        ff += 0.8 * p["L"] * p["OBITS"] + 5
    elif stage.kind == "cf_pool":
        xw = max(p["IBITS"], p["OBITS"]) + 1
        bank = memory_cost(p["CF"], p["L"] * xw, ram=True)
        lut += 2 * p["L"] * xw + bank["lut"] + 40
        ff += 0.85 * p["L"] * xw + 8
        bram += bank["bram"]
    elif stage.kind == "cf_dwc":
        k = max(p["IN_L"], p["OUT_L"]) // min(p["IN_L"], p["OUT_L"])
        big = max(p["IN_L"], p["OUT_L"]) * p["EW"]
        # up: a k-way part-select into the gather register; down: a k-way output mux
        lut += (0.6 if p["OUT_L"] > p["IN_L"] else 0.3) * big * math.log2(k) + 17
        ff += 1.3 * big + 1
    elif stage.kind == "cf_add":
        lut += p["L"] * 2 * (p["ABITS"] + p["BBITS"] + p["OBITS"])     # constant multiplies as adds + the sum
        ff += p["L"] * p["OBITS"] + 1
    elif stage.kind == "cf_fork":
        lut += 4
    width = stage.out_lanes * stage.out_bits                            # the FIFO after each output
    for depth in stage.fifo_depths or [FIFO_DEPTH_DEFAULT]:
        fifo = memory_cost(depth, width, ram=depth > 2)
        lut += fifo["lut"] + (width if depth <= 2 else 0)
        bram += fifo["bram"]
        ff += 8 + 2 * _counter_bits(depth)
    return {"lut": int(lut), "ff": int(ff), "dsp": int(dsp), "bram": int(bram)}


def estimate(graph: Graph, clock_mhz: float = 100.0) -> dict:
    """Per-layer and total cycles and resources of the RTL design of ``graph``.

    Returns {"cycles_per_frame", "bottleneck", "fps" (at clock_mhz), "clock_mhz", "layers": [{name, op, cycles,
    lut, ff, dsp, bram, stages: [...]}], "stages": [{kind, node, cycles, lut, ff, dsp, bram}], "totals": {...}}.
    """
    stages = plan(graph)
    rows = []
    for stage in stages:
        row = {"kind": stage.kind, "node": stage.node.name if stage.node is not None else None,
               "label": stage.label, "cycles": int(stage.cycles)}
        row.update(stage_resources(stage))
        rows.append(row)
    layers = []
    for node in graph.nodes:
        mine = [r for r in rows if r["node"] == node.name]
        entry = {"name": node.name, "op": node.op, "cycles": max([r["cycles"] for r in mine], default=0),
                 "stages": [r["kind"] for r in mine]}
        if node.has_mvu:
            entry.update(pe=node.pe, simd=node.simd)
        for key in ("lut", "ff", "dsp", "bram"):
            entry[key] = sum(r[key] for r in mine)
        layers.append(entry)
    converters = [r for r in rows if r["node"] is None]
    if converters:
        layers.append({"name": "(width converters)", "op": "cf_dwc",
                       "cycles": max(r["cycles"] for r in converters), "stages": ["cf_dwc"] * len(converters),
                       **{k: sum(r[k] for r in converters) for k in ("lut", "ff", "dsp", "bram")}})
    slowest = max(rows, key=lambda r: r["cycles"]) if rows else None
    cycles = slowest["cycles"] if slowest else 1
    totals = {k: sum(r[k] for r in rows) for k in ("lut", "ff", "dsp", "bram")}
    return {
        "cycles_per_frame": int(cycles),
        "bottleneck": (slowest["node"] or slowest["label"]) if slowest else None,
        "clock_mhz": clock_mhz,
        "fps": clock_mhz * 1e6 / cycles,
        "layers": layers,
        "stages": rows,
        "totals": totals,
    }
