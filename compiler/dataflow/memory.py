"""Where a memory of the design goes on an ECP5, and what it costs: block RAM (EBR, 18 kbit) or logic / LUT RAM.

Shared by every stage's resource model.  The rules follow what yosys's memory mapping (memory_libmap) does in
synth_ecp5, measured on the designs of benchmarks/estimate_vs_yosys.py (tests/test_estimate.py pins twelve shapes).
"""
from __future__ import annotations

import functools
import math

# ECP5 EBR block configurations (depth, width) of one 18 kbit block
EBR_SHAPES = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
# A ROM goes to block RAM when that is cheaper: 128 per EBR block (the cost yosys's ECP5 block-RAM library gives)
# against 1/16 per bit of logic (our fit: it reproduces every ROM placement seen; a tie stays in logic).  For a RAM
# the rule is the one seen in synth_ecp5 results on 14 designs (distributed RAM otherwise): deep and at least 1 kbit,
# or not shallow and at least 2 kbit.
EBR_COST = 128
ROM_LOGIC_COST_PER_BIT = 1 / 16
LUTRAM_MAX_DEPTH = 32
RAM_EBR_MIN_DEPTH, RAM_EBR_MIN_DEPTH_BITS = 128, 1024
RAM_EBR_MIN_BITS = 2048


@functools.lru_cache(maxsize=1 << 16)          # (the folding search prices thousands of shapes, many alike)
def ebr_blocks(depth: int, width: int) -> int:
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in EBR_SHAPES)


def ebr_bank_words(depth: int, width: int) -> int:
    """Words per row of blocks when a depth x width memory in block RAM takes more than one row (the depth of the
    block shape ebr_blocks counts; the first such shape of EBR_SHAPES on a tie), 0 when one row holds it.  cf_mvu
    builds a weight ROM that deep as banks of this many words, a register behind each (its WBANK)."""
    blocks = ebr_blocks(depth, width)
    for d, w in EBR_SHAPES:
        if math.ceil(width / w) * math.ceil(depth / d) == blocks:
            return d if depth > d else 0
    return 0


# where a memory may be put: as synthesis chooses (the rules above), or forced by the RTL's ram_style / rom_style
# attribute ("block": DP16KD; "lut": a ROM in logic, a RAM in TRELLIS_DPR16X4) -- a layer's resource choice
PLACEMENTS = ("auto", "block", "lut")


def in_block_ram(depth: int, width: int, ram: bool = False, placement: str = "auto") -> bool:
    if placement != "auto":
        return placement == "block"
    return memory_cost(depth, width, ram)["bram"] > 0


def memory_cost(depth: int, width: int, ram: bool = False, placement: str = "auto") -> dict:
    """LUT4s or EBR blocks for a depth x width memory (a ROM, or with ``ram`` a simple dual-port RAM), placed as
    synthesis would or as ``placement`` forces."""
    bits = depth * width
    if bits == 0:
        return {"lut": 0, "bram": 0}
    if placement == "block":
        return {"lut": 0, "bram": ebr_blocks(depth, width)}
    if placement == "lut":
        in_luts = True
    elif ram:
        in_luts = not ((depth >= RAM_EBR_MIN_DEPTH and bits >= RAM_EBR_MIN_DEPTH_BITS)
                       or (depth > LUTRAM_MAX_DEPTH and bits >= RAM_EBR_MIN_BITS))
    else:
        in_luts = EBR_COST * ebr_blocks(depth, width) >= ROM_LOGIC_COST_PER_BIT * bits
    if in_luts:
        if ram:    # TRELLIS_DPR16X4: 16 x 4 bits in 6 LUT sites (as the ECP5 flow counts them)
            return {"lut": math.ceil(depth / 16) * math.ceil(width / 4) * 6, "bram": 0}
        return {"lut": math.ceil(depth / 16) * width, "bram": 0}      # ROM: one LUT4 holds 16 x 1 bit
    return {"lut": 0, "bram": ebr_blocks(depth, width)}


# A ROM whose word is a power of two wide wastes the parity bits of the 9/18/36-bit EBR shapes (2 of every 18 kbit):
# cf_mvu can store WPACK consecutive words in one wider ROM word and pick one after the read (its WPACK), so a
# 3x3 convolution's weight ROM (a depth with a factor 9) goes into 9-bit-wide blocks without waste.  Up to this
# many words a ROM word; the slice multiplexer costs about half a LUT4 per input bit.
MAX_ROM_PACK = 16
ROM_PACK_MUX_LUT_PER_BIT = 0.5


@functools.lru_cache(maxsize=1 << 14)
def rom_pack(depth: int, width: int) -> int:
    """Words of ``width`` bits per ROM word that put a depth x width ROM into the fewest EBR blocks (1 when packing
    saves none; the smallest such count)."""
    best, blocks = 1, ebr_blocks(depth, width)
    for pack in range(2, min(MAX_ROM_PACK, depth) + 1):
        n = ebr_blocks(-(-depth // pack), pack * width)
        if n < blocks:
            best, blocks = pack, n
    return best


def packed_rom_cost(depth: int, width: int, pack: int, placement: str = "auto") -> dict:
    """memory_cost of a ROM of ``pack`` words a ROM word, with its slice multiplexer."""
    if pack == 1:
        return memory_cost(depth, width, placement=placement)
    cost = memory_cost(-(-depth // pack), pack * width, placement=placement)
    return {"lut": cost["lut"] + ROM_PACK_MUX_LUT_PER_BIT * pack * width, "bram": cost["bram"]}


def counter_bits(n: int) -> int:
    return max(1, (max(1, n) - 1).bit_length())


# LUT4s per 16-word leaf of a ROM in logic, leaves and the multiplexer tree above them together: 1.3 up to 256
# words (fitted on the zoo's shallow ROMs: the ECP5 slice's own multiplexers join up to 64 words), 2.0 from 1,024
# words (yosys synth_ecp5 on random 2- to 16-bit ROMs of 1k to 131k words: 1.82-2.26, benchmarks/estimate_vs_yosys.py
# --shapes; CNV 2W2A's 131,072 x 2-bit Gemm_0 ROM at 1.93), linear in the address bits between.
ROM_TREE_SHALLOW, ROM_TREE_DEEP = 1.3, 2.0
ROM_TREE_KNEE_BITS = (8, 10)


def rom_luts(depth: int, width: int, placement: str = "auto") -> float:
    """LUT4s yosys spends on a ROM held in logic: each output bit is a function of the address, one 16-word leaf
    per 16 words of the power-of-two address space, and the multiplexer tree that joins them (a one-word ROM is a
    constant: no LUT)."""
    if depth <= 1 or memory_cost(depth, width, placement=placement)["bram"]:
        return 0
    address_bits = (depth - 1).bit_length()
    lo, hi = ROM_TREE_KNEE_BITS
    share = min(1.0, max(0.0, (address_bits - lo) / (hi - lo)))
    per_leaf = ROM_TREE_SHALLOW + share * (ROM_TREE_DEEP - ROM_TREE_SHALLOW)
    return per_leaf * 2 ** max(0, address_bits - 4) * width


def fifo_resources(depth: int, width: int) -> dict:
    """The cf_fifo behind a stage output: registers when at most 2 deep, else a RAM and its pointers."""
    fifo = memory_cost(depth, width, ram=depth > 2)
    return {"lut": fifo["lut"] + (width if depth <= 2 else 0), "ff": 8 + 2 * counter_bits(depth),
            "bram": fifo["bram"]}


# Xilinx 7-series / UltraScale block RAM: (depth, width) configurations of one 18 kbit RAMB18
BRAM18_SHAPES = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
# Vitis HLS keeps small arrays in LUTs (distributed RAM / registers); at and above this many bits it uses block RAM
XILINX_BRAM_MIN_BITS = 1024


def bram18_blocks(depth: int, width: int) -> int:
    """RAMB18 blocks of a depth x width memory on a Xilinx part, 0 when small enough for LUT RAM."""
    if depth * width < XILINX_BRAM_MIN_BITS:
        return 0
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BRAM18_SHAPES)
