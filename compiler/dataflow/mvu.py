"""Matrix-vector layers: convolutions and dense layers, their folding and their matrix-vector units.

==========  =============================================  ==========================
IR node     stages                                         lanes in -> out
==========  =============================================  ==========================
Conv2D      cf_swg (line buffer) -> cf_mvu                 SIMD -> SIMD -> PE
  depthwise cf_swg -> cf_dwmvu (one channel per lane)      SIMD -> SIMD -> SIMD (-> cf_dwc -> PE)
Dense       cf_mvu                                         SIMD -> PE
==========  =============================================  ==========================

Folding: a unit computes PE output channels in parallel, each from SIMD inputs per cycle.  A layer's MVU takes
(rows / SIMD) * (cols / PE) cycles per output pixel, rows = KH*KW*Cin, cols = Cout (PE divides Cout).  SIMD divides
the rows: a divisor of Cin reads the window channel-fold by channel-fold, any other divisor (SIMD may span the whole
window, KH*KW*Cin) has the window generator write SIMD window elements per beat (dataflow/window.py, window mode).
A depthwise unit reads KH*KW * C / SIMD words and writes C / PE per pixel (SIMD and PE divide C).  ``mvu_cycles`` is
that formula, ``folding_grid`` every folding and ``check_folding`` the one check of a folding, used by the folding
search and the plan alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convflow.compiler.ir.graph import Conv2D, Dense, Graph, IntType
from convflow.hw.errors import FoldingError, UnsupportedOp

from .memory import PLACEMENTS, ebr_bank_words, in_block_ram, memory_cost, packed_rom_cost, rom_luts, rom_pack
from .outbuf import BuffersOutput, most_output_words
from .plan import Plan, Stage
from .window import sliding_window

# A product goes to a DSP block (MULT18X18D) only when both operands (input made signed) have more bits than this;
# narrower products are cheaper as LUT shift-and-add.  That is the "auto" rule; the folding search may choose per
# layer (node.mult): "lut", "dsp", or "dsp2" -- two products of one input and two PE lanes' weights in one
# MULT18X18D, x * (w0 + w1 * 2^P), exact while the packed operand fits its 18 bits (dsp2_exact).
DSP_MIN_BITS = 4
MULTS = ("lut", "dsp", "dsp2")
LUT_MULT_MAX_WBITS = 16            # cf_mvu's shift-and-add tree takes up to 16 weight bits
SPLIT_ROM_WORDS = 16               # cf_mvu splits a logic weight ROM deeper than this by PE (its SPLIT_WORDS)
MAX_ROM_BANKS = 99                 # cf_mvu names a bank's file with two decimal digits
DSP_PORT_BITS = 18


# ----------------------------------------------------------------------------------------------- folding
def mvu_shape(node, graph: Graph) -> tuple:
    """(output pixels, kernel positions, Cin, Cout) of an MVU node."""
    kh, kw = (node.weights.shape[:2] if isinstance(node, Conv2D) else (1, 1))
    cin = graph.tensors[node.inputs[0]].channels if isinstance(node, Conv2D) else node.weights.shape[0]
    cout = node.weights.shape[-1]
    out = graph.tensors[node.output].shape
    pixels = out[0] * out[1] if len(out) == 3 else 1
    if is_depthwise(node):
        return pixels, kh * kw, 1, cout          # one input channel per output channel
    return pixels, kh * kw, cin, cout


def is_depthwise(node) -> bool:
    return isinstance(node, Conv2D) and node.depthwise


def mvu_cycles(node, graph: Graph, pe: int, simd: int) -> int:
    pixels, kpos, cin, cout = mvu_shape(node, graph)
    if is_depthwise(node):
        return pixels * max(kpos * (cout // simd), cout // pe)
    return pixels * (kpos * cin // simd) * (cout // pe)


def divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


def folding_grid(node, graph: Graph) -> list:
    """Every (pe, simd) the hardware can implement for this layer (what check_folding accepts)."""
    _, kpos, cin, cout = mvu_shape(node, graph)
    simds = divisors(cout if is_depthwise(node) else kpos * cin)
    return [(pe, simd) for pe in divisors(cout) for simd in simds]


def check_folding(node, graph: Graph) -> None:
    """The one check of a layer's folding: SIMD must divide its matrix rows (a convolution's KH*KW*Cin window, a
    dense layer's inputs, a depthwise layer's channels) and PE its outputs (FoldingError)."""
    _, kpos, cin, cout = mvu_shape(node, graph)
    rows, side = (kpos * cin, "window elements (KH*KW*Cin)") if kpos > 1 else (cin, "input channels")
    checks = (("simd", node.simd, rows, side), ("pe", node.pe, cout, "output channels"))
    if is_depthwise(node):      # one input channel per output channel: both foldings divide the channels
        checks = (("simd", node.simd, cout, "input channels"), ("pe", node.pe, cout, "output channels"))
    for what, value, total, side in checks:
        if value < 1 or total % value:
            raise FoldingError(f"{node.op} {node.name!r}: {what}={value} does not divide its {total} {side}; "
                               f"SIMD must divide the inputs and PE the outputs (choose a divisor)")


# ----------------------------------------------------------------------------------------------- stages
def signed_bits(values: np.ndarray) -> int:
    """Bits of the smallest signed type holding every value (at least 2)."""
    values = np.asarray(values, dtype=np.int64)
    lo = min(int(values.min()) if values.size else 0, -1)
    hi = max(int(values.max()) if values.size else 0, 0)
    return max(2, IntType.for_range(lo, hi).bits)


@dataclass(eq=False, kw_only=True)
class MatrixVectorUnit(BuffersOutput, Stage):
    """acc[o] = bias[o] + sum_i x[i] * matrix[i, o] for ``vectors`` input vectors per frame, PE x SIMD folded."""
    matrix: np.ndarray         # (MH, MW) int64: row (ky*KW + kx)*Cin + c of a convolution, column o
    bias: np.ndarray           # (MW,) int64, in accumulator units
    simd: int
    pe: int
    vectors: int               # input vectors per frame (output pixels; 1 for a dense layer)
    wbits: int                 # weights in signed two's complement of this width
    acc: IntType               # the accumulator = the output element type (the IR's exact range type)
    mult: str                  # "lut", "dsp" or "dsp2" (MULTS)
    weight_mem: str = "auto"   # where the weight ROM goes (memory.PLACEMENTS)
    weight_pack: int = 1       # weight words per ROM word (memory.rom_pack: set where the ROM goes to block RAM)
    kind = "cf_mvu"

    @property
    def use_dsp(self) -> bool:
        return self.mult != "lut"

    @property
    def latency(self) -> int:
        """Cycles from a beat's issue to its word's earliest pop: ROM read (and a banked ROM's bank registers),
        operand and product registers (packed products: registered once more before the split), the adder tree, the
        accumulator into the FIFO, the FIFO's output (cf_mvu.v's LAT)."""
        return 4 + len(adder_tree_stages(self.simd)) + (1 if self.weight_bank else 0) + (self.mult == "dsp2")

    @property
    def rom_shape(self) -> tuple:
        """(words, bits) of the weight ROM as cf_mvu holds it: WPACK weight words a ROM word."""
        return -(-self.nf * self.sf // self.weight_pack), self.weight_pack * self.pe * self.simd * self.wbits

    @property
    def weight_bank(self) -> int:
        """cf_mvu's WBANK, ROM words per bank, for a weight ROM in block RAM whose read goes through a multiplexer:
        a row of blocks a bank where it takes more than one row, else its whole depth where it holds packed words
        (the slice multiplexer); each bank's output is registered before them.  0 for any other ROM."""
        depth, width = self.rom_shape
        if self.weight_mem == "lut" or not in_block_ram(depth, width, placement=self.weight_mem):
            return 0
        bank = ebr_bank_words(depth, width) or (depth if self.weight_pack > 1 else 0)
        return bank if bank and -(-depth // bank) <= MAX_ROM_BANKS else 0

    @property
    def words_in_flight(self) -> int:
        return most_output_words(self.latency + 1, self.sf, 1)

    @property
    def sf(self) -> int:
        return self.matrix.shape[0] // self.simd

    @property
    def nf(self) -> int:
        return self.matrix.shape[1] // self.pe

    @property
    def params(self) -> dict:
        params = {"SIMD": self.simd, "PE": self.pe, "SF": self.sf, "NF": self.nf, "IBITS": self.input.bits,
                  "ISIGNED": int(self.input.signed), "WBITS": self.wbits, "ABITS": self.acc.bits,
                  "USE_DSP": MULTS.index(self.mult), "ODEPTH": self.output.fifo_depth}
        if self.weight_bank:
            params["WMEM"] = PLACEMENTS.index("block")      # (an "auto" ROM the rule puts in block RAM, banked)
            params["WBANK"] = self.weight_bank
        elif self.weight_mem != "auto":
            params["WMEM"] = PLACEMENTS.index(self.weight_mem)
        elif self.pe > 1 and self.nf * self.sf > SPLIT_ROM_WORDS and not in_block_ram(
                self.nf * self.sf, self.pe * self.simd * self.wbits):
            # where synthesis puts it in logic anyway (the estimate's rule), say so: cf_mvu then splits the ROM by
            # PE, each part at its own address copy (one ROM of the whole word is one dense block on one address)
            params["WMEM"] = PLACEMENTS.index("lut")
        if self.weight_pack > 1:
            params["WPACK"] = self.weight_pack
        return params

    def pack_weights(self) -> None:
        """Set weight_pack: the packing of the weight ROM into the fewest block RAMs, where it goes to block RAM
        packed so (synthesis sees the packed ROM); 1 otherwise."""
        depth, width = self.nf * self.sf, self.pe * self.simd * self.wbits
        pack = rom_pack(depth, width) if self.weight_mem != "lut" else 1
        if pack > 1 and not in_block_ram(-(-depth // pack), pack * width, placement=self.weight_mem):
            pack = 1
        self.weight_pack = pack

    def packed_weight_words(self) -> np.ndarray:
        """(ceil(NF*SF / WPACK), WPACK*PE*SIMD): ROM word j, lane k*PE*SIMD + p*SIMD + s = weight_tiles()[j*WPACK
        + k, p, s] (zeros past the last tile)."""
        tiles = self.weight_tiles().reshape(self.nf * self.sf, -1)
        pad = -len(tiles) % self.weight_pack
        tiles = np.concatenate([tiles, np.zeros((pad, tiles.shape[1]), tiles.dtype)])
        return tiles.reshape(len(tiles) // self.weight_pack, -1)

    def weight_tiles(self) -> np.ndarray:
        """(NF*SF, PE, SIMD): tile [nf*SF + sf, p, s] = matrix[sf*SIMD + s, nf*PE + p] -- the weights the unit
        reads in cycle sf of neuron fold nf."""
        sf, nf = self.sf, self.nf
        return self.matrix.reshape(sf, self.simd, nf, self.pe).transpose(2, 0, 3, 1).reshape(nf * sf, self.pe,
                                                                                              self.simd)

    def bias_tiles(self) -> np.ndarray:
        """(NF, PE): bias of output channel nf*PE + p."""
        return np.asarray(self.bias, dtype=np.int64).reshape(self.nf, self.pe)

    def resources_own(self) -> dict:
        simd, pe, sf, nf = self.simd, self.pe, self.sf, self.nf
        ibits = self.input.bits
        ib, wb, ab = ibits + 1, self.wbits, self.acc.bits
        pw = ib + wb
        mults = pe * simd
        weights_vary = nf * sf > 1          # one weight word: constants, which synthesis folds into the adders
        lut = dsp = ff = 0
        if self.mult == "dsp":
            dsp += mults * -(-ib // 18) * -(-wb // 18)                  # registered MULT18X18D
        elif self.mult == "dsp2":
            dsp += -(-pe // 2) * simd                                   # two products a MULT18X18D
            lut += mults / 2 * (wb + pw)                                # packing the weights, splitting the product
            ff += mults / 2 * (ib + pw + wb + 1) + pe * ab + 3          # the packed product's register, the flags'
        elif weights_vary:
            lut += 1.8 * mults * ib * wb                                # shift-and-add partial products
        lut += 1.15 * mults * ab + 3.6 * simd * ibits + 30              # adder trees + accumulators, input mux
        wrom = packed_rom_cost(nf * sf, pe * simd * wb, self.weight_pack, placement=self.weight_mem)
        # one bias for every channel (none, as in a MatMul, or all alike): every bias word is the same constant,
        # which synthesis folds away (yosys: no EBR, no LUT for the 256-word zero bias ROM of a 256 x 256 MatMul)
        bias_varies = bool(np.any(self.bias != self.bias[0]))
        brom = memory_cost(nf, pe * ab) if bias_varies else {"lut": 0, "bram": 0}
        ibuf = memory_cost(sf, simd * ibits, ram=True) if nf > 1 else {"lut": 0, "bram": 0}
        lut += wrom["lut"] if self.weight_pack > 1 else 0                # the slice multiplexer (a ROM in block RAM)
        lut += rom_luts(nf * sf, pe * simd * wb, self.weight_mem) + 1.3 * ibuf["lut"]
        lut += rom_luts(nf, pe * ab) if bias_varies else 0
        # (the second operand register stage after the ROM: simd * ibits + mults * wb more; the adder tree's
        # register stages and the bias riding along them: cf_mvu.v, measured on cnn-digits and mlp-mnist5k; the
        # output register, pe * ab, went into the output FIFO, priced with the stream)
        ff += 2.4 * simd * ibits + 3.5 * mults * wb * weights_vary + 0.12 * mults * pw + 1.3 * pe * ab + 33
        ff += sum(pe * values * ab + pe * ab + 3 for values in adder_tree_stages(simd))
        if self.weight_mem == "lut" and pe > 1 and self.weight_pack == 1 and nf * sf > SPLIT_ROM_WORDS:
            ff += pe * max(1, (nf * sf - 1).bit_length())     # a logic ROM split by PE: an address copy each
        if self.weight_bank:
            # a banked ROM: each bank's output register, the bank number twice, the input / flags / bias waiting a
            # cycle; the bank multiplexer (a 4:1 multiplexer is two LUT4 and the slice's own PFUMX)
            depth, width = self.rom_shape
            banks = -(-depth // self.weight_bank)
            ff += banks * width + 2 * max(1, (banks - 1).bit_length()) + simd * ibits + pe * ab + 3
            lut += 2 / 3 * width * (banks - 1)
        return {"lut": lut, "ff": ff, "dsp": dsp, "bram": wrom["bram"] + brom["bram"] + ibuf["bram"]}

    def fill_elements(self) -> int:
        return int(self.matrix.shape[0])        # one whole input vector before the first output


@dataclass(eq=False, kw_only=True)
class DepthwiseUnit(BuffersOutput, Stage):
    """acc[c] = bias[c] + sum_k x[k, c] * weights[k, c] over the KK window positions, SIMD channels per beat in and
    out (a width converter after it gives the layer's PE lanes)."""
    weights: np.ndarray        # (KK, C) int64: [ky*KW + kx][c]
    bias: np.ndarray           # (C,) int64
    simd: int                  # channels per beat
    vectors: int               # output pixels per frame
    wbits: int
    acc: IntType
    use_dsp: bool
    kind = "cf_dwmvu"

    @property
    def kk(self) -> int:
        return int(self.weights.shape[0])

    @property
    def channels(self) -> int:
        return int(self.weights.shape[1])

    @property
    def cf(self) -> int:
        return self.channels // self.simd

    # cycles from a beat's issue to its word's earliest pop: operands, products, the bank into the FIFO, the FIFO's
    # output (cf_dwmvu.v's LAT)
    latency = 3

    @property
    def words_in_flight(self) -> int:
        return most_output_words(self.latency + 1, self.kk * self.cf, self.cf)

    @property
    def params(self) -> dict:
        return {"SIMD": self.simd, "KK": self.kk, "CF": self.cf, "IBITS": self.input.bits,
                "ISIGNED": int(self.input.signed), "WBITS": self.wbits, "ABITS": self.acc.bits,
                "USE_DSP": int(self.use_dsp), "ODEPTH": self.output.fifo_depth}

    def weight_words(self) -> np.ndarray:
        """(KK*CF, SIMD): word k*CF + cf, lane s = weights[k, cf*SIMD + s]."""
        return self.weights.reshape(self.kk * self.cf, self.simd)

    def resources_own(self) -> dict:
        # the cf_mvu formulas for SIMD multipliers feeding a bank of CF accumulator words (not yet fitted to yosys
        # for this module)
        simd, kk, cf, ibits = self.simd, self.kk, self.cf, self.input.bits
        ib, wb, ab = ibits + 1, self.wbits, self.acc.bits
        lut = dsp = 0
        if self.use_dsp:
            dsp += simd * -(-ib // 18) * -(-wb // 18)
        elif kk * cf > 1:
            lut += 1.8 * simd * ib * wb
        lut += 1.15 * simd * ab + 3.6 * simd * ibits + 30
        wrom = memory_cost(kk * cf, simd * wb)
        brom = memory_cost(cf, simd * ab)
        bank = memory_cost(cf, simd * ab, ram=True)
        lut += rom_luts(kk * cf, simd * wb) + rom_luts(cf, simd * ab) + 1.3 * bank["lut"]
        # (the output register went into the output FIFO, priced with the stream)
        ff = 1.4 * simd * ibits + 2.5 * simd * wb + 0.12 * simd * (ib + wb) + 1.3 * simd * ab + 33
        return {"lut": lut, "ff": ff, "dsp": dsp, "bram": wrom["bram"] + brom["bram"] + bank["bram"]}

    def fill_elements(self) -> int:
        return self.kk * self.channels


def _use_dsp(x, wbits: int) -> bool:
    return min(x.bits + (0 if x.signed else 1), wbits) > DSP_MIN_BITS


def adder_tree_stages(simd: int) -> list:
    """Values each register stage of cf_mvu's adder tree holds per PE lane (4:1 sums until one is left)."""
    stages, n = [], simd
    while n > 1:
        n = -(-n // 4)
        stages.append(n)
    return stages


def dsp2_exact(ibits: int, wbits: int) -> bool:
    """Two products x*w0, x*w1 in one 18x18 multiplier as x * (w0 + w1 * 2^P), P = the product's bits: exact when
    x (made signed) and the packed weight, P + wbits bits, fit the multiplier's 18-bit ports (cf_mvu.v)."""
    ib = ibits + 1
    return ib <= DSP_PORT_BITS and ib + 2 * wbits <= DSP_PORT_BITS


def mult_choices(node, x, wbits: int) -> list:
    """The multiplier implementations this layer can take: LUTs and DSPs, and two products a DSP where exact."""
    out = ["lut", "dsp"] if wbits <= LUT_MULT_MAX_WBITS else ["dsp"]
    if node.pe % 2 == 0 and dsp2_exact(x.bits, wbits):
        out.append("dsp2")
    return out


def resolve_mult(node, x, wbits: int) -> str:
    """node.mult, with "auto" resolved by operand width; FoldingError for a choice this layer cannot take."""
    if node.mult == "auto":
        return "dsp" if _use_dsp(x, wbits) or wbits > LUT_MULT_MAX_WBITS else "lut"
    if node.mult not in mult_choices(node, x, wbits):
        raise FoldingError(f"{node.op} {node.name!r}: mult={node.mult!r} is not possible here (choose one of "
                           f"{', '.join(mult_choices(node, x, wbits))}; dsp2 needs an even PE and "
                           f"{x.bits}+1 + 2x{wbits} <= {DSP_PORT_BITS} bits)")
    return node.mult


def _placement(node, field: str) -> str:
    value = getattr(node, field, "auto")
    if value not in PLACEMENTS:
        raise FoldingError(f"{node.op} {node.name!r}: {field}={value!r}; choose one of {', '.join(PLACEMENTS)}")
    return value


def _mvu(plan: Plan, node, label: str, matrix: np.ndarray, bias, vectors: int, acc: IntType, out_elems: int):
    from .xnor import XnorMatrixVectorUnit, binarised_weight_step   # a variant of this unit

    simd, pe = node.simd, node.pe
    wbits = signed_bits(matrix)
    fields = dict(label=label, node=node, cycles=0, matrix=matrix, bias=np.asarray(bias, np.int64), simd=simd,
                  pe=pe, vectors=vectors, wbits=wbits, acc=acc, mult=resolve_mult(node, plan.cur, wbits),
                  weight_mem=_placement(node, "weight_mem"))
    wstep = binarised_weight_step(plan.cur.dtype, matrix)
    # (an XNOR unit has no multipliers and keeps its sign bits where its own model says: mult / weight_mem do
    # not change it, so the folding search prices its variants alike)
    stage = XnorMatrixVectorUnit(**fields, wstep=wstep) if wstep else MatrixVectorUnit(**fields)
    stage.pack_weights()
    stage.cycles = vectors * stage.sf * stage.nf
    if stage.nf > 1 and plan.cur.producer is not None:
        # The MVU reads a whole input vector (SF beats) during its first neuron fold, then computes NF - 1 more
        # folds without reading.  A FIFO of one vector in front lets the producer deliver the next vector
        # meanwhile; with the default depth of 2 it would stall, and the frame would take fill + compute cycles
        # instead of the slower of the two (measured: mlp-mnist5k 900 cycles/frame against 784).
        plan.cur.fifo_depth = max(plan.cur.fifo_depth, stage.sf)
    plan.add(stage, pe, acc, out_elems, node.output)


def build_conv(plan: Plan, node: Conv2D, inputs: list) -> None:
    graph = plan.graph
    tin, tout = graph.tensors[node.inputs[0]], graph.tensors[node.output]
    if len(tin.shape) != 3:
        raise UnsupportedOp(f"Conv2D {node.name!r}: input shape {tin.shape} is not (H, W, C)")
    h, w, cin = tin.shape
    kh, kw, _, cout = node.weights.shape
    check_folding(node, graph)
    window_mode = not node.depthwise and cin % node.simd != 0
    plan.adapt(cin if window_mode else node.simd, node.name)       # window mode reads whole pixels
    oh, ow = sliding_window(plan, node, f"{node.name}_swg", h, w, cin, (kh, kw), node.stride, node.pads,
                            node.pad_value, out_lanes=node.simd, buffer_mem=_placement(node, "buffer_mem"))
    if node.depthwise:
        if cin != cout or node.weights.shape[2] != 1:
            raise UnsupportedOp(f"Conv2D {node.name!r}: depthwise convolution with {cin} inputs and {cout} outputs "
                                "(a channel multiplier) is not supported")
        weights = np.asarray(node.weights, dtype=np.int64)[:, :, 0, :].reshape(kh * kw, cout)
        wbits = signed_bits(weights)
        stage = DepthwiseUnit(label=f"{node.name}_dwmvu", node=node, cycles=oh * ow * kh * kw * (cout // node.simd),
                              weights=weights, bias=np.asarray(node.bias, np.int64), simd=node.simd,
                              vectors=oh * ow, wbits=wbits, acc=tout.dtype, use_dsp=_use_dsp(plan.cur, wbits))
        plan.add(stage, node.simd, tout.dtype, oh * ow * cout, node.output)
        plan.adapt(node.pe, node.name)           # the layer's PE lanes
        return
    matrix = np.asarray(node.weights, dtype=np.int64).reshape(kh * kw * cin, cout)
    _mvu(plan, node, f"{node.name}_mvu", matrix, node.bias, oh * ow, tout.dtype, oh * ow * cout)


def build_dense(plan: Plan, node: Dense, inputs: list) -> None:
    check_folding(node, plan.graph)
    plan.adapt(node.simd, node.name)
    cout = node.weights.shape[1]
    _mvu(plan, node, node.name, np.asarray(node.weights, dtype=np.int64), node.bias, 1,
         plan.graph.tensors[node.output].dtype, cout)


BUILDERS = {Conv2D: build_conv, Dense: build_dense}
