"""The HLS printer of the dataflow plan: a complete Vitis HLS project of the streaming dataflow accelerator.

``write_hls_project(graph, out_dir, part=..., model_name=...)`` prints the plan (dataflow/: the same stages, lanes,
width converters, forks and FIFO depths the RTL printer instantiates) into ``out_dir``:

    <top>.h             stream / element types of every tensor, the top function's declaration
    <top>.cpp           the top function: ``#pragma HLS DATAFLOW``, one call per plan stage, hls::stream between them
    weights/<layer>.h   weights, biases and thresholds as constant arrays: ap_int of exactly their widths for
                        synthesis; for C simulation the same values in C integers (see _Project.weight_array)
    <top>_tb.cpp        C++ testbench: reads inputs from a file, writes outputs, compares with expected outputs
    convflow_csim.cpp   ``extern "C" int convflow_run(const int64_t *in, int64_t *out, int n)`` (and
                        ``convflow_run_parallel(in, out, n, threads)``) for the csim backend
    tb_data/            a few random inputs and the reference interpreter's outputs for them
    build_prj.tcl       vitis_hls script: csim, csynth, cosim, export IP for the named part
    convflow_hls/       a copy of convflow's header library (hw/hls), so the project builds on its own

The stages come from hw/hls (header-only, ``namespace cf``); STAGES below holds each plan stage's call.  A tensor
travels as a stream of ``cf::vec<T, L>`` words in NHWC order, T the tensor's IR type and L the plan's lanes.  The
static files (testbench, csim entry, Tcl) are templates under hw/templates.

Exactness: stream element types are the IR's types.  Internal accumulators are sized here from the operands'
ranges (never smaller than the IR type), so partial sums cannot wrap whatever order the folding adds them in.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from convflow.compiler.dataflow import Plan, Stream, build_plan
from convflow.compiler.dataflow.activation import ShiftUnit, ThresholdUnit
from convflow.compiler.dataflow.add import AddUnit
from convflow.compiler.dataflow.concat import ConcatUnit
from convflow.compiler.dataflow.mvu import DepthwiseUnit, MatrixVectorUnit
from convflow.compiler.dataflow.plumbing import StreamFork, WidthConverter
from convflow.compiler.dataflow.xnor import XnorMatrixVectorUnit
from convflow.compiler.dataflow.window import PoolUnit, SlidingWindowGen, UpsampleUnit
from convflow.compiler.ir.graph import Graph, IntType
from convflow.hw import HLS_DIR, HLS_PROJECT_HEADER_DIR, render_template
from convflow.hw.errors import ConvflowError, ModelError
from convflow.hw.flows.vitis import DEFAULT_PART

from .names import c_string, comment_safe, sanitize_identifier

DEFAULT_CLOCK_NS = 10.0
TB_INPUTS = 8

# Names the generated code defines itself; no sanitised model name may take them.
_FIXED_NAMES = ("in_stream", "out_stream", "in_port_t", "out_port_t", "IN_ELEMS", "OUT_ELEMS")
# what a Xilinx part name may hold (it lands in the Tcl script)
_PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")


def ctype(t: IntType) -> str:
    return f"ap_int<{t.bits}>" if t.signed else f"ap_uint<{t.bits}>"


def _widest(*types: IntType) -> IntType:
    """The smallest type holding every value of all ``types``."""
    return IntType.for_range(min(t.min for t in types), max(t.max for t in types))


def _literal(value: int) -> str:
    value = int(value)
    if value == -(1 << 63):
        return "(-9223372036854775807LL - 1)"
    return f"{value}LL" if abs(value) > 0x7FFFFFFF else str(value)


def _array_text(values: np.ndarray, indent: int = 0) -> str:
    """A C initialiser for an integer array of any rank: each innermost row on one line (wrapped when long)."""
    values = np.asarray(values)
    pad = " " * (indent + 4)
    if values.ndim == 1:
        items = [_literal(v) for v in values.tolist()]
        lines, line = [], []
        for item in items:
            if line and sum(len(i) + 2 for i in line) + len(item) > 100:
                lines.append(", ".join(line))
                line = []
            line.append(item)
        lines.append(", ".join(line))
        if len(lines) == 1:
            return "{" + lines[0] + "}"
        return "{\n" + ",\n".join(pad + ln for ln in lines) + "\n" + " " * indent + "}"
    inner = [_array_text(v, indent + 4) for v in values]
    return "{\n" + ",\n".join(pad + x for x in inner) + "\n" + " " * indent + "}"


class _Project:
    """Collects the pieces of the generated project while printing the plan once."""

    def __init__(self, graph: Graph, model_name: str):
        self.graph = graph
        self.model_name = model_name
        self.used: set = set(_FIXED_NAMES)
        self.top = sanitize_identifier(model_name, self.used)
        self.type_lines: list = []
        self.config_lines: list = []
        self.decl_lines: list = []
        self.body_lines: list = []
        self.weight_files: dict = {}      # relative path -> text
        self.type_of: dict = {}           # tensor name -> C type name
        self.var_of: dict = {}            # plan Stream -> its hls::stream variable

    # --- names, types, streams ---------------------------------------------------------------------------
    def name(self, text: str) -> str:
        return sanitize_identifier(text, self.used)

    def tensor_type(self, tensor_name: str) -> str:
        if tensor_name not in self.type_of:
            t = self.graph.tensors[tensor_name]
            type_name = self.name(f"{tensor_name}_t")
            self.type_lines.append(f"typedef {ctype(t.dtype)} {type_name};  "
                                   f"// tensor '{comment_safe(tensor_name)}' {tuple(t.shape)} {t.dtype}")
            self.type_of[tensor_name] = type_name
        return self.type_of[tensor_name]

    def extra_type(self, label: str, t: IntType, why: str) -> str:
        type_name = self.name(label)
        self.type_lines.append(f"typedef {ctype(t)} {type_name};  // {why}")
        return type_name

    def declare(self, stream: Stream, label: str) -> str:
        """The hls::stream variable of a plan stream, with the plan's FIFO depth."""
        var = self.name(f"s_{label}")
        self.decl_lines.append(f"hls::stream<{self.word(stream)} > {var}({c_string(var)});")
        self.decl_lines.append(f"#pragma HLS STREAM variable = {var} depth = {max(2, int(stream.fifo_depth))}")
        self.var_of[stream] = var
        return var

    def word(self, stream: Stream) -> str:
        return f"cf::vec<{self.tensor_type(stream.tensor)}, {stream.lanes}>"

    def var(self, stream: Stream) -> str:
        return self.var_of[stream]

    def config(self, label: str, fields: dict) -> str:
        struct = self.name(label)
        self.config_lines.append(f"struct {struct} {{")
        for key, (ctype_name, value) in fields.items():
            self.config_lines.append(f"    static const {ctype_name} {key} = {value};")
        self.config_lines.append("};")
        return struct

    def emit(self, line: str = "") -> None:
        self.body_lines.append(("    " + line) if line else "")

    def elems(self, tensor_name: str) -> int:
        return int(np.prod(self.graph.tensors[tensor_name].shape))

    # --- weights -----------------------------------------------------------------------------------------
    def weight_array(self, label: str, layer: str, t: IntType, values: np.ndarray, what: str) -> tuple:
        """Write ``values`` as a constant array; returns (array name, element type name).

        Synthesis sees an array of exactly ``t`` (ap_int / ap_uint).  C simulation sees the same values in the
        smallest C integer type holding ``t``: those arrays are constant-initialised, where an ap_int array is
        built by a constructor call per element at start-up (g++ takes tens of seconds over a LeNet's weights).
        Every value is checked to lie in ``t``, so the two can differ only in storage, never in a value."""
        values = np.asarray(values, dtype=np.int64)
        if values.size and (values.min() < t.min or values.max() > t.max):
            raise ModelError(f"layer {layer!r}: {what} outside {t}")
        var = self.name(label)
        type_name = self.name(f"{label}_t")
        c_bits = next(b for b in (8, 16, 32, 64) if b >= t.bits)
        sim_type = f"{'' if t.signed else 'u'}int{c_bits}_t"
        dims = "".join(f"[{d}]" for d in values.shape)
        path = f"weights/{var}.h"
        # macros are upper-cased names from the same (case-insensitively unique) pool: they cannot hit anything
        guard = self.name(f"{var}_h").upper()
        macro = self.name(f"{var}_values").upper()
        text = (f"// Generated by convflow (compiler/emit/hls.py) from model '{comment_safe(self.model_name)}'.\n"
                f"// {what} of layer '{comment_safe(layer)}': {t}, shape {tuple(values.shape)}.\n"
                f"#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n\n#include <ap_int.h>\n\n"
                f"#define {macro} " + _array_text(values).replace("\n", " \\\n") + "\n\n"
                f"#ifdef __SYNTHESIS__\n"
                f"typedef {ctype(t)} {type_name};  // exactly {t}\n"
                f"#else\n"
                f"typedef {sim_type} {type_name};  // C simulation: the same values, constant-initialised\n"
                f"#endif\n"
                f"static const {type_name} {var}{dims} = {macro};\n\n#endif\n")
        self.weight_files[path] = text
        return var, type_name


def _mvu_acc_type(x_type: IntType, weights: np.ndarray, bias: np.ndarray, out_type: IntType) -> IntType:
    """A type for every partial sum of bias + sum x*w, whatever order the terms are added in."""
    x_abs = max(abs(x_type.min), abs(x_type.max))
    w = np.abs(weights.astype(object)).reshape(-1, weights.shape[-1])
    bound = int(max((w.sum(axis=0) * x_abs + np.abs(bias.astype(object))).tolist() + [0]))
    return _widest(IntType.for_range(-bound, bound), out_type)



# ----------------------------------------------------------------------------------------------- stage calls
def _layer(stage) -> str:
    return comment_safe(stage.node.name) if stage.node is not None else ""


def _print_width_converter(p: _Project, stage: WidthConverter) -> None:
    src, dst = stage.input, stage.output
    elem = p.tensor_type(src.tensor)
    p.emit(f"cf::convert_width<{elem}, {src.lanes}, {dst.lanes}, {src.elems}>({p.var(src)}, {p.var(dst)});  "
           f"// width: {src.lanes} -> {dst.lanes} lanes ({comment_safe(stage.label)})")


def _print_fork(p: _Project, stage: StreamFork) -> None:
    src = stage.input
    a, b = stage.outputs
    p.emit(f"// fork: '{comment_safe(src.tensor)}' goes to two readers")
    p.emit(f"cf::fork2<{p.word(src)}, {src.words}>({p.var(src)}, {p.var(a)}, {p.var(b)});")


def _print_sliding_window(p: _Project, stage: SlidingWindowGen) -> None:
    (kh, kw), (sh, sw), pads = stage.kernel, stage.stride, stage.pads
    oh, ow = stage.out_hw
    p.emit(f"// {stage.node.op} '{_layer(stage)}': {kh}x{kw} window, stride {(sh, sw)} pads {tuple(pads)}")
    cfg = p.config(f"{stage.label}_cfg", {
        "IFM_H": ("unsigned", stage.h), "IFM_W": ("unsigned", stage.w), "C": ("unsigned", stage.c),
        "K_H": ("unsigned", kh), "K_W": ("unsigned", kw), "S_H": ("unsigned", sh), "S_W": ("unsigned", sw),
        "PAD_T": ("unsigned", pads[0]), "PAD_L": ("unsigned", pads[1]), "OFM_H": ("unsigned", oh),
        "OFM_W": ("unsigned", ow), "IN_L": ("unsigned", stage.input.lanes),
        "OUT_L": ("unsigned", stage.output.lanes),
        "PAD_VALUE": ("long long", _literal(stage.pad_value))})
    p.emit(f"cf::sliding_window<{cfg}, {p.tensor_type(stage.input.tensor)}>({p.var(stage.input)}, "
           f"{p.var(stage.output)});")


def _print_matrix_vector(p: _Project, stage: MatrixVectorUnit) -> None:
    node = stage.node
    k, n = stage.matrix.shape
    p.emit(f"// {node.op} '{_layer(stage)}': {k} x {n} matrix, PE={stage.pe} SIMD={stage.simd}, "
           f"{stage.vectors} vectors per frame")
    tw, tb = IntType(stage.wbits, True), stage.acc
    acc = _mvu_acc_type(stage.input.dtype, stage.matrix, stage.bias, stage.output.dtype)
    wv, _ = p.weight_array(f"{node.name}_weights", node.name, tw, stage.weight_tiles().transpose(1, 0, 2),
                           "weights [PE][NF*SF][SIMD]")
    bv, _ = p.weight_array(f"{node.name}_bias", node.name, tb, stage.bias_tiles().T, "bias [PE][NF]")
    cfg = p.config(f"{node.name}_cfg", {"K": ("unsigned", k), "N": ("unsigned", n), "SIMD": ("unsigned", stage.simd),
                                        "PE": ("unsigned", stage.pe), "VECTORS": ("unsigned", stage.vectors)})
    ta = p.extra_type(f"{node.name}_acc_t", acc, f"accumulator of '{_layer(stage)}'")
    p.emit(f"cf::matrix_vector<{cfg}, {p.tensor_type(stage.input.tensor)}, {ctype(tw)}, {ctype(tb)}, {ta}, "
           f"{p.tensor_type(stage.output.tensor)}>({p.var(stage.input)}, {p.var(stage.output)}, {wv}, {bv});")


def _print_xnor_matrix_vector(p: _Project, stage: XnorMatrixVectorUnit) -> None:
    node = stage.node
    k, n = stage.matrix.shape
    p.emit(f"// {node.op} '{_layer(stage)}' (binarised): {k} x {n} sign bits, XNOR-popcount, PE={stage.pe} "
           f"SIMD={stage.simd}, {stage.vectors} vectors per frame")
    bias = stage.folded_bias()
    tb = _widest(IntType.for_range(int(bias.min()), int(bias.max())), stage.acc)
    tb = _widest(tb, IntType.for_range(0, int(bias.max()) + stage.wstep * k))      # bias + WSTEP * count
    sv, _ = p.weight_array(f"{node.name}_signs", node.name, IntType(1, False), stage.sign_tiles().transpose(1, 0, 2),
                           "weight sign bits [PE][NF*SF][SIMD] (1: +WSTEP)")
    bv, _ = p.weight_array(f"{node.name}_bias", node.name, tb, stage.folded_bias_tiles().T,
                           "bias [PE][NF], XNOR constant folded in")
    cfg = p.config(f"{node.name}_cfg", {"K": ("unsigned", k), "N": ("unsigned", n), "SIMD": ("unsigned", stage.simd),
                                        "PE": ("unsigned", stage.pe), "VECTORS": ("unsigned", stage.vectors),
                                        "WSTEP": ("long long", _literal(stage.wstep))})
    ta = p.extra_type(f"{node.name}_count_t", IntType.for_range(0, k), f"popcount of '{_layer(stage)}'")
    p.emit(f"cf::xnor_matrix_vector<{cfg}, {ctype(tb)}, {ta}, {p.tensor_type(stage.output.tensor)}>"
           f"({p.var(stage.input)}, {p.var(stage.output)}, {sv}, {bv});")


def _print_depthwise(p: _Project, stage: DepthwiseUnit) -> None:
    node = stage.node
    p.emit(f"// {node.op} '{_layer(stage)}' (depthwise): {stage.kk} taps x {stage.channels} channels, "
           f"SIMD={stage.simd}")
    tw, tb = IntType(stage.wbits, True), stage.acc
    acc = _mvu_acc_type(stage.input.dtype, stage.weights, stage.bias, stage.output.dtype)
    wv, _ = p.weight_array(f"{node.name}_weights", node.name, tw, stage.weights, "depthwise weights [ky*KW+kx][c]")
    bv, _ = p.weight_array(f"{node.name}_bias", node.name, tb, stage.bias, "bias [c]")
    cfg = p.config(f"{node.name}_cfg", {"KK": ("unsigned", stage.kk), "C": ("unsigned", stage.channels),
                                        "SIMD": ("unsigned", stage.simd), "PE": ("unsigned", stage.simd),
                                        "VECTORS": ("unsigned", stage.vectors)})
    ta = p.extra_type(f"{node.name}_acc_t", acc, f"accumulator of '{_layer(stage)}'")
    p.emit(f"cf::depthwise_vector<{cfg}, {p.tensor_type(stage.input.tensor)}, {ctype(tw)}, {ctype(tb)}, {ta}, "
           f"{p.tensor_type(stage.output.tensor)}>({p.var(stage.input)}, {p.var(stage.output)}, {wv}, {bv});")


def _print_threshold(p: _Project, stage: ThresholdUnit) -> None:
    node = stage.node
    rows = stage.thresholds
    p.emit(f"// Threshold '{_layer(stage)}': {stage.n} thresholds x {rows.shape[0]} rows, out_base {stage.out_base}")
    tt = IntType(stage.tbits, True)
    tv, _ = p.weight_array(f"{node.name}_thresholds", node.name, tt, rows, "thresholds [row][j], ascending")
    cfg = p.config(f"{node.name}_cfg", {"C": ("unsigned", stage.channels), "N": ("unsigned", stage.n),
                                        "ROWS": ("unsigned", rows.shape[0]), "LANES": ("unsigned", stage.lanes),
                                        "WORDS": ("unsigned", stage.input.words),
                                        "OUT_BASE": ("int", int(stage.out_base))})
    p.emit(f"cf::threshold<{cfg}, {p.tensor_type(stage.input.tensor)}, {ctype(tt)}, "
           f"{p.tensor_type(stage.output.tensor)}>({p.var(stage.input)}, {p.var(stage.output)}, {tv});")


def _print_shift(p: _Project, stage: ShiftUnit) -> None:
    node = stage.node
    right, left = max(stage.shift, 0), max(-stage.shift, 0)
    wide = IntType(max(stage.input.bits, right) + left + 3, True)
    p.emit(f"// Shift '{_layer(stage)}': round_half_even(x * 2^{-stage.shift}), clip to [{stage.lo}, {stage.hi}]")
    tw = p.extra_type(f"{node.name}_wide_t", wide, f"shift working type of '{_layer(stage)}'")
    cfg = p.config(f"{node.name}_cfg", {"SHIFT": ("int", stage.shift), "LO": ("long long", _literal(stage.lo)),
                                        "HI": ("long long", _literal(stage.hi)), "LANES": ("unsigned", stage.lanes),
                                        "WORDS": ("unsigned", stage.input.words)})
    p.emit(f"cf::shift<{cfg}, {p.tensor_type(stage.input.tensor)}, {tw}, {p.tensor_type(stage.output.tensor)}>"
           f"({p.var(stage.input)}, {p.var(stage.output)});")


def _print_pool(p: _Project, stage: PoolUnit) -> None:
    node = stage.node
    x, y = stage.input.dtype, stage.output.dtype
    kind = "MaxPool" if stage.is_max else "SumPool"
    p.emit(f"// {kind} '{_layer(stage)}': reduce windows of {stage.kk} positions")
    if stage.is_max:
        acc = x
    else:
        acc = _widest(IntType.for_range(stage.kk * min(x.min, 0), stage.kk * max(x.max, 0)), y)
    ta = p.extra_type(f"{node.name}_acc_t", acc, f"{kind.lower()} accumulator of '{_layer(stage)}'")
    cfg = p.config(f"{node.name}_cfg", {"KK": ("unsigned", stage.kk), "C": ("unsigned", stage.channels),
                                        "LANES": ("unsigned", stage.lanes),
                                        "VECTORS": ("unsigned", stage.output.elems // stage.channels),
                                        "IS_MAX": ("bool", "true" if stage.is_max else "false")})
    p.emit(f"cf::window_reduce<{cfg}, {p.tensor_type(stage.input.tensor)}, {ta}, {p.tensor_type(stage.output.tensor)}>"
           f"({p.var(stage.input)}, {p.var(stage.output)});")


def _print_add(p: _Project, stage: AddUnit) -> None:
    node = stage.node
    a, b = (s.dtype for s in stage.inputs)
    y = stage.output.dtype
    p.emit(f"// Add '{_layer(stage)}': a * {stage.mul_a} + b * {stage.mul_b}")
    ends = [v * stage.mul_a for v in (a.min, a.max)] + [v * stage.mul_b for v in (b.min, b.max)]
    lo = min(ends[:2]) + min(ends[2:])
    hi = max(ends[:2]) + max(ends[2:])
    wide = _widest(IntType.for_range(min(lo, *ends, stage.mul_a, stage.mul_b, 0),
                                     max(hi, *ends, stage.mul_a, stage.mul_b, 0)), a, b, y)
    tw = p.extra_type(f"{node.name}_wide_t", wide, f"add working type of '{_layer(stage)}'")
    cfg = p.config(f"{node.name}_cfg", {"MUL_A": ("long long", _literal(stage.mul_a)),
                                        "MUL_B": ("long long", _literal(stage.mul_b)),
                                        "LANES": ("unsigned", stage.lanes), "WORDS": ("unsigned", stage.output.words)})
    sa, sb = stage.inputs
    p.emit(f"cf::add<{cfg}, {p.tensor_type(sa.tensor)}, {p.tensor_type(sb.tensor)}, {tw}, "
           f"{p.tensor_type(stage.output.tensor)}>({p.var(sa)}, {p.var(sb)}, {p.var(stage.output)});")


def _print_concat(p: _Project, stage: ConcatUnit) -> None:
    sa, sb = stage.inputs
    p.emit(f"// Concat '{_layer(stage)}': {stage.channels_a} + {stage.channels_b} channels per pixel")
    cfg = p.config(f"{stage.label}_cfg", {"CA": ("unsigned", stage.channels_a), "CB": ("unsigned", stage.channels_b),
                                         "LANES": ("unsigned", stage.lanes), "PIXELS": ("unsigned", stage.pixels)})
    p.emit(f"cf::concat<{cfg}, {p.tensor_type(sa.tensor)}, {p.tensor_type(sb.tensor)}, "
           f"{p.tensor_type(stage.output.tensor)}>({p.var(sa)}, {p.var(sb)}, {p.var(stage.output)});")


def _print_upsample(p: _Project, stage: UpsampleUnit) -> None:
    p.emit(f"// Upsample '{_layer(stage)}': nearest neighbour x{stage.scale[0]} rows, x{stage.scale[1]} columns")
    cfg = p.config(f"{stage.label}_cfg", {"IFM_H": ("unsigned", stage.h), "IFM_W": ("unsigned", stage.w),
                                         "C": ("unsigned", stage.c), "S_H": ("unsigned", stage.scale[0]),
                                         "S_W": ("unsigned", stage.scale[1]), "LANES": ("unsigned", stage.lanes)})
    p.emit(f"cf::upsample<{cfg}, {p.tensor_type(stage.input.tensor)}>({p.var(stage.input)}, {p.var(stage.output)});")


# the HLS call of every plan stage
STAGES = {WidthConverter: _print_width_converter, StreamFork: _print_fork, SlidingWindowGen: _print_sliding_window,
          MatrixVectorUnit: _print_matrix_vector, XnorMatrixVectorUnit: _print_xnor_matrix_vector, DepthwiseUnit: _print_depthwise, ThresholdUnit: _print_threshold,
          ShiftUnit: _print_shift, PoolUnit: _print_pool, AddUnit: _print_add, ConcatUnit: _print_concat,
          UpsampleUnit: _print_upsample}


# ----------------------------------------------------------------------------------------------- the project
def _banner(p: _Project, what: str) -> str:
    source = p.graph.meta.get("source_path")
    origin = f" (source: {comment_safe(source)})" if isinstance(source, str) else ""
    return (f"// {what}\n"
            f"// Generated by convflow (compiler/emit/hls.py) from model '{comment_safe(p.model_name)}'{origin}.\n"
            f"// Do not edit: recompile the model instead.\n")


def _top_header(p: _Project, in_t: str, out_t: str, in_elems: int, out_elems: int) -> str:
    guard = p.name(f"{p.top}_h").upper()
    g = p.graph
    return (_banner(p, f"{p.top}: types and top function of the streaming accelerator.") +
            f"#ifndef {guard}\n#define {guard}\n\n#include \"convflow.h\"\n\n"
            + "\n".join(p.type_lines) + "\n\n"
            f"typedef {in_t} in_port_t;   // input '{comment_safe(g.input)}' {tuple(g.input_tensor.shape)}\n"
            f"typedef {out_t} out_port_t;  // output '{comment_safe(g.output)}' {tuple(g.output_tensor.shape)}\n"
            f"static const unsigned IN_ELEMS = {in_elems};   // input elements per frame (NHWC order)\n"
            f"static const unsigned OUT_ELEMS = {out_elems};  // output elements per frame\n\n"
            f"// One frame in (IN_ELEMS beats), one frame out (OUT_ELEMS beats).\n"
            f"void {p.top}(hls::stream<in_port_t> &in_stream, hls::stream<out_port_t> &out_stream);\n\n#endif\n")


def _top_source(p: _Project) -> str:
    includes = "".join(f"#include \"{path}\"\n" for path in p.weight_files)
    body = "\n".join(p.body_lines).rstrip()
    decls = "\n".join("    " + d for d in p.decl_lines)
    return (_banner(p, f"{p.top}: the dataflow top function, one call per stage of the plan.") +
            f"#include \"{p.top}.h\"\n{includes}\n"
            "// Per-stage configuration (shapes, folding, constants).\n" + "\n".join(p.config_lines) + "\n\n"
            f"void {p.top}(hls::stream<in_port_t> &in_stream, hls::stream<out_port_t> &out_stream) {{\n"
            "#pragma HLS INTERFACE axis port = in_stream\n"
            "#pragma HLS INTERFACE axis port = out_stream\n"
            "#pragma HLS INTERFACE ap_ctrl_none port = return\n"
            "#pragma HLS DATAFLOW\n\n"
            f"{decls}\n\n{body}\n}}\n")


def _print_streamless(p: _Project, node) -> None:
    p.emit(f"// {node.op} '{comment_safe(node.name)}': a no-op on the stream (NHWC order is already flat)")
    p.emit()


def _stream_label(stage, index: int) -> str:
    """A readable stream name: the stage's label, and which output for a fork."""
    return f"{stage.label}_{index}" if len(stage.outputs) > 1 else stage.label


def write_hls_project(graph: Graph, out_dir, part: str = DEFAULT_PART, model_name: str = None,
                      clock_ns: float = DEFAULT_CLOCK_NS, tb_inputs: int = TB_INPUTS, seed: int = 0,
                      plan: Plan | None = None) -> list:
    """Write the Vitis HLS project of ``graph`` (printing ``plan``, built here if not given) into ``out_dir``;
    returns the list of files written."""
    from convflow.compiler.ir.interpret import run_graph

    if not _PART_NAME.fullmatch(str(part)):
        raise ConvflowError(f"part {part!r} is not a Xilinx part name (letters, digits, '-' and '_'; e.g. "
                            f"{DEFAULT_PART})")
    out_dir = Path(out_dir)
    model_name = model_name or graph.name
    plan = plan or build_plan(graph)
    p = _Project(graph, model_name)
    inp, outp = graph.input_tensor, graph.output_tensor
    in_t = p.tensor_type(graph.input)

    p.emit(f"// input '{comment_safe(graph.input)}' {tuple(inp.shape)} {inp.dtype}: one element per beat")
    first = p.declare(plan.input, f"{graph.input}_in")
    p.emit(f"cf::from_port<{in_t}, {plan.input.elems}>(in_stream, {first});")
    p.emit()
    # IR nodes with no stage of their own (a Flatten: the same stream) are named where they happen
    streamless = [node for node in graph.nodes if not plan.stages_of(node)]
    for stage in plan.stages:
        if stage.node is not None:
            position = graph.nodes.index(stage.node)
            while streamless and graph.nodes.index(streamless[0]) < position:
                _print_streamless(p, streamless.pop(0))
        for index, stream in enumerate(stage.outputs):
            p.declare(stream, _stream_label(stage, index))
        STAGES[type(stage)](p, stage)
        p.emit()
    for node in streamless:
        _print_streamless(p, node)
    out_t = p.tensor_type(graph.output)
    p.emit(f"// output '{comment_safe(graph.output)}' {tuple(outp.shape)} {outp.dtype}: one element per beat")
    p.emit(f"cf::to_port<{out_t}, {plan.output.elems}>({p.var(plan.output)}, out_stream);")

    files = {
        f"{p.top}.h": _top_header(p, in_t, out_t, p.elems(graph.input), p.elems(graph.output)),
        f"{p.top}.cpp": _top_source(p),
        "convflow_csim.cpp": _banner(p, "C-callable batch entry for convflow's csim backend.")
        + render_template("csim_entry.cpp", top=p.top),
        f"{p.top}_tb.cpp": _banner(p, "C++ testbench (Vitis HLS csim / cosim).")
        + render_template("hls_testbench.cpp", top=p.top),
        "build_prj.tcl": render_template("build_prj.tcl", model=comment_safe(model_name), top=p.top,
                                         headers=HLS_PROJECT_HEADER_DIR, part=part, clock=float(clock_ns)),
    }
    files.update(p.weight_files)
    rng = np.random.default_rng(seed)
    x = rng.integers(inp.dtype.min, inp.dtype.max, size=(tb_inputs, *inp.shape), endpoint=True)
    y = np.concatenate([run_graph(graph, x[i:i + 1]) for i in range(tb_inputs)])   # one at a time: bounded memory
    files["tb_data/inputs.txt"] = "".join(" ".join(map(str, r)) + "\n" for r in x.reshape(tb_inputs, -1).tolist())
    files["tb_data/expected.txt"] = "".join(" ".join(map(str, r)) + "\n" for r in y.reshape(tb_inputs, -1).tolist())

    written = []
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    headers = out_dir / HLS_PROJECT_HEADER_DIR
    headers.mkdir(parents=True, exist_ok=True)
    for header in sorted(HLS_DIR.glob("*.h")):
        shutil.copyfile(header, headers / header.name)
        written.append(headers / header.name)
    return written

