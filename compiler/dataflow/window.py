"""Windowed ops: the sliding-window generator (line buffer) and the pools built on it.

==========  =====================================  ===================
IR node     stages                                 lanes in -> out
==========  =====================================  ===================
MaxPool     cf_swg -> cf_pool (MODE 0, max)        L -> L -> L
SumPool     cf_swg -> cf_pool (MODE 1, sum)        L -> L -> L
Pad         cf_swg (a 1 x 1 window with padding)   L -> L
Upsample    cf_upsample (a row buffer)             L -> L
(Conv2D     cf_swg -> cf_mvu: dataflow/mvu.py)
==========  =====================================  ===================

cf_swg writes, for each output pixel in row-major order, its KH x KW x C window in the order (ky, kx, c) -- the row
order of a convolution's weight matrix.  Two ways, one stage class (SlidingWindowGen, the plan's one description):

  rows mode    out lanes = in lanes L (L divides C): the window in KH*KW*C/L words of L lanes, read from a ring of
               rows; cycles = max(H*W*C/L in, OH*OW*KH*KW*C/L out)
  window mode  out lanes OL (OL divides KH*KW*C, not C): whole pixels in (L = C), the window assembled from a ring
               of pixel columns and written as KH*KW*C/OL words of OL lanes, which may span channels, pixels and
               kernel rows -- so a first layer with one to three channels can take SIMD = KH*KW*C; cycles =
               max(H*W pixels in, OH*W columns fetched, OH*OW*KH*KW*C/OL out)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from convflow.compiler.ir.graph import IntType, MaxPool, Pad, SumPool, Upsample
from convflow.hw.errors import UnsupportedOp

from .memory import PLACEMENTS, memory_cost
from .outbuf import BuffersOutput
from .plan import Plan, Stage


@dataclass(eq=False, kw_only=True)
class SlidingWindowGen(BuffersOutput, Stage):
    h: int
    w: int
    c: int
    kernel: tuple
    stride: tuple
    pads: tuple                # top, left, bottom, right
    pad_value: int
    rows: int                  # rows in the line buffer's ring
    columns: int = 0           # window mode: pixel columns in the column ring (0 in rows mode)
    buffer_mem: str = "auto"   # where the ring of rows goes (memory.PLACEMENTS)
    kind = "cf_swg"

    @property
    def window_mode(self) -> bool:
        return self.output.lanes != self.input.lanes

    @property
    def buffers_output(self) -> bool:
        """Window mode: the emitter's two register stages (the registered window, then the beat) run free behind
        cf_outbuf (dataflow/outbuf.py); rows mode freezes its one read register (a RAM's output) as before."""
        return self.window_mode

    # window mode: cycles from a beat's emit to its earliest pop (cf_swg_window's LAT), every beat a word
    latency = 2

    @property
    def words_in_flight(self) -> int:
        return self.latency + 1

    @property
    def beats_per_window(self) -> int:
        (kh, kw) = self.kernel
        return kh * kw * self.c // self.output.lanes


    @property
    def out_hw(self) -> tuple:
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = self.kernel, self.stride, self.pads
        return (self.h + pt + pb - kh) // sh + 1, (self.w + pl + pr - kw) // sw + 1

    @property
    def params(self) -> dict:
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = self.kernel, self.stride, self.pads
        lanes = self.input.lanes
        params = {"EW": self.input.bits, "L": lanes, "H": self.h, "W": self.w, "CF": self.c // lanes,
                  "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PT": pt, "PL": pl, "PB": pb, "PR": pr,
                  "PAD": int(self.pad_value), "NR": self.rows}
        if self.window_mode:
            params.update(OL=self.output.lanes, NC=self.columns, ODEPTH=self.output.fifo_depth)
        if self.buffer_mem != "auto":
            params["BMEM"] = PLACEMENTS.index(self.buffer_mem)
        return params

    @property
    def buffer_words(self) -> int:
        return self.rows * self.w * (self.c // self.input.lanes)

    def resources_own(self) -> dict:
        if self.window_mode:
            return self._window_resources()
        word = self.lanes * self.input.bits
        buf = memory_cost(self.buffer_words, word, ram=True, placement=self.buffer_mem)
        # position registers and their adders, ring bookkeeping; per word bit the pad select and the read register's
        # input; a ring in LUT RAM, its banks and the read multiplexer over them.  Fitted to yosys synth_ecp5 on ten
        # rows-mode windows (8- to 256-bit words, 8 to 32 pixels a row, ring in LUT RAM and in block RAM: within
        # 13 %, benchmarks/estimate_vs_yosys.py --shapes); the fit of the zoo's small images alone (780 + 0.3 per
        # LUT RAM site) was 2.1-3.1 times low on CNV's 128-bit windows.
        return {"lut": 634 + 0.74 * word + 1.6 * buf["lut"], "ff": 270 + 1.5 * word, "dsp": 0, "bram": buf["bram"]}

    def _window_resources(self) -> dict:
        """Fitted to yosys synth_ecp5 on three window-mode generators (cnn-digits' and lenet-fmnist's first
        layers, lenet-fmnist's Conv_1: 1,501 / 4,011 / 10,537 LUT4; 397 / 608 / 1,462 FF): the column ring goes to
        LUT RAM, one copy per window column read (KW ports), so flip-flops are little more than the output word;
        LUT4s follow the RAM copies, the ring banks and their row multiplexer, the pad selects and the beat
        multiplexer (within about 40 % on those three)."""
        kh, kw = self.kernel
        pixel = self.c * self.input.bits
        column = kh * pixel
        out = self.output.width
        bank = memory_cost(self.w, pixel, ram=True, placement=self.buffer_mem)     # one RAM per ring row
        ring_copies = kw * -(-self.columns // 16) * -(-column // 4) * 6
        selects = kw * column + (out * self.beats_per_window / 3 if self.beats_per_window > 1 else 0)
        rows_mux = kh * pixel * self.rows / 2
        logic = ring_copies + selects + self.rows * bank["lut"] + rows_mux
        # flip-flops: the registered window (kh * kw * pixel, the emitter's first stage) and the registered
        # fetched column (kh * pixel, cf_swg.v's fcol_r); the output word is in the output FIFO now (priced with
        # the stream, and its credit beside it: Stage.resources)
        return {"lut": 1100 + 1.1 * logic, "ff": 420 + 8 * kh + kh * kw * pixel + column, "dsp": 0,
                "bram": self.rows * bank["bram"]}

    def fill_elements(self) -> int:
        # the ring may fill before the first window leaves (it prefetches the next rows)
        return min(self.h, self.rows) * self.w * self.c


def sliding_window(plan: Plan, node, label: str, h, w, c, kernel, stride, pads, pad_value,
                   out_lanes: int | None = None, buffer_mem: str = "auto") -> tuple:
    """Append a cf_swg over the current stream (an h x w x c frame) writing ``out_lanes`` (default: the stream's
    lanes) elements per beat; returns the output (OH, OW).  Other out lanes than in lanes: the window mode, which
    reads whole pixels (the caller adapts the stream to c lanes first)."""
    kh, kw = kernel
    sh, sw = stride
    # ring of rows: the reader's KH rows + room to prefetch the next KH - 1 + SH (no bubble between frames)
    rows = 1 << (2 * kh + sh - 2).bit_length()
    src = plan.cur
    out_lanes = out_lanes or src.lanes
    window_mode = out_lanes != src.lanes
    if window_mode and (src.lanes != c or (kh * kw * c) % out_lanes):
        raise UnsupportedOp(f"{label}: a window of {kh}x{kw}x{c} in words of {out_lanes} lanes needs whole pixels "
                            f"in ({c} lanes, not {src.lanes}) and {out_lanes} dividing {kh * kw * c}")
    # window mode: the column ring holds a window's columns, the next row's first ones and the fetches in flight,
    # so the emitter never waits at the end of a row (cf_swg_window)
    columns = 1 << (2 * kw + sw + 1).bit_length() if window_mode else 0
    stage = SlidingWindowGen(label=label, node=node, cycles=0, h=h, w=w, c=c, kernel=(kh, kw), stride=(sh, sw),
                             pads=tuple(pads), pad_value=int(pad_value), rows=rows, columns=columns,
                             buffer_mem=buffer_mem)
    stage.inputs = [src]
    oh, ow = stage.out_hw
    if window_mode:
        stage.cycles = max(h * w, oh * w, oh * ow * (kh * kw * c // out_lanes))
    else:
        cf = c // src.lanes
        stage.cycles = max(h * w * cf, oh * ow * kh * kw * cf)
    plan.add(stage, out_lanes, src.dtype, oh * ow * kh * kw * c, src.tensor)
    return oh, ow


@dataclass(eq=False, kw_only=True)
class PoolUnit(Stage):
    """Reduces each window (KK positions x C channels, as cf_swg writes them) to one C-channel result."""
    channels: int
    kk: int
    is_max: bool
    kind = "cf_pool"


    @property
    def params(self) -> dict:
        return {"L": self.lanes, "CF": self.channels // self.lanes, "KK": self.kk, "IBITS": self.input.bits,
                "ISIGNED": int(self.input.signed), "OBITS": self.output.bits, "MODE": 0 if self.is_max else 1}

    def resources_own(self) -> dict:
        p = self.params
        xw = max(p["IBITS"], p["OBITS"]) + 1
        bank = memory_cost(p["CF"], p["L"] * xw, ram=True)
        return {"lut": 2 * p["L"] * xw + bank["lut"] + 40, "ff": 0.85 * p["L"] * xw + 8, "dsp": 0,
                "bram": bank["bram"]}

    def fill_elements(self) -> int:
        return self.kk * self.channels


def build_pool(plan: Plan, node, inputs: list) -> None:
    """MaxPool / SumPool: cf_swg (padding with the type's minimum for max, zero for sum) -> cf_pool."""
    graph = plan.graph
    tin, tout = graph.tensors[node.inputs[0]], graph.tensors[node.output]
    if len(tin.shape) != 3:
        raise UnsupportedOp(f"{node.op} {node.name!r}: input shape {tin.shape} is not (H, W, C)")
    h, w, c = tin.shape
    if c % plan.lanes:
        plan.adapt(math.gcd(c, plan.lanes), node.name)
    is_max = isinstance(node, MaxPool)
    pad_value = IntType(plan.cur.bits, plan.cur.signed).min if is_max else 0
    oh, ow = sliding_window(plan, node, f"{node.name}_swg", h, w, c, node.kernel, node.stride, node.pads, pad_value)
    kk = node.kernel[0] * node.kernel[1]
    lanes = plan.lanes
    stage = PoolUnit(label=node.name, node=node, cycles=oh * ow * kk * (c // lanes), channels=c, kk=kk,
                     is_max=is_max)
    plan.add(stage, lanes, tout.dtype, oh * ow * c, node.output)


def build_pad(plan: Plan, node: Pad, inputs: list) -> None:
    """The padded image is what a 1 x 1 window generator with padding writes (passes/fold_pads.py merges a Pad
    into the window of the layer after it where it can)."""
    tin = plan.graph.tensors[node.inputs[0]]
    if len(tin.shape) != 3:
        raise UnsupportedOp(f"Pad {node.name!r}: input shape {tin.shape} is not (H, W, C)")
    h, w, c = tin.shape
    sliding_window(plan, node, f"{node.name}_pad", h, w, c, (1, 1), (1, 1), node.pads, node.value)


@dataclass(eq=False, kw_only=True)
class UpsampleUnit(Stage):
    """Nearest-neighbour upsampling: every input row SY times, every pixel SX times, from a buffer of one row."""
    h: int
    w: int
    c: int
    scale: tuple
    kind = "cf_upsample"

    @property
    def params(self) -> dict:
        return {"EW": self.input.bits, "L": self.lanes, "W": self.w, "CF": self.c // self.lanes,
                "SY": self.scale[0], "SX": self.scale[1]}

    def resources_own(self) -> dict:
        # not yet fitted against yosys: the row buffer, four counters and the output register
        word = self.lanes * self.input.bits
        buf = memory_cost(self.w * (self.c // self.lanes), word, ram=True)
        return {"lut": 60 + buf["lut"] + word, "ff": 40 + 1.5 * word, "dsp": 0, "bram": buf["bram"]}

    def fill_elements(self) -> int:
        return self.w * self.c                 # a row's later copies come after the whole row


def build_upsample(plan: Plan, node: Upsample, inputs: list) -> None:
    tin = plan.graph.tensors[node.inputs[0]]
    if len(tin.shape) != 3:
        raise UnsupportedOp(f"Upsample {node.name!r}: input shape {tin.shape} is not (H, W, C)")
    h, w, c = tin.shape
    if c % plan.lanes:
        plan.adapt(math.gcd(c, plan.lanes), node.name)
    sy, sx = node.scale
    elems = h * sy * w * sx * c
    stage = UpsampleUnit(label=node.name, node=node, cycles=elems // plan.lanes, h=h, w=w, c=c, scale=(sy, sx))
    plan.add(stage, plan.lanes, plan.cur.dtype, elems, plan.cur.tensor)


BUILDERS = {MaxPool: build_pool, SumPool: build_pool, Pad: build_pad, Upsample: build_upsample}
