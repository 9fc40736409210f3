"""The HLS emitter: an IR graph -> a complete Vitis HLS project of the streaming dataflow accelerator.

``write_hls_project(graph, out_dir, part=..., model_name=...)`` writes into ``out_dir``:

    <top>.h             stream / element types of every tensor, the top function's declaration
    <top>.cpp           the top function: ``#pragma HLS DATAFLOW``, one stage per IR node, hls::stream between them
    weights/<layer>.h   weights, biases and thresholds as constant arrays: ap_int of exactly their widths for
                        synthesis; for C simulation the same values in C integers (see _Project.weight_array)
    <top>_tb.cpp        C++ testbench: reads inputs from a file, writes outputs, compares with expected outputs
    convflow_csim.cpp   ``extern "C" int convflow_run(const int64_t *in, int64_t *out, int n)`` (and
                        ``convflow_run_parallel(in, out, n, threads)``) for the csim backend
    tb_data/            a few random inputs and the reference interpreter's outputs for them
    build_prj.tcl       vitis_hls script: csim, csynth, cosim, export IP for the named part
    convflow_hls/       a copy of convflow's header library (hw/hls), so the project builds on its own

The stages come from hw/hls (header-only, ``namespace cf``).  A tensor travels as a stream of ``cf::vec<T, L>``
words in NHWC order, T the tensor's IR type and L (lanes) dividing its channel count; the emitter inserts width
converters where a consumer wants another L (an MVU reads SIMD lanes and writes PE lanes) and forks where a tensor
has two readers (residual blocks).  The top function's AXI-Stream ports carry one element per beat.

Exactness: stream element types are the IR's types.  Internal accumulators are sized here from the operands'
ranges (never smaller than the IR type), so partial sums cannot wrap whatever order the folding adds them in.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from convflow.compiler.ir.graph import (Add, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Shift, SumPool,
                                        Threshold)
from convflow.hw import HLS_DIR
from convflow.hw.errors import ModelError, UnsupportedOp

from .names import c_string, comment_safe, sanitize_identifier

DEFAULT_PART = "xc7z020clg400-1"      # PYNQ-Z2
DEFAULT_CLOCK_NS = 10.0
HEADER_DIR = "convflow_hls"
TB_INPUTS = 8

# Names the generated code defines itself; no sanitised model name may take them.
_FIXED_NAMES = ("in_stream", "out_stream", "in_port_t", "out_port_t", "IN_ELEMS", "OUT_ELEMS")


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
    """Collects the pieces of the generated project while walking the graph once."""

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
        self.pending: dict = {}           # tensor name -> [(stream, lanes)], one entry per remaining reader
        self.stream_count = 0

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

    def stream(self, label: str, elem_type: str, lanes: int, depth: int = 2) -> str:
        var = self.name(f"s_{label}")
        self.decl_lines.append(f"hls::stream<cf::vec<{elem_type}, {lanes}> > {var}({c_string(var)});")
        self.decl_lines.append(f"#pragma HLS STREAM variable = {var} depth = {max(2, int(depth))}")
        return var

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

    # --- producing and consuming tensors -----------------------------------------------------------------
    def produce(self, tensor_name: str, stream: str, lanes: int) -> None:
        """Register the stream holding ``tensor_name``; fork it when several stages read the tensor."""
        readers = sum(n.inputs.count(tensor_name) for n in self.graph.nodes)
        if tensor_name == self.graph.output:
            readers += 1
        if readers == 0:
            raise ModelError(f"tensor {tensor_name!r} is computed but never read; run the clean-up passes")
        copies = [stream]
        if readers > 1:
            words = self.elems(tensor_name) // lanes
            word = f"cf::vec<{self.tensor_type(tensor_name)}, {lanes}>"
            self.emit(f"// fork: '{comment_safe(tensor_name)}' is read by {readers} stages")
            copies = []
            source = stream
            for k in range(readers - 1):
                a = self.stream(f"{tensor_name}_copy{k}", self.tensor_type(tensor_name), lanes, depth=words)
                b = self.stream(f"{tensor_name}_rest{k}", self.tensor_type(tensor_name), lanes, depth=words)
                self.emit(f"cf::fork2<{word}, {words}>({source}, {a}, {b});")
                copies.append(a)
                source = b
            copies.append(source)
            self.emit()
        self.pending[tensor_name] = [(s, lanes) for s in copies]

    def consume(self, tensor_name: str, lanes: int = None) -> tuple:
        """A stream of ``tensor_name`` for one reader, converted to ``lanes`` lanes if given.  -> (stream, lanes)"""
        stream, have = self.pending[tensor_name].pop(0)
        if lanes is None or lanes == have:
            return stream, have
        elem = self.tensor_type(tensor_name)
        elems = self.elems(tensor_name)
        steps = [lanes] if (have % lanes == 0 or lanes % have == 0) else [math.gcd(have, lanes), lanes]
        for step in steps:
            out = self.stream(f"{tensor_name}_x{step}", elem, step)
            self.emit(f"cf::convert_width<{elem}, {have}, {step}, {elems}>({stream}, {out});  "
                      f"// width: {have} -> {step} lanes")
            stream, have = out, step
        return stream, have

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


def _fits(value, lanes_name: str, node) -> None:
    if value[0] % value[1] != 0:
        raise ModelError(f"layer {node.name!r}: {lanes_name}={value[1]} does not divide {value[0]}; "
                         "choose a folding that divides the channel counts")


def _mvu_acc_type(x_type: IntType, weights: np.ndarray, bias: np.ndarray, out_type: IntType) -> IntType:
    """A type for every partial sum of bias + sum x*w, whatever order the terms are added in."""
    x_abs = max(abs(x_type.min), abs(x_type.max))
    w = np.abs(weights.astype(object)).reshape(-1, weights.shape[-1])
    bound = int(max((w.sum(axis=0) * x_abs + np.abs(bias.astype(object))).tolist() + [0]))
    return _widest(IntType.for_range(-bound, bound), out_type)


def _range_type(values: np.ndarray) -> IntType:
    values = np.asarray(values)
    if values.size == 0:
        return IntType(1, False)
    return IntType.for_range(int(values.min()), int(values.max()))


def _emit_conv(p: _Project, node: Conv2D) -> None:
    g = p.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    (ih, iw, cin), (oh, ow, cout) = x.shape, y.shape
    kh, kw = node.kernel
    simd, pe = int(node.simd), int(node.pe)
    _fits((cin, simd), "simd", node)
    _fits((cout, pe), "pe", node)
    stream_in, lanes_in = p.consume(node.inputs[0])
    t_in, t_out = p.tensor_type(node.inputs[0]), p.tensor_type(node.output)
    label = f"{node.name}"
    p.emit(f"// Conv2D '{comment_safe(node.name)}': {kh}x{kw} stride {tuple(node.stride)} pads {tuple(node.pads)}"
           f"{' depthwise' if node.depthwise else ''}, {cin} -> {cout} channels, PE={pe} SIMD={simd}")
    swg = p.config(f"{label}_swg_cfg", {
        "IFM_H": ("unsigned", ih), "IFM_W": ("unsigned", iw), "C": ("unsigned", cin),
        "K_H": ("unsigned", kh), "K_W": ("unsigned", kw), "S_H": ("unsigned", node.stride[0]),
        "S_W": ("unsigned", node.stride[1]), "PAD_T": ("unsigned", node.pads[0]), "PAD_L": ("unsigned", node.pads[1]),
        "OFM_H": ("unsigned", oh), "OFM_W": ("unsigned", ow), "IN_L": ("unsigned", lanes_in),
        "OUT_L": ("unsigned", simd), "PAD_VALUE": ("long long", _literal(node.pad_value))})
    windows = p.stream(f"{label}_windows", t_in, simd)
    p.emit(f"cf::sliding_window<{swg}, {t_in}>({stream_in}, {windows});")
    out = p.stream(label, t_out, pe)
    x_type, y_type = x.dtype, y.dtype
    if node.depthwise:
        if cin != cout or node.weights.shape[2] != 1:
            raise UnsupportedOp(f"layer {node.name!r}: depthwise convolution with {cin} inputs and {cout} outputs "
                                "(a channel multiplier) is not supported by the HLS backend")
        w = node.weights[:, :, 0, :].reshape(kh * kw, cout)
        bias = node.bias.reshape(cout)
        acc = _mvu_acc_type(x_type, w, bias, y_type)
        tw, tb = _range_type(w), _range_type(bias)
        wv, _ = p.weight_array(f"{label}_weights", node.name, tw, w, "depthwise weights [ky*KW+kx][c]")
        bv, _ = p.weight_array(f"{label}_bias", node.name, tb, bias, "bias [c]")
        cfg = p.config(f"{label}_cfg", {"KK": ("unsigned", kh * kw), "C": ("unsigned", cout),
                                       "SIMD": ("unsigned", simd), "PE": ("unsigned", pe),
                                       "VECTORS": ("unsigned", oh * ow)})
        ta = p.extra_type(f"{label}_acc_t", acc, f"accumulator of '{comment_safe(node.name)}'")
        p.emit(f"cf::depthwise_vector<{cfg}, {t_in}, {ctype(tw)}, {ctype(tb)}, {ta}, {t_out}>"
               f"({windows}, {out}, {wv}, {bv});")
    else:
        matrix = node.weights.reshape(kh * kw * cin, cout)           # row (ky*KW + kx)*Cin + c
        _emit_mvu_core(p, node, matrix, node.bias, x_type, y_type, t_in, t_out, windows, out, oh * ow)
    p.emit()
    p.produce(node.output, out, pe)


def _emit_mvu_core(p, node, matrix, bias, x_type, y_type, t_in, t_out, stream_in, stream_out, vectors) -> None:
    k, n = matrix.shape
    simd, pe = int(node.simd), int(node.pe)
    nf, sf = n // pe, k // simd
    # weights[p][nf*SF + sf][s] = W[sf*SIMD + s][nf*PE + p]
    folded = matrix.reshape(sf, simd, nf, pe).transpose(3, 2, 0, 1).reshape(pe, nf * sf, simd)
    folded_bias = np.asarray(bias).reshape(nf, pe).T
    tw, tb = _range_type(matrix), _range_type(bias)
    acc = _mvu_acc_type(x_type, matrix, np.asarray(bias), y_type)
    wv, _ = p.weight_array(f"{node.name}_weights", node.name, tw, folded, "weights [PE][NF*SF][SIMD]")
    bv, _ = p.weight_array(f"{node.name}_bias", node.name, tb, folded_bias, "bias [PE][NF]")
    cfg = p.config(f"{node.name}_cfg", {"K": ("unsigned", k), "N": ("unsigned", n), "SIMD": ("unsigned", simd),
                                        "PE": ("unsigned", pe), "VECTORS": ("unsigned", vectors)})
    ta = p.extra_type(f"{node.name}_acc_t", acc, f"accumulator of '{comment_safe(node.name)}'")
    p.emit(f"cf::matrix_vector<{cfg}, {t_in}, {ctype(tw)}, {ctype(tb)}, {ta}, {t_out}>"
           f"({stream_in}, {stream_out}, {wv}, {bv});")


def _emit_dense(p: _Project, node: Dense) -> None:
    g = p.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    cin, cout = node.weights.shape
    if int(np.prod(x.shape)) != cin or int(np.prod(y.shape)) != cout:
        raise ModelError(f"layer {node.name!r}: Dense weights {node.weights.shape} do not match "
                         f"input {x.shape} / output {y.shape}")
    simd, pe = int(node.simd), int(node.pe)
    _fits((cin, simd), "simd", node)
    _fits((cout, pe), "pe", node)
    p.emit(f"// Dense '{comment_safe(node.name)}': {cin} -> {cout}, PE={pe} SIMD={simd}")
    stream_in, _ = p.consume(node.inputs[0], simd)
    t_in, t_out = p.tensor_type(node.inputs[0]), p.tensor_type(node.output)
    out = p.stream(node.name, t_out, pe)
    _emit_mvu_core(p, node, node.weights, node.bias, x.dtype, y.dtype, t_in, t_out, stream_in, out, 1)
    p.emit()
    p.produce(node.output, out, pe)


def _emit_threshold(p: _Project, node: Threshold) -> None:
    x = p.graph.tensors[node.inputs[0]]
    t = np.asarray(node.thresholds)
    c = x.channels
    if t.ndim != 2 or t.shape[1] == 0 or t.shape[0] not in (1, c):
        raise UnsupportedOp(f"layer {node.name!r}: thresholds of shape {t.shape} for {c} channels "
                            "(want (C or 1, N) with N >= 1)")
    stream_in, lanes = p.consume(node.inputs[0])
    t_in, t_out = p.tensor_type(node.inputs[0]), p.tensor_type(node.output)
    p.emit(f"// Threshold '{comment_safe(node.name)}': {t.shape[1]} thresholds x {t.shape[0]} rows, "
           f"out_base {node.out_base}")
    tt = _range_type(t)
    tv, _ = p.weight_array(f"{node.name}_thresholds", node.name, tt, t, "thresholds [row][j], ascending")
    cfg = p.config(f"{node.name}_cfg", {"C": ("unsigned", c), "N": ("unsigned", t.shape[1]),
                                        "ROWS": ("unsigned", t.shape[0]), "LANES": ("unsigned", lanes),
                                        "WORDS": ("unsigned", p.elems(node.inputs[0]) // lanes),
                                        "OUT_BASE": ("int", int(node.out_base))})
    out = p.stream(node.name, t_out, lanes)
    p.emit(f"cf::threshold<{cfg}, {t_in}, {ctype(tt)}, {t_out}>({stream_in}, {out}, {tv});")
    p.emit()
    p.produce(node.output, out, lanes)


def _emit_shift(p: _Project, node: Shift) -> None:
    x = p.graph.tensors[node.inputs[0]]
    stream_in, lanes = p.consume(node.inputs[0])
    t_in, t_out = p.tensor_type(node.inputs[0]), p.tensor_type(node.output)
    right, left = max(int(node.shift), 0), max(-int(node.shift), 0)
    wide = IntType(max(x.dtype.bits, right) + left + 3, True)
    p.emit(f"// Shift '{comment_safe(node.name)}': round_half_even(x * 2^{-int(node.shift)}), "
           f"clip to [{node.lo}, {node.hi}]")
    tw = p.extra_type(f"{node.name}_wide_t", wide, f"shift working type of '{comment_safe(node.name)}'")
    cfg = p.config(f"{node.name}_cfg", {"SHIFT": ("int", int(node.shift)), "LO": ("long long", _literal(node.lo)),
                                        "HI": ("long long", _literal(node.hi)), "LANES": ("unsigned", lanes),
                                        "WORDS": ("unsigned", p.elems(node.inputs[0]) // lanes)})
    out = p.stream(node.name, t_out, lanes)
    p.emit(f"cf::shift<{cfg}, {t_in}, {tw}, {t_out}>({stream_in}, {out});")
    p.emit()
    p.produce(node.output, out, lanes)


def _emit_pool(p: _Project, node) -> None:
    x, y = p.graph.tensors[node.inputs[0]], p.graph.tensors[node.output]
    (ih, iw, c), (oh, ow, _) = x.shape, y.shape
    kh, kw = node.kernel
    is_max = isinstance(node, MaxPool)
    stream_in, lanes = p.consume(node.inputs[0])
    t_in, t_out = p.tensor_type(node.inputs[0]), p.tensor_type(node.output)
    kind = "MaxPool" if is_max else "SumPool"
    is_global = (kh, kw) == (ih, iw) and not any(node.pads) and (oh, ow) == (1, 1)
    p.emit(f"// {kind} '{comment_safe(node.name)}': {'global' if is_global else f'{kh}x{kw}'} "
           f"stride {tuple(node.stride)} pads {tuple(node.pads)}")
    if is_global:
        windows, vectors = stream_in, 1
    else:
        pad_value = x.dtype.min if is_max else 0
        swg = p.config(f"{node.name}_swg_cfg", {
            "IFM_H": ("unsigned", ih), "IFM_W": ("unsigned", iw), "C": ("unsigned", c),
            "K_H": ("unsigned", kh), "K_W": ("unsigned", kw), "S_H": ("unsigned", node.stride[0]),
            "S_W": ("unsigned", node.stride[1]), "PAD_T": ("unsigned", node.pads[0]),
            "PAD_L": ("unsigned", node.pads[1]), "OFM_H": ("unsigned", oh), "OFM_W": ("unsigned", ow),
            "IN_L": ("unsigned", lanes), "OUT_L": ("unsigned", lanes), "PAD_VALUE": ("long long", _literal(pad_value))})
        windows = p.stream(f"{node.name}_windows", t_in, lanes)
        p.emit(f"cf::sliding_window<{swg}, {t_in}>({stream_in}, {windows});")
        vectors = oh * ow
    if is_max:
        acc = x.dtype
    else:
        k = kh * kw
        acc = _widest(IntType.for_range(k * min(x.dtype.min, 0), k * max(x.dtype.max, 0)), y.dtype)
    ta = p.extra_type(f"{node.name}_acc_t", acc, f"{kind.lower()} accumulator of '{comment_safe(node.name)}'")
    cfg = p.config(f"{node.name}_cfg", {"KK": ("unsigned", kh * kw), "C": ("unsigned", c),
                                        "LANES": ("unsigned", lanes), "VECTORS": ("unsigned", vectors),
                                        "IS_MAX": ("bool", "true" if is_max else "false")})
    out = p.stream(node.name, t_out, lanes)
    p.emit(f"cf::window_reduce<{cfg}, {t_in}, {ta}, {t_out}>({windows}, {out});")
    p.emit()
    p.produce(node.output, out, lanes)


def _emit_add(p: _Project, node: Add) -> None:
    g = p.graph
    a, b, y = (g.tensors[n] for n in (*node.inputs, node.output))
    if tuple(a.shape) != tuple(b.shape):
        raise UnsupportedOp(f"layer {node.name!r}: Add of shapes {a.shape} and {b.shape} (no broadcasting)")
    p.emit(f"// Add '{comment_safe(node.name)}': a * {node.mul_a} + b * {node.mul_b}")
    stream_a, lanes = p.consume(node.inputs[0])
    stream_b, _ = p.consume(node.inputs[1], lanes)
    ends = [v * m for v in (a.dtype.min, a.dtype.max) for m in (node.mul_a,)] + \
           [v * m for v in (b.dtype.min, b.dtype.max) for m in (node.mul_b,)]
    lo = min(ends[:2]) + min(ends[2:])
    hi = max(ends[:2]) + max(ends[2:])
    wide = _widest(IntType.for_range(min(lo, *ends, node.mul_a, node.mul_b, 0),
                                     max(hi, *ends, node.mul_a, node.mul_b, 0)), a.dtype, b.dtype, y.dtype)
    tw = p.extra_type(f"{node.name}_wide_t", wide, f"add working type of '{comment_safe(node.name)}'")
    cfg = p.config(f"{node.name}_cfg", {"MUL_A": ("long long", _literal(node.mul_a)),
                                        "MUL_B": ("long long", _literal(node.mul_b)),
                                        "LANES": ("unsigned", lanes),
                                        "WORDS": ("unsigned", p.elems(node.output) // lanes)})
    out = p.stream(node.name, p.tensor_type(node.output), lanes)
    p.emit(f"cf::add<{cfg}, {p.tensor_type(node.inputs[0])}, {p.tensor_type(node.inputs[1])}, {tw}, "
           f"{p.tensor_type(node.output)}>({stream_a}, {stream_b}, {out});")
    p.emit()
    p.produce(node.output, out, lanes)


def _emit_flatten(p: _Project, node: Flatten) -> None:
    x, y = p.graph.tensors[node.inputs[0]], p.graph.tensors[node.output]
    if x.dtype != y.dtype:
        raise ModelError(f"layer {node.name!r}: Flatten changes the type {x.dtype} -> {y.dtype}")
    p.emit(f"// Flatten '{comment_safe(node.name)}': a no-op on the stream (NHWC order is already flat)")
    p.emit()
    stream, lanes = p.consume(node.inputs[0])
    p.type_of[node.output] = p.tensor_type(node.inputs[0])
    p.produce(node.output, stream, lanes)


_EMITTERS = {Conv2D: _emit_conv, Dense: _emit_dense, Threshold: _emit_threshold, Shift: _emit_shift,
             MaxPool: _emit_pool, SumPool: _emit_pool, Add: _emit_add, Flatten: _emit_flatten}


def _banner(p: _Project, what: str) -> str:
    source = next((p.graph.meta[k] for k in ("source_path", "source", "source_file")
                   if isinstance(p.graph.meta.get(k), str)), None)
    origin = f" (source: {comment_safe(source)})" if source else ""
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
    return (_banner(p, f"{p.top}: the dataflow top function, one stage per IR node.") +
            f"#include \"{p.top}.h\"\n{includes}\n"
            "// Per-stage configuration (shapes, folding, constants).\n" + "\n".join(p.config_lines) + "\n\n"
            f"void {p.top}(hls::stream<in_port_t> &in_stream, hls::stream<out_port_t> &out_stream) {{\n"
            "#pragma HLS INTERFACE axis port = in_stream\n"
            "#pragma HLS INTERFACE axis port = out_stream\n"
            "#pragma HLS INTERFACE ap_ctrl_none port = return\n"
            "#pragma HLS DATAFLOW\n\n"
            f"{decls}\n\n{body}\n}}\n")


_CSIM_ENTRY = """\
#include <cstdint>
#include <thread>
#include <vector>

#include "{top}.h"

// Runs frames [first, last) through the top function.  in: IN_ELEMS integers per frame, out: OUT_ELEMS per frame
// (NHWC order).  Returns 0, or -(i + 1) when frame i left the streams in a state the design never should.
static int run_frames(const int64_t *in, int64_t *out, int first, int last) {{
    for (int i = first; i < last; i++) {{
        hls::stream<in_port_t> in_stream("in_stream");
        hls::stream<out_port_t> out_stream("out_stream");
        for (unsigned e = 0; e < IN_ELEMS; e++) {{
            in_stream.write(in_port_t(in[(int64_t)i * IN_ELEMS + e]));
        }}
        {top}(in_stream, out_stream);
        if (!in_stream.empty() || out_stream.size() != OUT_ELEMS) return -(i + 1);
        for (unsigned e = 0; e < OUT_ELEMS; e++) {{
            out[(int64_t)i * OUT_ELEMS + e] = (int64_t)out_stream.read();
        }}
    }}
    return 0;
}}

extern "C" int convflow_run(const int64_t *in, int64_t *out, int n) {{ return run_frames(in, out, 0, n); }}

// The same on `threads` threads, each on a contiguous share of the batch.  Frames are independent: every stage
// keeps its state (line buffers, accumulators) in locals of one call, so frames may run concurrently.
extern "C" int convflow_run_parallel(const int64_t *in, int64_t *out, int n, int threads) {{
    if (threads > n) threads = n;
    if (threads <= 1) return run_frames(in, out, 0, n);
    std::vector<int> status(threads, 0);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++) {{
        const int first = (int)((int64_t)n * t / threads), last = (int)((int64_t)n * (t + 1) / threads);
        pool.emplace_back([=, &status]() {{ status[t] = run_frames(in, out, first, last); }});
    }}
    for (std::thread &worker : pool) worker.join();
    for (int s : status) {{
        if (s != 0) return s;
    }}
    return 0;
}}

extern "C" int convflow_in_elems(void) {{ return (int)IN_ELEMS; }}
extern "C" int convflow_out_elems(void) {{ return (int)OUT_ELEMS; }}
"""

_TESTBENCH = """\
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "{top}.h"

// Usage: {top}_tb INPUTS [EXPECTED [OUTPUTS]]
//   INPUTS:   whitespace-separated integers, IN_ELEMS per frame (NHWC order), as many frames as the file holds
//   EXPECTED: OUT_ELEMS integers per frame; the testbench fails (exit 1) on any difference
//   OUTPUTS:  where to write the outputs, one frame per line (default tb_data/outputs.txt)
int main(int argc, char **argv) {{
    const char *inputs = argc > 1 ? argv[1] : "tb_data/inputs.txt";
    const char *expected = argc > 2 ? argv[2] : "tb_data/expected.txt";
    const char *outputs = argc > 3 ? argv[3] : "tb_data/outputs.txt";
    std::ifstream in_file(inputs);
    if (!in_file) {{
        std::cerr << "cannot read " << inputs << std::endl;
        return 2;
    }}
    std::ifstream expected_file(expected);
    std::ofstream out_file(outputs);
    int frames = 0, mismatches = 0;
    while (true) {{
        hls::stream<in_port_t> in_stream("in_stream");
        hls::stream<out_port_t> out_stream("out_stream");
        long long value;
        unsigned e = 0;
        for (; e < IN_ELEMS && (in_file >> value); e++) in_stream.write(in_port_t(value));
        if (e == 0) break;
        if (e != IN_ELEMS) {{
            std::cerr << inputs << ": the last frame is incomplete" << std::endl;
            return 2;
        }}
        {top}(in_stream, out_stream);
        if (out_stream.size() != OUT_ELEMS) {{
            std::cerr << "frame " << frames << ": " << out_stream.size() << " outputs, want " << OUT_ELEMS << std::endl;
            return 1;
        }}
        for (unsigned o = 0; o < OUT_ELEMS; o++) {{
            const long long got = (long long)out_stream.read();
            out_file << got << (o + 1 < OUT_ELEMS ? " " : "\\n");
            long long want;
            if (expected_file && (expected_file >> want) && want != got) {{
                if (mismatches < 10) {{
                    std::cerr << "frame " << frames << " output " << o << ": " << got << ", expected " << want
                              << std::endl;
                }}
                mismatches++;
            }}
        }}
        frames++;
    }}
    std::cout << frames << " frames, " << mismatches << " mismatches" << std::endl;
    return mismatches == 0 && frames > 0 ? 0 : 1;
}}
"""

_TCL = """\
# Vitis HLS build script for '{model}'.
# Generated by convflow (compiler/emit/hls.py).  Run:   vitis_hls -f build_prj.tcl
# Steps (set CONVFLOW_STEPS to a subset, e.g. "csim csynth"): csim csynth cosim export
set steps {{csim csynth cosim export}}
if {{[info exists ::env(CONVFLOW_STEPS)]}} {{ set steps $::env(CONVFLOW_STEPS) }}

open_project -reset {top}_prj
set_top {top}
add_files {top}.cpp -cflags "-std=c++14 -I{headers}"
add_files -tb {top}_tb.cpp -cflags "-std=c++14 -I{headers}"
add_files -tb tb_data
open_solution -reset solution1 -flow_target vivado
set_part {{{part}}}
create_clock -period {clock} -name default

set tb_args "tb_data/inputs.txt tb_data/expected.txt tb_data/outputs.txt"
if {{[lsearch $steps csim] >= 0}}   {{ csim_design -argv $tb_args }}
if {{[lsearch $steps csynth] >= 0}} {{ csynth_design }}
if {{[lsearch $steps cosim] >= 0}}  {{ cosim_design -argv $tb_args }}
if {{[lsearch $steps export] >= 0}} {{ export_design -format ip_catalog }}
exit
"""


def write_hls_project(graph: Graph, out_dir, part: str = DEFAULT_PART, model_name: str = None,
                      clock_ns: float = DEFAULT_CLOCK_NS, tb_inputs: int = TB_INPUTS, seed: int = 0) -> list:
    """Write the Vitis HLS project of ``graph`` into ``out_dir``; returns the list of files written."""
    from convflow.compiler.ir.interpret import run_graph

    out_dir = Path(out_dir)
    model_name = model_name or graph.name
    p = _Project(graph, model_name)
    inp, outp = graph.input_tensor, graph.output_tensor
    in_t, out_t = p.tensor_type(graph.input), None

    p.emit(f"// input '{comment_safe(graph.input)}' {tuple(inp.shape)} {inp.dtype}: one element per beat")
    first = p.stream(f"{graph.input}_in", in_t, 1)
    p.emit(f"cf::from_port<{in_t}, {p.elems(graph.input)}>(in_stream, {first});")
    p.emit()
    p.produce(graph.input, first, 1)
    for node in graph.nodes:
        emit = _EMITTERS.get(type(node))
        if emit is None:
            raise UnsupportedOp(f"layer {node.name!r}: the HLS backend has no stage for {node.op}")
        emit(p, node)
    out_t = p.tensor_type(graph.output)
    last, _ = p.consume(graph.output, 1)
    p.emit(f"// output '{comment_safe(graph.output)}' {tuple(outp.shape)} {outp.dtype}: one element per beat")
    p.emit(f"cf::to_port<{out_t}, {p.elems(graph.output)}>({last}, out_stream);")

    files = {
        f"{p.top}.h": _top_header(p, in_t, out_t, p.elems(graph.input), p.elems(graph.output)),
        f"{p.top}.cpp": _top_source(p),
        "convflow_csim.cpp": _banner(p, "C-callable batch entry for convflow's csim backend.")
        + _CSIM_ENTRY.format(top=p.top),
        f"{p.top}_tb.cpp": _banner(p, "C++ testbench (Vitis HLS csim / cosim).") + _TESTBENCH.format(top=p.top),
        "build_prj.tcl": _TCL.format(model=comment_safe(model_name), top=p.top, headers=HEADER_DIR, part=part,
                                     clock=clock_ns),
    }
    files.update(p.weight_files)
    rng = np.random.default_rng(seed)
    x = rng.integers(inp.dtype.min, inp.dtype.max, size=(tb_inputs, *inp.shape), endpoint=True)
    y = run_graph(graph, x)
    files["tb_data/inputs.txt"] = "".join(" ".join(map(str, r)) + "\n" for r in x.reshape(tb_inputs, -1).tolist())
    files["tb_data/expected.txt"] = "".join(" ".join(map(str, r)) + "\n" for r in y.reshape(tb_inputs, -1).tolist())

    written = []
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    headers = out_dir / HEADER_DIR
    headers.mkdir(parents=True, exist_ok=True)
    for header in sorted(HLS_DIR.glob("*.h")):
        shutil.copyfile(header, headers / header.name)
        written.append(headers / header.name)
    return written


def top_name(out_dir) -> str:
    """The top function's name of a project written by write_hls_project (the .cpp next to convflow_csim.cpp)."""
    tops = [f.stem for f in Path(out_dir).glob("*_tb.cpp")]
    if len(tops) != 1:
        raise ModelError(f"{out_dir}: expected one <top>_tb.cpp, found {len(tops)}")
    return tops[0][:-3]
