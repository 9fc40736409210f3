"""The hardware plan of a graph: the chain of RTL stages (library module instances) that implements it.

Shared by the Verilog emitter (``rtl.py``, which instantiates the stages) and the estimator (``estimate.py``, which
prices them), so both always describe the same hardware.  Every IR node becomes one or two stages:

==========  =============================================  ==========================================
IR node     stages                                         stream lanes in -> out
==========  =============================================  ==========================================
Conv2D      cf_swg (line buffer) -> cf_mvu                 SIMD -> SIMD -> PE
Dense       cf_mvu                                         SIMD -> PE
Threshold   cf_thresh                                      L -> L
Shift       cf_shift                                       L -> L
MaxPool     cf_swg -> cf_pool (MODE 0)                     L -> L
SumPool     cf_swg -> cf_pool (MODE 1)                     L -> L
Flatten     (nothing: NHWC order is already flat)
Add         cf_add (joins two streams beat by beat)        L, L -> L
==========  =============================================  ==========================================

A tensor read by two nodes (a residual branch) is duplicated by a cf_fork; the copy that goes straight to the Add
gets a FIFO of a whole frame, so the fork never waits for the longer branch (no deadlock, full throughput).

A stream carries ``lanes`` consecutive NHWC elements per beat.  Where a stage wants another lane count, cf_dwc width
converters are inserted (through the gcd when neither count divides the other).  The accelerator's own ports are one
element per beat.  Every stage is followed by a cf_fifo in the generated top.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from convflow.hw.errors import UnsupportedOp

from ..ir.graph import Add, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Shift, SumPool, Threshold


# A product goes to a DSP block (MULT18X18D) only when both operands (input made signed) have more bits than this;
# narrower products are cheaper as LUT shift-and-add.
DSP_MIN_BITS = 4
# depth of the cf_fifo the emitter puts after every stage
FIFO_DEPTH_DEFAULT = 2


@dataclass
class Stream:
    """One valid/ready stream of the design: ``lanes`` consecutive NHWC elements of ``bits`` bits per beat."""
    id: str
    lanes: int
    bits: int
    signed: bool
    elems: int                # elements per frame


@dataclass
class Stage:
    kind: str                 # cf_swg, cf_mvu, cf_thresh, cf_shift, cf_pool, cf_dwc, cf_add, cf_fork
    label: str                # human name (IR node name + role), sanitised by the emitter
    node: object              # the IR node it implements (None for inserted converters / forks)
    in_lanes: int
    in_bits: int
    out_lanes: int
    out_bits: int
    out_signed: bool
    params: dict              # Verilog parameters (ROM file parameters are added by the emitter)
    cycles: int               # ideal cycles per frame: the most beats it must accept, emit or compute
    roms: dict = field(default_factory=dict)   # parameter name -> (word bits, [word ints])
    info: dict = field(default_factory=dict)   # extra facts for the resource estimate
    inputs: list = field(default_factory=list)        # stream ids read (cf_add: [a, b])
    outputs: list = field(default_factory=list)       # stream ids written (cf_fork: two)
    fifo_depths: list = field(default_factory=list)   # depth of the cf_fifo after each output


def signed_bits(values: np.ndarray) -> int:
    """Bits of the smallest signed type holding every value (at least 2)."""
    values = np.asarray(values, dtype=np.int64)
    lo = min(int(values.min()) if values.size else 0, -1)
    hi = max(int(values.max()) if values.size else 0, 0)
    return max(2, IntType.for_range(lo, hi).bits)


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


class _Chain:
    """Builds the stage list; ``cur`` is the stream the next stage reads (set per IR node by ``plan``)."""

    def __init__(self, graph: Graph):
        t = graph.input_tensor
        self.count = 0
        self.cur = Stream("st_in", 1, t.dtype.bits, t.dtype.signed, int(np.prod(t.shape)))
        self.stages: list = []

    @property
    def lanes(self):
        return self.cur.lanes

    @property
    def bits(self):
        return self.cur.bits

    @property
    def signed(self):
        return self.cur.signed

    @property
    def elems(self):
        return self.cur.elems

    @elems.setter
    def elems(self, value):
        self.cur.elems = value

    def add(self, stage: Stage, inputs=None, n_out=1, depths=None):
        stage.inputs = [s.id for s in (inputs or [self.cur])]
        outs = []
        for _ in range(n_out):
            self.count += 1
            outs.append(Stream(f"w{self.count}", stage.out_lanes, stage.out_bits, stage.out_signed, self.elems))
        stage.outputs = [s.id for s in outs]
        stage.fifo_depths = list(depths or [FIFO_DEPTH_DEFAULT] * n_out)
        self.stages.append(stage)
        self.cur = outs[0]
        return outs

    def adapt(self, lanes: int, label: str):
        """Insert width converters so the current stream carries ``lanes`` elements per beat."""
        if lanes == self.lanes:
            return
        mid = math.gcd(lanes, self.lanes)
        for target in ([mid] if mid != self.lanes else []) + ([lanes] if lanes != mid else []):
            params = {"EW": self.bits, "IN_L": self.lanes, "OUT_L": target}
            self.add(Stage("cf_dwc", f"{label}_dwc{self.lanes}to{target}", None, self.lanes, self.bits, target,
                           self.bits, self.signed, params, self.elems // min(self.lanes, target)))


def _check_fold(node, cin, cout):
    if node.simd < 1 or cin % node.simd:
        raise UnsupportedOp(f"{node.op} {node.name!r}: simd={node.simd} does not divide its {cin} input channels; "
                            "choose a divisor (passes/choose_folding.py)")
    if node.pe < 1 or cout % node.pe:
        raise UnsupportedOp(f"{node.op} {node.name!r}: pe={node.pe} does not divide its {cout} output channels; "
                            "choose a divisor (passes/choose_folding.py)")


def _swg(chain: _Chain, node, label, h, w, c, kernel, stride, pads, pad_value) -> tuple:
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = pads
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    lanes = chain.lanes
    cf = c // lanes
    params = {"EW": chain.bits, "L": lanes, "H": h, "W": w, "CF": cf, "KH": kh, "KW": kw, "SH": sh, "SW": sw,
              "PT": pt, "PL": pl, "PB": pb, "PR": pr, "PAD": int(pad_value)}
    # ring of rows: the reader's KH rows + room to prefetch the next KH - 1 + SH (no bubble between frames)
    rows = 1 << (2 * kh + sh - 2).bit_length()
    params["NR"] = rows
    chain.add(Stage("cf_swg", label, node, lanes, chain.bits, lanes, chain.bits, chain.signed, params,
                    max(h * w * cf, oh * ow * kh * kw * cf),
                    info={"buffer_words": rows * w * cf, "word_bits": lanes * chain.bits}))
    return oh, ow


def _mvu(chain: _Chain, node, label, matrix, bias, vectors, acc_type: IntType):
    mh, mw = matrix.shape
    simd, pe = node.simd, node.pe
    sf, nf = mh // simd, mw // pe
    wbits = signed_bits(matrix)
    abits = acc_type.bits
    # word nf*SF + sf, lane pe*SIMD + s = matrix[sf*SIMD + s, nf*PE + pe]
    tiles = matrix.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
    roms = {"WFILE": (pe * simd * wbits, pack_words(tiles, wbits)),
            "BFILE": (pe * abits, pack_words(np.asarray(bias, dtype=np.int64).reshape(nf, pe), abits))}
    use_dsp = int(min(chain.bits + (0 if chain.signed else 1), wbits) > DSP_MIN_BITS)
    if nf > 1 and chain.stages and chain.cur.id in chain.stages[-1].outputs:
        # The MVU reads a whole input vector (SF beats) during its first neuron fold, then computes NF - 1 more
        # folds without reading.  A FIFO of one vector in front lets the producer deliver the next vector
        # meanwhile; with the default depth of 2 it would stall, and the frame would take fill + compute cycles
        # instead of the slower of the two (measured: mlp-mnist5k 900 cycles/frame against 784).
        prev = chain.stages[-1]
        i = prev.outputs.index(chain.cur.id)
        prev.fifo_depths[i] = max(prev.fifo_depths[i], sf)
    params = {"SIMD": simd, "PE": pe, "SF": sf, "NF": nf, "IBITS": chain.bits, "ISIGNED": int(chain.signed),
              "WBITS": wbits, "ABITS": abits, "USE_DSP": use_dsp}
    chain.add(Stage("cf_mvu", label, node, simd, chain.bits, pe, abits, acc_type.signed, params,
                    vectors * sf * nf, roms,
                    info={"ibits": chain.bits, "wbits": wbits, "use_dsp": use_dsp, "weight_bits": mh * mw * wbits,
                          "rom_words": nf * sf, "rom_width": pe * simd * wbits}))


def plan(graph: Graph) -> list:
    """The list of Stages implementing ``graph`` (input: 1 element per beat; output: 1 element per beat)."""
    return plan_with_output(graph)[0]


def plan_with_output(graph: Graph) -> tuple:
    """(stages, id of the stream that leaves the design as m_data; "st_in" is the design's input stream)."""
    chain = _Chain(graph)
    streams = {}          # (tensor name, consumer node name or None for the graph output) -> Stream

    def publish(tensor_name: str):
        """Make the current stream the source of ``tensor_name`` for each of its consumers (forking it when there
        are two: the branch read by an Add gets a FIFO deep enough for a whole frame, so the other branch can take
        all the time it needs without stalling the fork)."""
        readers = [n.name for n in graph.consumers(tensor_name)] + ([None] if tensor_name == graph.output else [])
        if len(readers) == 1:
            streams[(tensor_name, readers[0])] = chain.cur
            return
        if len(readers) != 2:
            raise UnsupportedOp(f"tensor {tensor_name!r} feeds {len(readers)} consumers; the RTL backend forks a "
                                "stream in two at most (use the hls backend)")
        src = chain.cur
        frame = -(-src.elems // src.lanes) + 4
        depths = [frame if _is_add(graph, r) else FIFO_DEPTH_DEFAULT for r in readers]
        if depths == [FIFO_DEPTH_DEFAULT] * 2:
            depths[1] = frame
        params = {"WIDTH": src.lanes * src.bits}
        outs = chain.add(Stage("cf_fork", f"{tensor_name}_fork", None, src.lanes, src.bits, src.lanes, src.bits,
                               src.signed, params, -(-src.elems // src.lanes)), n_out=2, depths=depths)
        for reader, out in zip(readers, outs):
            streams[(tensor_name, reader)] = out

    publish(graph.input)
    for node in graph.nodes:
        tout = graph.tensors[node.output]
        elems_out = int(np.prod(tout.shape))
        if isinstance(node, Add):
            _add(chain, graph, node, [streams[(t, node.name)] for t in node.inputs], tout)
            chain.elems = elems_out
            publish(node.output)
            continue
        if len(node.inputs) != 1:
            raise UnsupportedOp(f"{node.op} {node.name!r}: {len(node.inputs)} inputs; no RTL stage for that")
        tin = graph.tensors[node.inputs[0]]
        chain.cur = streams[(node.inputs[0], node.name)]
        if isinstance(node, Conv2D):
            if node.depthwise:
                raise UnsupportedOp(f"Conv2D {node.name!r}: depthwise convolution has no RTL stage yet "
                                    "(use the hls backend)")
            if len(tin.shape) != 3:
                raise UnsupportedOp(f"Conv2D {node.name!r}: input shape {tin.shape} is not (H, W, C)")
            h, w, cin = tin.shape
            kh, kw, _, cout = node.weights.shape
            _check_fold(node, cin, cout)
            chain.adapt(node.simd, node.name)
            oh, ow = _swg(chain, node, f"{node.name}_swg", h, w, cin, (kh, kw), node.stride, node.pads,
                          node.pad_value)
            matrix = np.asarray(node.weights, dtype=np.int64).reshape(kh * kw * cin, cout)
            _mvu(chain, node, f"{node.name}_mvu", matrix, node.bias, oh * ow, tout.dtype)
        elif isinstance(node, Dense):
            cin, cout = node.weights.shape
            _check_fold(node, cin, cout)
            chain.adapt(node.simd, node.name)
            _mvu(chain, node, node.name, np.asarray(node.weights, dtype=np.int64), node.bias, 1, tout.dtype)
        elif isinstance(node, (Threshold, Shift)):
            c = tin.shape[-1]
            if c % chain.lanes:
                chain.adapt(math.gcd(c, chain.lanes), node.name)
            lanes = chain.lanes
            itype = IntType(chain.bits, chain.signed)
            if isinstance(node, Threshold):
                t = np.asarray(node.thresholds, dtype=np.int64)
                t = np.broadcast_to(t, (c, t.shape[1])) if t.shape[0] == 1 else t
                if t.shape[1] == 0:
                    t = np.full((c, 1), itype.max + 1, dtype=np.int64)
                t = np.clip(t, itype.min, itype.max + 1)
                n = t.shape[1]
                tbits = IntType.for_range(min(itype.min, -1), itype.max + 1).bits
                words = pack_words(t.reshape(c // lanes, lanes * n), tbits)
                params = {"L": lanes, "C": c, "N": n, "IBITS": chain.bits, "ISIGNED": int(chain.signed),
                          "TBITS": tbits, "OBITS": tout.dtype.bits, "OBASE": int(node.out_base)}
                chain.add(Stage("cf_thresh", node.name, node, lanes, chain.bits, lanes, tout.dtype.bits,
                                tout.dtype.signed, params, elems_out // lanes, {"TFILE": (lanes * n * tbits, words)},
                                info={"n": n, "tbits": tbits, "channels": c}))
            else:
                lo = max(int(node.lo), -(1 << 62))
                hi = min(int(node.hi), (1 << 62))
                params = {"L": lanes, "IBITS": chain.bits, "ISIGNED": int(chain.signed), "OBITS": tout.dtype.bits,
                          "SHIFT": int(node.shift), "LO": lo, "HI": hi}
                chain.add(Stage("cf_shift", node.name, node, lanes, chain.bits, lanes, tout.dtype.bits,
                                tout.dtype.signed, params, elems_out // lanes))
        elif isinstance(node, (MaxPool, SumPool)):
            if len(tin.shape) != 3:
                raise UnsupportedOp(f"{node.op} {node.name!r}: input shape {tin.shape} is not (H, W, C)")
            h, w, c = tin.shape
            if c % chain.lanes:
                chain.adapt(math.gcd(c, chain.lanes), node.name)
            is_max = isinstance(node, MaxPool)
            pad_value = IntType(chain.bits, chain.signed).min if is_max else 0
            oh, ow = _swg(chain, node, f"{node.name}_swg", h, w, c, node.kernel, node.stride, node.pads, pad_value)
            kk = node.kernel[0] * node.kernel[1]
            lanes = chain.lanes
            params = {"L": lanes, "CF": c // lanes, "KK": kk, "IBITS": chain.bits, "ISIGNED": int(chain.signed),
                      "OBITS": tout.dtype.bits, "MODE": 0 if is_max else 1}
            chain.add(Stage("cf_pool", node.name, node, lanes, chain.bits, lanes, tout.dtype.bits, tout.dtype.signed,
                            params, oh * ow * kk * (c // lanes)))
        elif isinstance(node, Flatten):
            pass
        else:
            raise UnsupportedOp(f"{node.op} {node.name!r}: no RTL stage for this op (use the hls backend)")
        if chain.cur.id == streams[(node.inputs[0], node.name)].id:
            # a no-op on the stream (Flatten): a new name for the same stream
            chain.cur = Stream(chain.cur.id, chain.lanes, chain.bits, chain.signed, elems_out)
        chain.elems = elems_out
        publish(node.output)
    chain.cur = streams[(graph.output, None)]
    chain.adapt(1, "output")
    return chain.stages, chain.cur.id


def _is_add(graph: Graph, consumer_name) -> bool:
    return any(n.name == consumer_name and isinstance(n, Add) for n in graph.nodes)


def _add(chain: _Chain, graph: Graph, node, inputs: list, tout):
    """cf_add: both input streams brought to a common lane count, then joined beat by beat."""
    c = tout.shape[-1]
    lanes = math.gcd(c, math.gcd(inputs[0].lanes, inputs[1].lanes))
    adapted = []
    for stream in inputs:
        chain.cur = stream
        chain.adapt(lanes, node.name)
        adapted.append(chain.cur)
    a, b = adapted
    params = {"L": lanes, "ABITS": a.bits, "ASIGNED": int(a.signed), "BBITS": b.bits, "BSIGNED": int(b.signed),
              "OBITS": tout.dtype.bits, "MUL_A": int(node.mul_a), "MUL_B": int(node.mul_b)}
    chain.cur = a
    chain.add(Stage("cf_add", node.name, node, lanes, a.bits, lanes, tout.dtype.bits, tout.dtype.signed, params,
                    int(np.prod(tout.shape)) // lanes), inputs=[a, b])
