"""Folding: PE, SIMD and the resource choices of every matrix-vector layer, for a frame rate or to fit a device.

A candidate is priced with the plan the emitters print: each layer's foldings with the stages its stage builder
makes for them (dataflow/mvu.py, window.py; and the activations and pools after it, which take its lanes), and a
whole design with ``build_plan`` and the estimator's sum (compiler/estimate.py), so the estimate of the chosen
folding is the estimate of the emitted design.  A layer's choices are PE and SIMD (mvu.folding_grid: SIMD up to the
whole KH x KW x Cin window) and, for each, its multipliers (LUTs, DSPs, two products a DSP where exact) and where
its weights and line buffer go (block RAM or LUTs); dominated choices are dropped.

The design runs at the pace of its slowest stage.  For a pace of T cycles per frame each layer takes, among its
choices that meet T, the cheapest whose cycles are within BALANCE of T: no layer is unfolded beyond what the
bottleneck allows (unfolding it further would only make it idle).  Where the divisor grid has nothing in that band
the layer takes the cheapest near the slowest folding that meets T; a faster one only when it is cheaper still
(CHEAPER_OUTSIDE_BAND: a ROM word that packs into fewer blocks).  The notes say which.  T itself:

  target cycles     T = the target
  target fps        T = clock / fps: the cheapest balanced design that meets it
  a device budget   the fastest T whose whole design (the accelerator's estimate plus the board top) fits the budget
                    (a margin of every resource of the part).  Where the cheapest balanced picks for T overrun it,
                    the picks that fit are found by an exact search (``_Search.solve``): a knapsack over the layers
                    on a grid of the scarce resources that come in few units (block RAM, DSPs; LUT4s and FFs in
                    steps when they bind), the others weighed -- so which layer keeps its weights in block RAM,
                    packs its ROM words (memory.rom_pack) or takes DSPs is decided for all layers together, balanced
                    designs first.  Fitting is then monotone in T: the first T that fits by the layers' prices is
                    found by bisection over the paces at which some layer's choices change, and the paces from a
                    little below it are built in full until one fits (a design that overruns its prices teaches the
                    search what the rest of the design -- converters, forks, FIFOs -- takes)
  none of these     T = the input interface's pace (a frame's elements at input_pace per cycle): faster layers than
                    the input delivers would only idle

"Cheapest" weighs a layer's LUT4, FF, DSP and EBR by the share of the budget (or, with no device, of the default
part) each takes, so a scarce resource counts for more.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from convflow.compiler.config import DEFAULT_MARGIN, DEFAULT_SHARE
from convflow.compiler.ir.graph import Graph
from convflow.hw.errors import ConvflowError, DesignDoesNotFit, FoldingError

from .build import build_plan
from .builders import BUILDERS
from .mvu import check_folding, folding_grid
from .plan import Plan, Stream

# a layer's cycles may be this much below the bottleneck's before it counts as unfolded too far
BALANCE = 1.25
# the default fit margin (and why it is what it is): compiler/config.py
RESOURCES = ("lut", "ff", "dsp", "bram")
# the part's names of the estimate's resources (hw/boards/parts.toml)
PART_RESOURCES = {"lut": "LUT4", "ff": "FF", "dsp": "MULT18X18D", "bram": "EBR"}
# the part that weighs resources against each other when no device is given
DEFAULT_WEIGHING_PART = "LFE5U-85F"


@dataclass(frozen=True)
class Budget:
    """What a design may use: ``margin`` of each resource the target has (``margins``: another share for some
    resources), less what is ``reserved`` for the logic around the accelerator (the board top)."""
    target: str                  # for messages, e.g. "ulx3s-85f (LFE5U-85F)"
    part: str
    available: dict              # resource -> count the part has
    margin: float = DEFAULT_SHARE
    reserved: dict = field(default_factory=dict)
    board: str | None = None
    margins: dict = field(default_factory=dict)      # resource -> its own share, overriding ``margin``

    def share(self, key: str) -> float:
        return self.margins.get(key, self.margin)

    def limit(self, key: str) -> float:
        return self.share(key) * self.available[key]

    @property
    def margin_text(self) -> str:
        own = ", ".join(f"{PART_RESOURCES[k]} {100 * v:.0f}%" for k, v in self.margins.items())
        return f"{100 * self.margin:.0f}%" + (f" ({own})" if own else "")

    def over(self, totals: dict) -> dict:
        """resource -> (used with the reserved share, limit) for every resource over the limit."""
        return {k: (totals[k] + self.reserved.get(k, 0), self.limit(k)) for k in RESOURCES
                if totals[k] + self.reserved.get(k, 0) > self.limit(k)}

    def shares(self, totals: dict) -> dict:
        """resource -> fraction of the part used, the reserved share included."""
        return {k: (totals[k] + self.reserved.get(k, 0)) / max(1, self.available[k]) for k in RESOURCES}

    def to_dict(self) -> dict:
        return {"target": self.target, "part": self.part, "board": self.board, "margin": self.margin,
                "margins": {PART_RESOURCES[k]: v for k, v in self.margins.items()},
                "available": {PART_RESOURCES[k]: self.available[k] for k in RESOURCES},
                "reserved": {PART_RESOURCES[k]: int(self.reserved.get(k, 0)) for k in RESOURCES}}


def parse_margin(margin) -> tuple:
    """0.85, "0.85" or "0.9,LUT4=0.75" -> (the share of every resource, {resource: its own share})."""
    if isinstance(margin, (int, float)):
        return float(margin), {}
    default, own = DEFAULT_SHARE, {}
    names = {v.lower(): k for k, v in PART_RESOURCES.items()} | {k: k for k in RESOURCES} | {"dsp": "dsp"}
    for item in (t.strip() for t in str(margin).split(",") if t.strip()):
        name, _, value = item.rpartition("=")
        try:
            share = float(value)
        except ValueError:
            raise ConvflowError(f"fit margin {margin!r}: {item!r} is not a fraction (e.g. 0.85, or "
                                f"LUT4=0.75)") from None
        if not name:
            default = share
        elif name.lower() in names:
            own[names[name.lower()]] = share
        else:
            raise ConvflowError(f"fit margin {margin!r}: unknown resource {name!r} (LUT4, FF, MULT18X18D, EBR)")
    return default, own


def ecp5_budget(board: str | None = None, device: str | None = None, margin=DEFAULT_MARGIN,
                frame: tuple | None = None) -> Budget:
    """The budget of an ECP5 board (hw/boards/<board>.toml) or bare part, with the UART board top reserved (it
    wraps the accelerator in both cases).  ``frame``: (input elements, input bits) of the frame buffer the board
    top holds.  A Xilinx part is refused: there is no calibrated resource model for it here (no Vivado)."""
    from convflow.hw.flows import ecp5_board

    margin, margins = parse_margin(margin)
    if not all(0 < m <= 1 for m in [margin, *margins.values()]):
        raise ConvflowError(f"fit margin {margin:g}: give a fraction of the device in (0, 1], e.g. 0.85")
    if device and device.lower().startswith("xc"):
        raise ConvflowError(f"{device}: a Xilinx part; convflow has no calibrated LUT/FF/DSP model for Xilinx "
                            f"devices (no Vivado here), so it cannot fold to fit one.  Fold with --target-fps or "
                            f"--target-cycles and check the Vitis HLS report, or fit an ECP5 board or device")
    b = ecp5_board.board(board) if board else None
    if b is not None and device and device.upper() != b.part:
        raise ConvflowError(f"board {b.name} carries an {b.part}, not {device}")
    part = ecp5_board.part(b.part if b else (device or DEFAULT_WEIGHING_PART))
    available = {k: int(part.resources[PART_RESOURCES[k]]) for k in RESOURCES}
    reserved = board_top_resources(frame) if frame else {}
    return Budget(target=f"{b.name} ({part.name})" if b else part.name, part=part.name, available=available,
                  margin=float(margin), reserved=reserved, board=b.name if b else None, margins=margins)


def board_top_resources(frame: tuple) -> dict:
    """The UART board top around the accelerator: its measured logic and its frame buffer (cf_frame_rx: a frame slot
    of IN_ELEMS words of the input's bytes for each of the protocol's WINDOW frames in flight, placed as yosys places
    a RAM: dataflow/memory.py)."""
    from convflow.hw.flows.ecp5 import DEFAULT_WINDOW
    from convflow.hw.flows.ecp5_board import BOARD_TOP_LOGIC

    from .memory import memory_cost

    elems, bits = frame
    buffer = memory_cost(int(elems) * DEFAULT_WINDOW, 8 * -(-int(bits) // 8), ram=True)
    return {"lut": BOARD_TOP_LOGIC["lut"] + buffer["lut"], "ff": BOARD_TOP_LOGIC["ff"], "dsp": 0,
            "bram": buffer["bram"]}


# ----------------------------------------------------------------------------------------------- one layer
# the resource choices of a layer besides PE and SIMD: node field -> what it may take ("auto": the stage's own rule,
# dataflow/mvu.py and memory.py).  Each is priced on the layer's stages; dominated ones are dropped.
CHOICE_FIELDS = ("mult", "weight_mem", "buffer_mem")


@dataclass(frozen=True)
class Choice:
    pe: int
    simd: int
    cycles: int                  # the slowest of the layer's own stages
    resources: dict              # the layer's own stages (window generator, unit, the activations after it)
    mult: str = "auto"
    weight_mem: str = "auto"
    buffer_mem: str = "auto"

    @property
    def multipliers(self) -> int:
        return self.pe * self.simd

    def cost(self, weights: dict) -> float:
        return sum(self.resources[k] * weights[k] for k in RESOURCES)

    def set_on(self, node) -> None:
        node.pe, node.simd = self.pe, self.simd
        for name in CHOICE_FIELDS:
            if hasattr(node, name):
                setattr(node, name, getattr(self, name))


class LayerChoices:
    """A layer's priced choices, sorted by cycles (for picking within a band quickly)."""

    def __init__(self, choices: list):
        self.choices = sorted(choices, key=lambda c: (c.cycles, c.multipliers))
        self.cycles = [c.cycles for c in self.choices]

    def __iter__(self):
        return iter(self.choices)

    def __len__(self):
        return len(self.choices)


def layer_choices(graph: Graph, node, fixed: tuple | None = None, prefer: dict | None = None) -> LayerChoices:
    """Every folding of ``node`` (or only PE, SIMD = ``fixed``), each with its resource choices (or only those of
    ``prefer``: field -> value other than "auto"), priced with the stages its builder makes for it."""
    saved = (node.pe, node.simd) + tuple(getattr(node, f) for f in CHOICE_FIELDS if hasattr(node, f))
    choices = []
    try:
        for node.pe, node.simd in ([fixed] if fixed else folding_grid(node, graph)):
            choices += _priced_variants(graph, node, prefer or {})
    finally:
        node.pe, node.simd = saved[:2]
        for name, value in zip([f for f in CHOICE_FIELDS if hasattr(node, f)], saved[2:]):
            setattr(node, name, value)
    return LayerChoices(choices)


def _priced_variants(graph: Graph, node, prefer: dict) -> list:
    """The layer at its current PE/SIMD with every resource choice its stages offer (only the ``prefer``red one of
    a field named there; none where this folding cannot take it), the dominated ones dropped."""
    from .memory import in_block_ram
    from .mvu import MatrixVectorUnit, mult_choices
    from .window import SlidingWindowGen

    for name in CHOICE_FIELDS:
        if hasattr(node, name):
            setattr(node, name, "auto")
    stages = _layer_stages(graph, node)
    cycles = max(s.cycles for s in stages)
    mvu = next((s for s in stages if isinstance(s, MatrixVectorUnit)), None)
    swg = next((s for s in stages if isinstance(s, SlidingWindowGen) and s.node is node), None)
    options = {}                   # node field -> [(node value, stage, stage attribute, stage value)]
    if mvu is not None:
        auto = mvu.mult
        options["mult"] = [("auto" if m == auto else m, mvu, "mult", m)
                           for m in mult_choices(node, mvu.input, mvu.wbits)]
        # (all three: the auto rule sees the ROM packed for block RAM, memory.rom_pack; duplicates are dropped)
        options["weight_mem"] = [(m, mvu, "weight_mem", m) for m in ("auto", "block", "lut")]
    if swg is not None and hasattr(node, "buffer_mem") and not swg.window_mode:
        forced = "lut" if in_block_ram(swg.buffer_words, swg.lanes * swg.input.bits, ram=True) else "block"
        options["buffer_mem"] = [("auto", swg, "buffer_mem", "auto"), (forced, swg, "buffer_mem", forced)]
    for name, value in prefer.items():           # a preferred choice, set explicitly (never dropped as dominated)
        if name not in options:
            return []
        _, stage, attr, _ = options[name][0]
        if name == "mult" and value not in [v for *_, v in options[name]]:
            return []                            # e.g. dsp2 at an odd PE
        options[name] = [(value, stage, attr, value)]
    variants = [{}]
    for name, opts in options.items():
        variants = [dict(v, **{name: o}) for v in variants for o in opts]
    priced = []
    for variant in variants:
        for _, stage, attr, value in variant.values():
            setattr(stage, attr, value)
        if mvu is not None:
            mvu.pack_weights()
        priced_stages = [s.resources() for s in stages]        # (once a stage: the folding search's hot spot)
        res = {k: sum(r[k] for r in priced_stages) for k in RESOURCES}
        priced.append(Choice(node.pe, node.simd, cycles, res, **{k: v[0] for k, v in variant.items()}))
    return [c for c in priced if not any(_dominates(o, c) for o in priced)]


def _dominates(a: Choice, b: Choice) -> bool:
    ra, rb = [a.resources[k] for k in RESOURCES], [b.resources[k] for k in RESOURCES]
    return a is not b and all(x <= y for x, y in zip(ra, rb)) and (ra != rb or _auto_count(a) > _auto_count(b))


def _auto_count(c: Choice) -> int:
    return sum(getattr(c, f) == "auto" for f in CHOICE_FIELDS)


def _layer_stages(graph: Graph, node) -> list:
    """The stages of ``node`` on an input stream of one lane (the converter in front is not its own: it depends on
    the layer before), then of the one-input nodes reading its output up to the next layer, fork or join."""
    plan = Plan(graph)
    t = graph.tensors[node.inputs[0]]
    plan.cur = Stream("x", 1, t.dtype, int(math.prod(t.shape)), node.inputs[0])
    BUILDERS[type(node)](plan, node, [plan.cur])
    mine = [s for s in plan.stages if s.node is node]
    tensor = node.output
    while tensor != graph.output:
        readers = [n for n in graph.nodes if tensor in n.inputs]
        if len(readers) != 1 or readers[0].has_mvu or len(readers[0].inputs) != 1:
            break
        before = len(plan.stages)
        BUILDERS[type(readers[0])](plan, readers[0], [plan.cur])
        mine += plan.stages[before:]
        tensor = readers[0].output
    return mine


# a folding faster than the band below the pace is taken only when it is cheaper than every folding in the band by
# more than this: it then spends nothing on the speed it does not need (a wider ROM word packs into fewer block
# RAMs; a SIMD that divides the channels avoids the window mode's column registers)
CHEAPER_OUTSIDE_BAND = 0.98


def pick(layer: LayerChoices, target: int, weights: dict) -> Choice:
    """The cheapest balanced choice meeting ``target`` cycles: among those within BALANCE of the target, or when
    the divisor grid has none there, within BALANCE of the slowest that meets it (the fastest if none does); a
    faster choice only when it is cheaper still (CHEAPER_OUTSIDE_BAND)."""
    cycles = layer.cycles
    end = bisect.bisect_right(cycles, target)
    if end == 0:
        lo, end = 0, bisect.bisect_right(cycles, cycles[0])
    else:
        near = target if cycles[end - 1] * BALANCE >= target else cycles[end - 1]
        lo = bisect.bisect_left(cycles, near / BALANCE)
    best = min(layer.choices[lo:end], key=lambda c: _rank(c, weights))
    if lo > 0:
        faster = min(layer.choices[:lo], key=lambda c: _rank(c, weights))
        if faster.cost(weights) < CHEAPER_OUTSIDE_BAND * best.cost(weights):
            return faster
    return best


def _rank(c: Choice, weights: dict) -> tuple:
    # ties: fewer multipliers, then SIMD before PE (a wider adder tree shares one accumulator), then "auto"
    return (round(c.cost(weights), 12), c.multipliers, c.pe, -_auto_count(c))


def override_of(value) -> tuple:
    """A layer's override -> ((pe, simd) or None, {resource field: value other than "auto"}).  It is (pe, simd)
    as the --folding file's short form gives it, or a dict of pe, simd, mult, weight_mem, buffer_mem (what the
    artifact's folding.json and convflow.Config hold); PE and SIMD come together or not at all."""
    if isinstance(value, dict):
        fixed = (int(value["pe"]), int(value["simd"])) if value.get("pe") is not None else None
        prefer = {k: value[k] for k in CHOICE_FIELDS if value.get(k, "auto") != "auto"}
        return fixed, prefer
    pe, simd = value
    return (int(pe), int(simd)), {}


def folding_file(graph: Graph) -> dict:
    """{layer name: {pe, simd, mult, weight_mem, buffer_mem}} of every matrix-vector layer as folded: the
    artifact's folding.json, in the form --folding and convflow.Config read, so a compile's choice can be edited
    and fed back (giving it back reproduces the same design)."""
    out = {}
    for node in graph.mvu_nodes():
        row = {"pe": int(node.pe), "simd": int(node.simd)}
        row.update({f: getattr(node, f) for f in CHOICE_FIELDS if hasattr(node, f)})
        out[node.name] = row
    return out


# ----------------------------------------------------------------------------------------------- the design
@dataclass
class Folding:
    """The outcome of a search: the folding set on the graph, and why."""
    mode: str                    # "fit", "fps", "cycles" or "input pace"
    target_cycles: int           # the pace the layers were folded for
    clock_mhz: float
    budget: Budget | None
    estimate: dict               # compiler/estimate.py of the chosen design
    plan: Plan                   # the chosen design (what the emitters print)
    binding: str                 # what keeps the design from going faster
    notes: list
    target_fps: float | None = None

    @property
    def cycles_per_frame(self) -> int:
        return int(self.estimate["cycles_per_frame"])

    @property
    def fps(self) -> float:
        return self.clock_mhz * 1e6 / self.cycles_per_frame

    def to_dict(self) -> dict:
        totals = self.estimate["totals"]
        out = {"mode": self.mode, "target_cycles": self.target_cycles, "target_fps": self.target_fps,
               "clock_mhz": self.clock_mhz, "cycles_per_frame": self.cycles_per_frame,
               "fps_at_clock": round(self.fps, 3), "bottleneck": self.estimate["bottleneck"],
               "input_elements_per_cycle": self.estimate["input_interface"]["elements_per_cycle"],
               "binding": self.binding, "balance": BALANCE, "notes": list(self.notes),
               "layers": [{k: row.get(k) for k in ("name", "op", "pe", "simd", "cycles", *RESOURCES)}
                          for row in self.estimate["layers"] if "pe" in row]}
        if self.budget is not None:
            shares = self.budget.shares(totals)
            out["budget"] = self.budget.to_dict()
            out["used"] = {PART_RESOURCES[k]: int(totals[k] + self.budget.reserved.get(k, 0)) for k in RESOURCES}
            out["used_percent"] = {PART_RESOURCES[k]: round(100 * shares[k], 1) for k in RESOURCES}
        return out


# a resource the exact search (``_Search.solve``) counts in whole units when its limit is at most this many (an
# ECP5's EBR and MULT18X18D: 56-208 and 28-156); a larger one (LUT4, FF) in steps, rounded to the nearest, as many
# as keep the knapsack's grid within KNAPSACK_STATES cells (0.1-0.5 s for CNV's nine layers)
EXACT_UNITS = 512
KNAPSACK_STATES = 1 << 16
# the weight of a layer outside its balance band in the exact search (a whole budget of one resource is 1): any
# balanced design that fits is taken before an unbalanced one
BAND_PENALTY = 1.0
# times the exact search raises the weight of a resource it only weighs (LUT4, FF) that came out over the budget
REWEIGHS = 6


class _Search:
    """The layers' priced foldings, and designs built from them for a pace.

    Each pace's picks are first totalled from the layers' own prices plus what the rest of the design (converters
    between layers, forks, the FIFOs in front of the units) took in the last design built in full -- fast -- and
    only a design that fits by that total is built and estimated in full.  Where the cheapest balanced picks
    overrun the budget, ``solve`` finds the picks that fit: exact over the scarce resources that come in few units
    (block RAM, DSPs; a knapsack over the layers), weighing the others."""

    def __init__(self, graph: Graph, budget: Budget | None, overrides: dict):
        self.graph = graph
        self.budget = budget
        weighing = budget or ecp5_budget(device=DEFAULT_WEIGHING_PART)
        self.weights = {k: 1.0 / max(1.0, weighing.limit(k)) for k in RESOURCES}
        self.layers = []
        for node in graph.mvu_nodes():
            if node.name in overrides:
                fixed, prefer = override_of(overrides[node.name])
                if fixed is not None:
                    node.pe, node.simd = fixed
                    check_folding(node, graph)
                choices = layer_choices(graph, node, fixed=fixed, prefer=prefer)
                if not len(choices):
                    wanted = ", ".join(f"{k}={v!r}" for k, v in prefer.items())
                    raise FoldingError(f"{node.op} {node.name!r}: no folding{' at the given PE/SIMD' if fixed else ''}"
                                       f" can take {wanted} (dsp2 needs an even PE and narrow operands; a layer "
                                       "without a line buffer has no buffer_mem)")
                self.layers.append((node, choices))
            else:
                self.layers.append((node, layer_choices(graph, node)))
        # no design is faster than its input arrives, or than its slowest layer fully unfolded
        self.floor = Plan(graph).input_cycles
        self.floor_reason = "the input interface's pace"
        for node, choices in self.layers:
            fastest = choices.choices[0]
            if fastest.cycles > self.floor:
                self.floor = fastest.cycles
                self.floor_reason = (f"{node.name}'s fastest folding (PE={fastest.pe} SIMD={fastest.simd}: "
                                     f"{fastest.cycles:,} cycles/frame)")
        self._exact = {}
        self._picks = {}
        self.rest = {k: 0 for k in RESOURCES}
        slowest = self.targets()[-1]
        picks = self.picks(slowest, self.weights)
        self._learn_rest(picks, self._estimate(picks))

    def _learn_rest(self, picks: list, est: dict) -> None:
        """What the design built in full took beyond its layers' own prices (the most seen: the approximate totals
        stay at most what the plan adds up to)."""
        self.rest = {k: max(self.rest[k], est["totals"][k] - sum(c.resources[k] for c in picks)) for k in RESOURCES}
        self._picks.clear()

    # -- picking --------------------------------------------------------------------------------------------
    def picks(self, target: int, weights: dict) -> list:
        target = max(target, self.floor)
        return [pick(choices, target, weights) for _, choices in self.layers]

    def approx_totals(self, picks: list) -> dict:
        return {k: self.rest[k] + sum(c.resources[k] for c in picks) for k in RESOURCES}

    def approx_fits_picks(self, picks: list) -> bool:
        return not self.budget.over(self.approx_totals(picks))

    def picks_for(self, target: int) -> list:
        """The layers' picks for ``target``: each layer's cheapest balanced (pick); with a budget those overrun,
        the picks that fit (solve), when there are any."""
        if target not in self._picks:
            pace = max(target, self.floor)
            picks = self.picks(pace, self.weights)
            if self.budget is not None and not self.approx_fits_picks(picks):
                picks = self.solve(pace) or picks
            self._picks[target] = picks
        return self._picks[target]

    def approx_fits(self, target: int) -> bool:
        return self.approx_fits_picks(self.picks_for(target))

    def _band(self, layer: LayerChoices, pace: int) -> tuple:
        """(lo, end): the choices of ``layer`` that meet ``pace`` are [:end], those in its balance band [lo:end]
        (pick's band)."""
        cycles = layer.cycles
        end = bisect.bisect_right(cycles, pace)
        if end == 0:
            return 0, bisect.bisect_right(cycles, cycles[0])
        near = pace if cycles[end - 1] * BALANCE >= pace else cycles[end - 1]
        return bisect.bisect_left(cycles, near / BALANCE), end

    def solve(self, pace: int):
        """Picks meeting ``pace`` whose approximate totals fit the budget, or None.  The resources with a limit of
        few units that the layers can overrun are counted exactly (a knapsack over the layers on a grid of their
        units); the layers' other resources are weighed, the weight of one that comes out over the budget raised
        (REWEIGHS times); a balanced design first (BAND_PENALTY), then any."""
        import numpy as np

        budget = self.budget
        spare = {k: budget.limit(k) - budget.reserved.get(k, 0) - self.rest[k] for k in RESOURCES}
        if any(v < 0 for v in spare.values()):
            return None
        meets = [(choices.choices[:self._band(choices, pace)[1]], self._band(choices, pace)[0])
                 for _, choices in self.layers]
        binds = [k for k in RESOURCES if sum(max(c.resources[k] for c in cs) for cs, _ in meets) > spare[k]]
        exact = [k for k in ("bram", "dsp") if k in binds]
        logic = sorted((k for k in ("lut", "ff") if k in binds), key=lambda k: -sum(
            min(c.resources[k] for c in cs) for cs, _ in meets) / max(1.0, spare[k]))
        exact += logic[:2 - len(exact)]
        # (the counted resources weigh a tenth: among the designs that fit, the one that spends least of them)
        weights = {k: (0.1 if k in exact else 1.0) / max(1.0, budget.limit(k)) for k in RESOURCES}
        room = {k: spare[k] for k in exact}
        for penalty in (BAND_PENALTY, 0.0):
            for _ in range(REWEIGHS):
                units = self._units(room)
                shape = tuple(int(room[k] / units[k] + 1e-9) + 1 for k in exact)
                picks = self._knapsack(meets, exact, units, shape, weights, penalty, np)
                if picks is None:
                    break
                over = budget.over(self.approx_totals(picks))
                if not over:
                    return picks
                for k in over:
                    if k in exact:      # a resource counted in steps, rounded to the nearest: a little less room
                        room[k] -= over[k][0] - over[k][1] + units[k]
                    else:
                        weights[k] *= 4
        return None

    @staticmethod
    def _units(room: dict) -> dict:
        """The step each counted resource is counted in: 1 (exact) up to EXACT_UNITS of them; a larger one in as
        many steps as KNAPSACK_STATES leaves beside the others."""
        small = math.prod(int(v) + 1 for v in room.values() if v <= EXACT_UNITS)
        steps = max(64, KNAPSACK_STATES // max(1, small))
        return {k: 1.0 if v <= EXACT_UNITS else max(1.0, v / steps) for k, v in room.items()}

    def lower_bounds(self, pace: int) -> dict:
        """resource -> the least any design meeting ``pace`` takes, by the layers' prices (the board top in)."""
        return {k: self.rest[k] + self.budget.reserved.get(k, 0) + sum(
            min(c.resources[k] for c in choices.choices[:self._band(choices, pace)[1]]) for _, choices in self.layers)
            for k in RESOURCES}

    @staticmethod
    def _knapsack(meets, exact, units, shape, weights, penalty, np):
        """The picks of least weighted cost whose exact resources fit ``shape`` units; None when none do."""
        inf = float("inf")
        cost = np.full(shape or (1,), inf)
        cost[(0,) * len(shape or (1,))] = 0.0
        trail = []
        for choices, lo in meets:
            groups = {}
            for index, c in enumerate(choices):
                use = tuple(round(c.resources[k] / units[k]) if units[k] > 1 else int(c.resources[k])
                            for k in exact)
                if any(u >= n for u, n in zip(use, shape)) and shape:
                    continue
                value = sum(c.resources[k] * w for k, w in weights.items()) + (penalty if index < lo else 0.0)
                if use not in groups or value < groups[use][0]:
                    groups[use] = (value, c)
            if not groups:
                return None
            items = list(groups.items())
            new = np.full_like(cost, inf)
            arg = np.full(cost.shape, -1, dtype=np.int32)
            for j, (use, (value, _)) in enumerate(items):
                if shape:
                    dst = tuple(slice(u, None) for u in use)
                    src = tuple(slice(0, n - u) for u, n in zip(use, shape))
                    cand = cost[src] + value
                    better = cand < new[dst]
                    new[dst] = np.where(better, cand, new[dst])
                    arg[dst] = np.where(better, j, arg[dst])
                elif cost[0] + value < new[0]:
                    new[0], arg[0] = cost[0] + value, j
            cost = new
            trail.append((items, arg))
        at = np.unravel_index(int(np.argmin(cost)), cost.shape)
        if not np.isfinite(cost[at]):
            return None
        picks = []
        for items, arg in reversed(trail):
            use, (_, c) = items[int(arg[at])]
            picks.append(c)
            if shape:
                at = tuple(a - u for a, u in zip(at, use))
        return picks[::-1]

    # -- whole designs ----------------------------------------------------------------------------------------
    def _apply(self, picks: list) -> Plan:
        """Set each layer's pick (in the order of self.layers) on the graph; the plan of the result."""
        for (node, _), choice in zip(self.layers, picks):
            choice.set_on(node)
        return build_plan(self.graph)

    def _estimate(self, picks: list) -> dict:
        from convflow.compiler.estimate import estimate

        plan = self._apply(picks)
        return estimate(self.graph, plan=plan)

    def evaluate(self, target: int) -> tuple:
        """(picks, plan, estimate) of the design folded for ``target``; the graph is left folded so.  A stage that
        is no layer's own (a pool, a converter) slower than the target sets the pace instead: the layers are then
        folded for that pace."""
        from convflow.compiler.estimate import estimate

        if target not in self._exact:
            pace = max(target, self.floor)
            while True:
                picks = self.picks_for(pace)
                plan = self._apply(picks)
                if plan.cycles_per_frame <= pace:
                    break
                pace = plan.cycles_per_frame
            self._exact[target] = (picks, plan, estimate(self.graph, plan=plan))
        picks, plan, est = self._exact[target]
        self._apply(picks)
        return picks, plan, est

    def targets(self) -> list:
        """The paces at which some layer's pick can change (a folding's cycles starts or stops meeting the pace, or
        enters or leaves the band below it), from the floor up."""
        values = set()
        for _, choices in self.layers:
            for c in choices:
                values.update((c.cycles, math.floor(c.cycles * BALANCE)))
        return sorted({v for v in values if v >= self.floor} | {self.floor})


def _balance_notes(search: _Search, picks: list, cycles: int) -> list:
    notes = []
    for (node, choices), c in zip(search.layers, picks):
        if c.cycles * BALANCE >= cycles or len({x.cycles for x in choices}) == 1:
            continue
        slower = [x.cycles for x in choices if x.cycles > c.cycles]
        nxt = min(slower) if slower else None
        why = (f"the next slower folding takes {nxt:,} cycles, beyond the bottleneck's {cycles:,}" if nxt
               else "it is fully folded")
        if nxt is not None and nxt <= cycles:
            notes.append(f"{node.op} {node.name!r}: PE={c.pe} SIMD={c.simd} takes {c.cycles:,} cycles/frame, under "
                         f"1/{BALANCE:g} of the bottleneck's {cycles:,}, because it is cheaper than every slower "
                         f"folding that meets the pace" + (" or fits the budget beside the other layers' choices"
                                                             if search.budget is not None else ""))
            continue
        notes.append(f"{node.op} {node.name!r}: PE={c.pe} SIMD={c.simd} takes {c.cycles:,} cycles/frame, under "
                     f"1/{BALANCE:g} of the bottleneck's {cycles:,}: the divisor grid has nothing between ({why})")
    return notes


def fold(graph: Graph, *, target_cycles: int | None = None, target_fps: float | None = None,
         clock_mhz: float | None = None, budget: Budget | None = None, overrides: dict | None = None) -> Folding:
    """Set node.pe / node.simd on every matrix-vector layer (``overrides``: layer name -> (pe, simd), kept as
    given) and return the Folding.  With a ``budget`` and no target: the fastest design that fits it; with a target
    and a budget: the cheapest design meeting the target, DesignDoesNotFit if it does not fit."""
    from convflow.compiler.estimate import DEFAULT_CLOCK_MHZ

    clock = float(clock_mhz or DEFAULT_CLOCK_MHZ)
    if target_cycles is not None and target_fps is not None:
        raise ConvflowError("give a target in cycles per frame or in frames per second, not both")
    if target_cycles is not None and int(target_cycles) < 1:
        raise ConvflowError(f"target cycles {target_cycles}: give a positive number of cycles per frame")
    if target_fps is not None and not target_fps > 0:
        raise ConvflowError(f"target {target_fps} frames/s: give a positive frame rate")
    if clock <= 0:
        raise ConvflowError(f"clock {clock:g} MHz: give a positive clock frequency")
    search = _Search(graph, budget, overrides or {})
    notes = []

    if target_cycles is not None or target_fps is not None:
        mode = "cycles" if target_cycles is not None else "fps"
        target = int(target_cycles) if target_cycles is not None else max(1, math.floor(clock * 1e6 / target_fps))
        picks, plan, est = search.evaluate(target)
        if est["cycles_per_frame"] > target:
            if target_fps is not None:
                raise ConvflowError(
                    f"{target_fps:g} frames/s at {clock:g} MHz needs {target:,} cycles/frame; the fastest folding "
                    f"takes {est['cycles_per_frame']:,} ({search.floor_reason}): "
                    f"{clock * 1e6 / est['cycles_per_frame']:,.0f} frames/s.  Lower the target or raise --clock-mhz")
            notes.append(f"target {target:,} cycles/frame not reached: the fastest folding takes "
                         f"{est['cycles_per_frame']:,} ({search.floor_reason})")
        binding = f"the target ({target:,} cycles/frame)"
        if est["cycles_per_frame"] < target / BALANCE and all(c.cycles == max(x.cycles for x in choices)
                                                              for (_, choices), c in zip(search.layers, picks)):
            binding = f"the target ({target:,} cycles/frame); every layer is at its most folded and runs faster"
        if budget is not None and budget.over(est["totals"]):
            over = budget.over(est["totals"])
            best = _fit(search, budget)
            hint = (f"; the fastest folding that fits takes {best[2]['cycles_per_frame']:,} cycles/frame "
                    f"({clock * 1e6 / best[2]['cycles_per_frame']:,.0f} frames/s at {clock:g} MHz)" if best else
                    "; no folding fits")
            search.evaluate(target)
            raise DesignDoesNotFit(f"folded for {target:,} cycles/frame the design does not fit {budget.target} "
                                   f"at {budget.margin_text} of its resources: {_over_text(over)}{hint}")
    elif budget is not None:
        mode = "fit"
        best = _fit(search, budget)
        if best is None:
            est = search.evaluate(search.targets()[-1])[2]
            raise DesignDoesNotFit(f"no folding fits {budget.target} at {budget.margin_text} of its resources: "
                                   f"even the most folded design needs {_over_text(budget.over(est['totals']))}"
                                   f"{_why_not(est, budget)}")
        picks, plan, est, binding = best
        target = plan.cycles_per_frame
    else:
        mode = "input pace"
        target = search.floor
        picks, plan, est = search.evaluate(target)
        binding = search.floor_reason
    notes += _balance_notes(search, picks, est["cycles_per_frame"])
    return Folding(mode=mode, target_cycles=int(target), clock_mhz=clock, budget=budget, estimate=est, plan=plan,
                   binding=binding, notes=notes, target_fps=target_fps)


# paces below the first that fits by the layers' prices (found by bisection) that are still tried: fitting is
# monotone in the pace for the exact search, nearly so with the weighed resources and the band
SCAN_BACK = 4
# times a pace is built again after its design, built in full, overran the approximate totals (the rest of the
# design is learnt from it)
RETRIES = 3


def _fit(search: _Search, budget: Budget):
    """(picks, plan, estimate, binding) of the fastest design that fits, or None; the graph is left folded so.
    The first pace that fits by the layers' prices is found by bisection; from a little below it the paces are
    tried upwards, a design built in full only where its prices fit, until one fits in full."""
    targets = search.targets()
    lo, hi = -1, len(targets) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if search.approx_fits(targets[mid]):
            hi = mid
        else:
            lo = mid
    tried = {}
    for index in range(max(0, hi - SCAN_BACK), len(targets)):
        target = targets[index]
        for _ in range(RETRIES):
            if index < len(targets) - 1 and not search.approx_fits(target):
                break
            picks, plan, est = search.evaluate(target)
            if not budget.over(est["totals"]):
                binding = _binding(search, budget, plan.cycles_per_frame, tried)
                search.evaluate(target)
                return picks, plan, est, binding
            tried[target] = est
            search._exact.pop(target, None)
            search._learn_rest(picks, est)
    return None


def _binding(search: _Search, budget: Budget, cycles: int, tried: dict) -> str:
    """What keeps a design of ``cycles`` per frame from the next faster pace the layers could take."""
    faster = [t for t in search.targets() if t < cycles]
    if not faster:
        return f"{search.floor_reason}; every resource has room left"
    pace = faster[-1]
    bounds = search.lower_bounds(pace)
    hard = {k: v for k, v in bounds.items() if v > budget.limit(k)}
    if hard:
        return ", ".join(f"{PART_RESOURCES[k]} (any folding for the next faster pace, {pace:,} cycles/frame, needs "
                         f"at least {_pct(v, budget.available[k])} of the part)" for k, v in hard.items())
    totals = tried[pace]["totals"] if pace in tried else search.approx_totals(search.picks_for(pace))
    return ", ".join(f"{PART_RESOURCES[k]} (folded for the next faster pace, {pace:,} cycles/frame, the design "
                     f"needs {_pct(u, budget.available[k])} of the part)" for k, (u, _) in
                     budget.over(totals).items()) or f"the budget (at {pace:,} cycles/frame)"


def _pct(used: float, available: float) -> str:
    return f"{100 * used / max(1, available):.0f}%"


def _over_text(over: dict) -> str:
    return "; ".join(f"{PART_RESOURCES[k]} {used:,.0f} > {limit:,.0f}" for k, (used, limit) in over.items())


def _why_not(est: dict, budget: Budget) -> str:
    """What the fully folded design spends its scarcest resource on."""
    over = budget.over(est["totals"])
    if not over:
        return ""
    key = max(over, key=lambda k: over[k][0] / max(1.0, over[k][1]))
    rows = sorted((r for r in est["layers"] if r.get(key)), key=lambda r: -r[key])[:3]
    parts = ", ".join(f"{r['name']} {r[key]:,}" for r in rows)
    what = {"bram": " (weights and line buffers in block RAM)", "lut": "", "ff": "", "dsp": ""}[key]
    return f" -- most of the {PART_RESOURCES[key]}{what}: {parts}; target a larger part"


# ----------------------------------------------------------------------------------------------- for people
def format_manifest_table(manifest: dict) -> str:
    """The folding table of a compiled artifact (its manifest's "folding" and "estimate"); "" without them."""
    if not manifest.get("folding") or not manifest.get("estimate"):
        return ""
    return format_table(manifest["folding"], manifest["estimate"])


def format_table(folding: dict, est: dict) -> str:
    """Per layer: the folding, its cycles and resources; then the totals, the board top and the budget, the
    frame rate and what limits it (``folding``: Folding.to_dict(); ``est``: its estimate)."""
    budget = folding.get("budget")
    names = {PART_RESOURCES[k]: k for k in RESOURCES}
    limits = {}
    if budget:
        own = {names[n]: v for n, v in budget.get("margins", {}).items()}
        limits = {names[n]: own.get(names[n], budget["margin"]) * v for n, v in budget["available"].items()}

    def row(name, pe="", simd="", cycles="", res=None, share=False):
        res = res or {}
        cells = [f"{res[k]:,.0f}" if k in res else "" for k in RESOURCES]
        cyc = f"{cycles:,}" if cycles != "" else ""
        most = ""
        if share and limits:            # the resource this layer takes the largest share of the budget of
            key = max(RESOURCES, key=lambda k: res[k] / max(1.0, limits[k]))
            most = f"{PART_RESOURCES[key]} {100 * res[key] / max(1.0, limits[key]):.1f}%"
        return (f"{name[:34]:<34} {pe:>4} {simd:>5} {cyc:>13} {cells[0]:>8} {cells[1]:>8} {cells[2]:>5} "
                f"{cells[3]:>5} {most:>16}").rstrip()

    head = (f"{'layer':<34} {'PE':>4} {'SIMD':>5} {'cycles/frame':>13} {'LUT4':>8} {'FF':>8} {'DSP':>5} "
            f"{'EBR':>5}" + (f" {'most of budget':>16}" if limits else ""))
    lines = [head, "-" * len(head)]
    mvus = [r for r in est["layers"] if "pe" in r]
    for r in mvus:
        lines.append(row(r["name"], r["pe"], r["simd"], r["cycles"], r, share=True))
    totals = est["totals"]
    lines.append(row("other stages",
                     res={k: totals[k] - sum(r[k] for r in mvus) for k in RESOURCES}))
    lines.append(row("accelerator", cycles=est["cycles_per_frame"], res=totals))
    if budget:
        reserved = {names[n]: v for n, v in budget["reserved"].items()}
        available = {names[n]: v for n, v in budget["available"].items()}
        lines.append(row("board top (UART, frame buffer)", res=reserved))
        lines.append(row("design", res={k: totals[k] + reserved[k] for k in RESOURCES}))
        label = f"budget: {100 * budget['margin']:.0f}% of {budget['part']}" + (" (and own)" if own else "")
        lines.append(row(label, res=limits))
        pct = folding.get("used_percent", {})
        lines.append("used: " + ", ".join(f"{n} {v:.1f}%" for n, v in pct.items()) + f" of {budget['target']}")
    lines.append(f"{est['cycles_per_frame']:,} cycles/frame = {folding['fps_at_clock']:,.0f} frames/s at "
                 f"{folding['clock_mhz']:g} MHz (bottleneck {est['bottleneck']}); limited by {folding['binding']}")
    return "\n".join(lines)


def describe(folding: Folding) -> str:
    """format_table of a Folding not yet written into a manifest."""
    return format_table(folding.to_dict(), folding.estimate)
