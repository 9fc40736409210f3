"""Verilog printer of the dataflow plan: a directory with the streaming dataflow accelerator ``cf_accel``.

Writes copies of the hand-written library modules it uses (``convflow/hw/rtl/cf_*.v``), the generated top
``cf_accel.v`` (one instance per stage of the plan, dataflow/, with the cf_fifo behind each output at the depth the
plan gives -- none behind a stage that buffers its own output: the matrix-vector units and the window-mode
sliding-window generator, cf_outbuf.v), one ``.hex``
file per ROM (ROMS: how each stage's constants are packed into words), and ``accel.json`` describing the top for
tool-flow drivers that do not import the compiler.

The top-level interface is a contract with the board top (UART wrapper) and the simulators:

    module cf_accel (input wire clk, input wire rst /* synchronous, active high */,
                     input wire [IN_BITS-1:0] s_data, input wire s_valid, output wire s_ready,
                     output wire [OUT_BITS-1:0] m_data, output wire m_valid, input wire m_ready);

one input element per beat in NHWC order (a frame = prod(input shape) beats), one output element per beat,
IN_BITS / OUT_BITS = the graph's input / output type bits (two's complement when signed).

ROM files are named by a bare file name in a module parameter: run the simulator or synthesiser with the rtl
directory as its working directory (the rtlsim backend and the ECP5 flow both do).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convflow.compiler.dataflow import Plan, build_plan
from convflow.compiler.dataflow.activation import ThresholdUnit
from convflow.compiler.dataflow.add import AddUnit
from convflow.compiler.dataflow.concat import ConcatUnit
from convflow.compiler.dataflow.mvu import DepthwiseUnit, MatrixVectorUnit
from convflow.compiler.dataflow.plumbing import StreamFork
from convflow.compiler.dataflow.xnor import XnorMatrixVectorUnit
from convflow.compiler.ir.graph import Graph
from convflow.hw import RTL_DIR
from convflow.hw.errors import UnsupportedOp

from .names import comment_safe, sanitize_identifier

# compile order (kept fixed for reproducible file lists; cf_outbuf instantiates cf_fifo, the matrix-vector
# units and cf_swg instantiate cf_outbuf; cf_mvu and the top itself instantiate cf_rep, always included)
LIBRARY_ORDER = ["cf_fifo", "cf_outbuf", "cf_rep", "cf_dwc", "cf_fork", "cf_swg", "cf_mvu", "cf_xnor_mvu",
                 "cf_dwmvu", "cf_thresh", "cf_shift", "cf_pool", "cf_add", "cf_concat", "cf_upsample"]
TOP = "cf_accel"


def pack_words(matrix: np.ndarray, bits: int) -> list:
    """Rows of an integer matrix -> ints, element j at bits [j*bits, (j+1)*bits) in two's complement."""
    mask = (1 << bits) - 1
    words = []
    for row in np.asarray(matrix, dtype=np.int64):
        word = 0
        for j, value in enumerate(row.tolist()):
            word |= (int(value) & mask) << (j * bits)
        words.append(word)
    return words


def _mvu_roms(stage: MatrixVectorUnit) -> dict:
    # word nf*SF + sf, lane p*SIMD + s = matrix[sf*SIMD + s, nf*PE + p]; bias word nf, lane p
    # (WPACK words a ROM word: MatrixVectorUnit.packed_weight_words)
    # (a banked ROM: one file a bank of WBANK words, read by cf_mvu as WBANKFILE + two digits + ".hex")
    words = stage.packed_weight_words()
    width, weights = words.shape[1] * stage.wbits, pack_words(words, stage.wbits)
    bank = stage.weight_bank
    wrom = {"WBANKFILE": [(width, weights[k:k + bank]) for k in range(0, len(weights), bank)]} if bank else \
        {"WFILE": (width, weights)}
    return {**wrom, "BFILE": (stage.pe * stage.acc.bits, pack_words(stage.bias_tiles(), stage.acc.bits))}


def _threshold_roms(stage: ThresholdUnit) -> dict:
    # word w: the thresholds of the L channels w*L .. w*L + L - 1, N per channel
    lanes, n = stage.lanes, stage.n
    rows = stage.per_channel().reshape(stage.channels // lanes, lanes * n)
    return {"TFILE": (lanes * n * stage.tbits, pack_words(rows, stage.tbits))}


def _xnor_roms(stage: XnorMatrixVectorUnit) -> dict:
    # one sign bit per weight, tiled as cf_mvu's words; the bias with the XNOR form's constant folded in
    signs = stage.sign_tiles()
    return {"WFILE": (stage.pe * stage.simd, pack_words(signs.reshape(signs.shape[0], -1), 1)),
            "BFILE": (stage.pe * stage.acc.bits, pack_words(stage.folded_bias_tiles(), stage.acc.bits))}


def _depthwise_roms(stage: DepthwiseUnit) -> dict:
    return {"WFILE": (stage.simd * stage.wbits, pack_words(stage.weight_words(), stage.wbits)),
            "BFILE": (stage.simd * stage.acc.bits, pack_words(stage.bias.reshape(stage.cf, stage.simd),
                                                               stage.acc.bits))}


# the constants each stage kind reads from ROM files: module parameter -> (word bits, words), or a list of them for
# a ROM in banks (the parameter then names the files' common prefix)
ROMS = {MatrixVectorUnit: _mvu_roms, XnorMatrixVectorUnit: _xnor_roms, DepthwiseUnit: _depthwise_roms,
        ThresholdUnit: _threshold_roms}
# port names of the stages that do not have one input (s) and one output (m)
IN_PORTS = {AddUnit: ["a", "b"], ConcatUnit: ["a", "b"]}
OUT_PORTS = {StreamFork: ["m0", "m1"]}


def _vparam(value) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    value = int(value)
    if abs(value) >= (1 << 31) - 1:
        return f"-64'sd{-value}" if value < 0 else f"64'sd{value}"
    return str(value)


def _hex_lines(width: int, words: list) -> str:
    digits = max(1, (width + 3) // 4)
    return "".join(f"{w:0{digits}x}\n" for w in words)


def write_rtl(graph: Graph, out_dir, model_name: str = None, plan: Plan | None = None) -> list:
    """Write the RTL of ``graph`` (printing ``plan``, built here if not given) into ``out_dir``; returns the written
    files (Paths): Verilog in compile order, then the ROM hex files, then accel.json."""
    out_dir = Path(out_dir)
    model_name = model_name or graph.name
    plan = plan or build_plan(graph)
    stages, last = plan.stages, plan.output.id
    for stage in stages:
        if stage.kind not in LIBRARY_ORDER:
            what = f"{stage.node.op} {stage.node.name!r}" if stage.node is not None else stage.label
            raise UnsupportedOp(f"{what}: no RTL module for its {stage.kind} stage yet (use the hls backend)")
    out_dir.mkdir(parents=True, exist_ok=True)
    tin, tout = graph.input_tensor, graph.output_tensor
    in_bits, out_bits = tin.dtype.bits, tout.dtype.bits

    used = {TOP, "s_data", "s_valid", "s_ready", "m_data", "m_valid", "m_ready"} | set(LIBRARY_ORDER)
    lines = []
    hex_files = []
    modules = set()

    def wires(name, width):
        lines.append(f"    wire [{width - 1}:0] {name}_data;")
        lines.append(f"    wire {name}_valid;")
        lines.append(f"    wire {name}_ready;")

    def instance(module, inst, params, src, dst, rst):
        plist = ",\n".join(f"        .{k}({_vparam(v)})" for k, v in params.items())
        lines.append(f"    {module} #(\n{plist}\n    ) {inst} (")
        lines.append(f"        .clk(clk), .rst({rst}),")
        lines.append(f"        .s_data({src}_data), .s_valid({src}_valid), .s_ready({src}_ready),")
        lines.append(f"        .m_data({dst}_data), .m_valid({dst}_valid), .m_ready({dst}_ready)")
        lines.append("    );")

    def reset_register(name):
        lines.append(f"    wire {name};")
        lines.append(f"    cf_rep #(.W(1)) u_{name} (.clk(clk), .d(rst), .q({name}));")

    # Reset: a register of its own for every stage (cf_rep, which synthesis does not merge), so that no one net
    # carries it across the whole design (CNV 2W2A on the 85F: 15 ns of routing from the board's reset register to
    # a width converter).  Every stage leaves reset a cycle after rst falls; the input waits for that cycle too.
    modules.add("cf_rep")
    lines.append("    // reset, registered once more for the input and for each stage (they all leave reset together)")
    reset_register("rst_in")

    lines.append(f"    // input stream: {int(np.prod(tin.shape))} elements of {tin.dtype} per frame")
    wires("st_in", in_bits)
    lines.append("    assign st_in_data = s_data;")
    lines.append("    assign st_in_valid = s_valid && !rst_in;")
    lines.append("    assign s_ready = st_in_ready && !rst_in;")
    for index, stage in enumerate(stages):
        base = sanitize_identifier(f"s{index}_{stage.label}", used)
        modules.add(stage.kind)
        params = dict(stage.params)
        roms = ROMS[type(stage)](stage) if type(stage) in ROMS else {}
        for pname, rom in roms.items():
            if isinstance(rom, list):           # banks: files {prefix}00.hex, {prefix}01.hex, ...
                prefix = f"{base}_{pname[0].lower()}_b"
                files = [(f"{prefix}{k:02d}.hex", bank) for k, bank in enumerate(rom)]
                params[pname] = prefix
            else:
                files = [(f"{base}_{pname[0].lower()}.hex", rom)]
                params[pname] = files[0][0]
            for fname, (width, words) in files:
                (out_dir / fname).write_text(_hex_lines(width, words))
                hex_files.append(fname)
        what = (f"IR node {stage.node.op} '{comment_safe(stage.node.name)}'" if stage.node is not None
                else ("stream fork" if isinstance(stage, StreamFork) else "stream width converter"))
        lines.append("")
        lines.append(f"    // stage {index}: {stage.kind} -- {what}; "
                     f"{stage.input.lanes}x{stage.input.bits}b -> {stage.output.lanes}x{stage.output.bits}b per "
                     f"beat, ideal {stage.cycles} cycles/frame")
        width = stage.output.width
        # the wires the stage writes: the cf_fifo behind it reads them, or they are the stream itself
        own = "" if stage.buffers_output else "_o"
        for out in stage.outputs:
            if own:
                wires(f"{out.id}_o", width)
            wires(out.id, width)
        reset_register(f"{base}_rst")
        plist = ",\n".join(f"        .{k}({_vparam(v)})" for k, v in params.items())
        lines.append(f"    {stage.kind} #(\n{plist}\n    ) u_{base} (")
        lines.append(f"        .clk(clk), .rst({base}_rst),")
        in_ports = IN_PORTS.get(type(stage), ["s"])
        out_ports = OUT_PORTS.get(type(stage), ["m"])
        conns = [f"        .{p}_data({w.id}_data), .{p}_valid({w.id}_valid), .{p}_ready({w.id}_ready)"
                 for p, w in zip(in_ports, stage.inputs)]
        conns += [f"        .{p}_data({w.id}{own}_data), .{p}_valid({w.id}{own}_valid), .{p}_ready({w.id}{own}_ready)"
                  for p, w in zip(out_ports, stage.outputs)]
        lines.append(",\n".join(conns))
        lines.append("    );")
        modules.add("cf_fifo")
        if stage.buffers_output:
            modules.add("cf_outbuf")
            continue
        for out in stage.outputs:
            instance("cf_fifo", f"u_{base}_{out.id}_fifo", {"WIDTH": width, "DEPTH": out.fifo_depth},
                     f"{out.id}_o", out.id, f"{base}_rst")
    lines.append("")
    lines.append(f"    // output stream: {int(np.prod(tout.shape))} elements of {tout.dtype} per frame")
    lines.append(f"    assign m_data = {last}_data;")
    lines.append(f"    assign m_valid = {last}_valid;")
    lines.append(f"    assign {last}_ready = m_ready;")

    header = [
        f"// Generated by convflow.compiler.emit.rtl from model '{comment_safe(model_name)}' "
        f"(graph '{comment_safe(graph.name)}'). Do not edit: recompile the model instead.",
        f"// {len(graph.nodes)} IR nodes -> {len(stages)} hardware stages; library modules: "
        f"{', '.join(m for m in LIBRARY_ORDER if m in modules)}.",
        f"// Input  {comment_safe(tin.name)}: shape {tuple(tin.shape)} {tin.dtype}, one element per beat (NHWC).",
        f"// Output {comment_safe(tout.name)}: shape {tuple(tout.shape)} {tout.dtype}, one element per beat.",
        "// ROM .hex files are read relative to the working directory: run tools from this directory.",
        "module cf_accel (",
        "    input  wire clk,",
        "    input  wire rst,               // synchronous, active high",
        f"    input  wire [{in_bits - 1}:0] s_data,",
        "    input  wire s_valid,",
        "    output wire s_ready,",
        f"    output wire [{out_bits - 1}:0] m_data,",
        "    output wire m_valid,",
        "    input  wire m_ready",
        ");",
    ]
    top_text = "\n".join(header + lines + ["endmodule", ""])
    (out_dir / "cf_accel.v").write_text(top_text)

    verilog = []
    for name in LIBRARY_ORDER:
        if name in modules:
            text = (RTL_DIR / f"{name}.v").read_text()
            (out_dir / f"{name}.v").write_text(text)
            verilog.append(f"{name}.v")
    verilog.append("cf_accel.v")
    desc = {
        "top": TOP,
        "model": model_name,
        "in_bits": in_bits, "in_signed": tin.dtype.signed,
        "out_bits": out_bits, "out_signed": tout.dtype.signed,
        "in_elems": int(np.prod(tin.shape)), "out_elems": int(np.prod(tout.shape)),
        "in_shape": list(tin.shape), "out_shape": list(tout.shape),
        "files": verilog,
        "hex_files": hex_files,
        "stages": [{"kind": s.kind, "node": s.node.name if s.node is not None else None, "cycles": s.cycles}
                   for s in stages],
    }
    (out_dir / "accel.json").write_text(json.dumps(desc, indent=1) + "\n")
    return [out_dir / f for f in verilog] + [out_dir / f for f in hex_files] + [out_dir / "accel.json"]
