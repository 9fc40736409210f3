"""Performance and resource estimate of the dataflow design, before any build.

``estimate(graph)`` sums the hardware plan (dataflow/: the very stages both emitters print): cycles per frame of
every stage and layer, and for an ECP5 LUT4 / FF / DSP (MULT18X18D) / BRAM (EBR, 18 kbit) counts -- each stage's
own resource model, fitted to yosys ``synth_ecp5`` cell counts (benchmarks/estimate_vs_yosys.py).  On the 14
designs measured, the design totals are within about 15 % of yosys for LUT4 sites and within about 20 % for
flip-flops, and block RAM and DSP counts are exact; single small stages can be off by up to 2x.  Place and route
adds route-through LUTs (nextpnr reports a few to 20 % more), and the board top (UART, framing) comes on top.

The HLS design is the same plan printed as C++ (every stage pipelined at II = 1 on the plan's lanes), so its cycles
per frame are the same figure; ``hls`` gives them with the block RAM (RAMB18) its memories need on a Xilinx part.
That memory figure is analytic (the plan's memories against the RAMB18 shapes), not calibrated: no Vitis here.

The cycle model is the plan's (dataflow/plan.py): a stage's cycles are the most beats it must accept, emit or
compute, and the design's cycles per frame are those of its slowest stage, checked against cycle-accurate
simulation by tests/test_estimate.py.
"""
from __future__ import annotations

from .dataflow import build_plan
from .dataflow.memory import bram18_blocks
from .dataflow.mvu import DepthwiseUnit, MatrixVectorUnit
from .dataflow.plan import Plan
from .dataflow.window import SlidingWindowGen
from .dataflow.xnor import XnorMatrixVectorUnit
from .ir.graph import Graph

RESOURCES = ("lut", "ff", "dsp", "bram")
DEFAULT_CLOCK_MHZ = 100.0
# the bottleneck's name when no stage is slower than the input interface delivers frames
INPUT_INTERFACE = "(input interface)"


def estimate(graph: Graph, clock_mhz: float = DEFAULT_CLOCK_MHZ, plan: Plan | None = None) -> dict:
    """Per-layer and total cycles and resources of the design of ``graph``.

    Returns {"cycles_per_frame", "bottleneck", "input_interface", "fps" (at clock_mhz), "clock_mhz", "layers":
    [{name, op, cycles, lut, ff, dsp, bram, stages: [...]}], "stages": [{kind, node, cycles, lut, ff, dsp, bram}],
    "totals": {...}, "hls": {...}}.
    """
    plan = plan or build_plan(graph)
    rows = []
    for stage in plan.stages:
        row = {"kind": stage.kind, "node": stage.node.name if stage.node is not None else None,
               "label": stage.label, "cycles": int(stage.cycles)}
        row.update(stage.resources())
        rows.append(row)
    layers = []
    for node in graph.nodes:
        mine = [r for r, stage in zip(rows, plan.stages) if stage.node is node]
        entry = {"name": node.name, "op": node.op, "cycles": max([r["cycles"] for r in mine], default=0),
                 "stages": [r["kind"] for r in mine]}
        if node.has_mvu:
            entry.update(pe=node.pe, simd=node.simd)
        for key in RESOURCES:
            entry[key] = sum(r[key] for r in mine)
        layers.append(entry)
    converters = [r for r in rows if r["node"] is None]
    if converters:
        layers.append({"name": "(width converters)", "op": "cf_dwc",
                       "cycles": max(r["cycles"] for r in converters), "stages": ["cf_dwc"] * len(converters),
                       **{k: sum(r[k] for r in converters) for k in RESOURCES}})
    slowest = max(rows, key=lambda r: r["cycles"]) if rows else None
    cycles = plan.cycles_per_frame
    bottleneck = (slowest["node"] or slowest["label"]) if slowest else None
    if slowest is None or plan.input_cycles > slowest["cycles"]:
        bottleneck = INPUT_INTERFACE
    return {
        "cycles_per_frame": int(cycles),
        "bottleneck": bottleneck,
        "input_interface": {"elements_per_cycle": plan.input_pace, "cycles": plan.input_cycles},
        "clock_mhz": clock_mhz,
        "fps": clock_mhz * 1e6 / cycles,
        "layers": layers,
        "stages": rows,
        "totals": {k: sum(r[k] for r in rows) for k in RESOURCES},
        "hls": hls_estimate(plan, cycles),
    }


def hls_estimate(plan: Plan, cycles: int) -> dict:
    """The HLS design's cycles per frame (the plan's) and the RAMB18 blocks of its weight and line-buffer memories
    on a Xilinx part (FIFOs and small arrays in LUT RAM; analytic, not calibrated against Vitis)."""
    bram = 0
    for stage in plan.stages:
        if isinstance(stage, MatrixVectorUnit):
            # weights [PE][NF*SF][SIMD]: each PE's slice of SIMD words is one memory (sign bits when binarised)
            bits = 1 if isinstance(stage, XnorMatrixVectorUnit) else stage.wbits
            bram += stage.pe * bram18_blocks(stage.nf * stage.sf, stage.simd * bits)
        elif isinstance(stage, DepthwiseUnit):
            bram += bram18_blocks(stage.kk * stage.cf, stage.simd * stage.wbits)
        elif isinstance(stage, SlidingWindowGen):
            # kh rows of w x c elements, partitioned by channel (one memory per channel)
            bram += stage.c * bram18_blocks(stage.kernel[0] * stage.w, stage.input.bits)
    return {"cycles_per_frame": int(cycles), "bram_18k": int(bram),
            "note": "cycles from the plan; RAMB18 count analytic (not calibrated against Vitis HLS)"}
