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

Resources are first-order formulas (documented next to each term below): good for comparing foldings and for
fitting a device, not a replacement for the synthesis report of the ECP5 flow.
"""
from __future__ import annotations

import math

from .emit.rtl_plan import FIFO_DEPTH_DEFAULT, plan
from .ir.graph import Graph

# ECP5 EBR block configurations (depth, width) of one 18 kbit block
EBR_SHAPES = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
# memories up to this many bits, or this shallow, are built from LUTs (distributed RAM / ROM) rather than block RAM
LUTRAM_MAX_BITS = 2048
LUTRAM_MAX_DEPTH = 32


def memory_cost(depth: int, width: int, ram: bool = False) -> dict:
    """LUT4s or EBR blocks for a depth x width memory (a ROM, or with ``ram`` a simple dual-port RAM)."""
    bits = depth * width
    if bits == 0:
        return {"lut": 0, "bram": 0}
    if bits <= LUTRAM_MAX_BITS or depth <= LUTRAM_MAX_DEPTH:
        if ram:    # TRELLIS_DPR16X4: 16 x 4 bits in 6 LUT sites (as the ECP5 flow counts them)
            return {"lut": math.ceil(depth / 16) * math.ceil(width / 4) * 6, "bram": 0}
        return {"lut": math.ceil(depth / 16) * width, "bram": 0}      # ROM: one LUT4 holds 16 x 1 bit
    return {"lut": 0, "bram": min(math.ceil(width / w) * math.ceil(depth / d) for d, w in EBR_SHAPES)}


def _counter_bits(n: int) -> int:
    return max(1, (max(1, n) - 1).bit_length())


def stage_resources(stage) -> dict:
    """LUT / FF / DSP / BRAM of one plan stage (plus the FIFO that follows it in the top)."""
    p, info = stage.params, stage.info
    lut = ff = dsp = bram = 0
    if stage.kind == "cf_mvu":
        simd, pe, sf, nf = p["SIMD"], p["PE"], p["SF"], p["NF"]
        ib, wb, ab = p["IBITS"] + 1, p["WBITS"], p["ABITS"]
        pw = ib + wb
        mults = pe * simd
        if p["USE_DSP"]:
            dsp += mults * math.ceil(ib / 18) * math.ceil(wb / 18)     # registered MULT18X18D
        else:
            lut += mults * ib * wb                                      # shift-and-add partial products
        lut += pe * simd * ab                                           # adder tree + accumulator (carry chains)
        ff += simd * p["IBITS"] + mults * (wb + pw) + 4 * pe * ab + 3 * 16   # pipeline, acc, bias, out, counters
        wrom = memory_cost(nf * sf, pe * simd * wb)
        brom = memory_cost(nf, pe * ab)
        ibuf = memory_cost(sf, simd * p["IBITS"], ram=True) if nf > 1 else {"lut": 0, "bram": 0}
        lut += wrom["lut"] + brom["lut"] + ibuf["lut"]
        bram += wrom["bram"] + brom["bram"] + ibuf["bram"]
    elif stage.kind == "cf_swg":
        word = p["L"] * p["EW"]
        buf = memory_cost(info["buffer_words"], word, ram=True)
        lut += buf["lut"] + 250 + word                                  # address arithmetic, counters, pad mux
        ff += word + 8 * 16 + 32
        bram += buf["bram"]
    elif stage.kind == "cf_thresh":
        lanes, n, tb = p["L"], p["N"], p["TBITS"]
        lut += lanes * n * (tb + _counter_bits(n + 1))                  # comparators + popcount
        ff += lanes * (p["IBITS"] + n * tb + p["OBITS"]) + 16
        rom = memory_cost(p["C"] // lanes, lanes * n * tb)
        lut += rom["lut"]
        bram += rom["bram"]
    elif stage.kind == "cf_shift":
        lut += p["L"] * 3 * (p["IBITS"] + p["OBITS"])                   # rounding add + two clip comparators
        ff += p["L"] * p["OBITS"] + 1
    elif stage.kind == "cf_pool":
        xw = max(p["IBITS"], p["OBITS"]) + 1
        bank = memory_cost(p["CF"], p["L"] * xw, ram=True)
        lut += p["L"] * 2 * xw + bank["lut"] + 32
        ff += p["L"] * p["OBITS"] + 32
        bram += bank["bram"]
    elif stage.kind == "cf_dwc":
        big = max(p["IN_L"], p["OUT_L"]) * p["EW"]
        lut += big
        ff += 2 * big + 8
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
