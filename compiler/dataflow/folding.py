"""Folding: PE and SIMD for every matrix-vector layer, chosen for a frame rate or to fit a device.

A candidate folding is priced with the plan the emitters print: each layer's foldings with the stages its stage
builder makes for them (dataflow/mvu.py, window.py), and every whole-design candidate with ``build_plan`` and the
estimator's sum (compiler/estimate.py), so the estimate of the chosen folding is the estimate of the emitted design.

The design runs at the pace of its slowest stage.  For a pace of T cycles per frame each layer takes, among its
foldings that meet T, the cheapest whose cycles are within BALANCE of T: no layer is unfolded beyond what the
bottleneck allows (unfolding it further would only make it idle).  Where the divisor grid has no folding in that band
the layer takes the slowest folding that meets T, and the notes say so.  T itself:

  target cycles     T = the target
  target fps        T = clock / fps, the cheapest balanced folding that meets it
  a device budget   the smallest T whose whole design (the accelerator's estimate plus the board top) fits the budget
                    (a margin of every resource of the part), found by bisection over the cycle counts the layers'
                    foldings can take; resources fall as T grows, and every step is checked on the whole plan
  none of these     T = the input interface's pace (a frame's elements at input_pace per cycle): faster layers than
                    the input delivers would only idle

"Cheapest" weighs a layer's LUT4, FF, DSP and EBR by the share of the budget (or, with no device, of the default
part) each takes, so a scarce resource counts for more.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from convflow.compiler.ir.graph import Graph
from convflow.hw.errors import ConvflowError, DesignDoesNotFit

from .build import build_plan
from .builders import BUILDERS
from .mvu import check_folding, folding_grid
from .plan import Plan, Stream

# a layer's cycles may be this much below the bottleneck's before it counts as unfolded too far
BALANCE = 1.25
# share of every resource of the part a design may take when fitting (place and route needs slack; the estimate
# is within about 15 % of yosys, compiler/estimate.py)
DEFAULT_MARGIN = 0.85
RESOURCES = ("lut", "ff", "dsp", "bram")
# the part's names of the estimate's resources (hw/boards/parts.toml)
PART_RESOURCES = {"lut": "LUT4", "ff": "FF", "dsp": "MULT18X18D", "bram": "EBR"}
# the part that weighs resources against each other when no device is given
DEFAULT_WEIGHING_PART = "LFE5U-85F"


@dataclass(frozen=True)
class Budget:
    """What a design may use: ``margin`` of each resource the target has, less what is ``reserved`` for the
    logic around the accelerator (the board top)."""
    target: str                  # for messages, e.g. "ulx3s-85f (LFE5U-85F)"
    part: str
    available: dict              # resource -> count the part has
    margin: float = DEFAULT_MARGIN
    reserved: dict = field(default_factory=dict)
    board: str | None = None

    def limit(self, key: str) -> float:
        return self.margin * self.available[key]

    def over(self, totals: dict) -> dict:
        """resource -> (used with the reserved share, limit) for every resource over the limit."""
        return {k: (totals[k] + self.reserved.get(k, 0), self.limit(k)) for k in RESOURCES
                if totals[k] + self.reserved.get(k, 0) > self.limit(k)}

    def shares(self, totals: dict) -> dict:
        """resource -> fraction of the part used, the reserved share included."""
        return {k: (totals[k] + self.reserved.get(k, 0)) / max(1, self.available[k]) for k in RESOURCES}

    def to_dict(self) -> dict:
        return {"target": self.target, "part": self.part, "board": self.board, "margin": self.margin,
                "available": {PART_RESOURCES[k]: self.available[k] for k in RESOURCES},
                "reserved": {PART_RESOURCES[k]: int(self.reserved.get(k, 0)) for k in RESOURCES}}


def ecp5_budget(board: str | None = None, device: str | None = None, margin: float = DEFAULT_MARGIN,
                frame: tuple | None = None) -> Budget:
    """The budget of an ECP5 board (hw/boards/<board>.toml) or bare part, with the UART board top reserved (it
    wraps the accelerator in both cases).  ``frame``: (input elements, input bits) of the frame buffer the board
    top holds.  A Xilinx part is refused: there is no calibrated resource model for it here (no Vivado)."""
    from convflow.hw.flows import ecp5_board

    if not 0 < margin <= 1:
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
                  margin=float(margin), reserved=reserved, board=b.name if b else None)


def board_top_resources(frame: tuple) -> dict:
    """The UART board top around the accelerator: its measured logic and its frame buffer (IN_ELEMS words of
    IN_BITS bits, placed as yosys places a RAM: dataflow/memory.py)."""
    from convflow.hw.flows.ecp5_board import BOARD_TOP_LOGIC

    from .memory import memory_cost

    elems, bits = frame
    buffer = memory_cost(int(elems), int(bits), ram=True)
    return {"lut": BOARD_TOP_LOGIC["lut"] + buffer["lut"], "ff": BOARD_TOP_LOGIC["ff"], "dsp": 0,
            "bram": buffer["bram"]}


# ----------------------------------------------------------------------------------------------- one layer
@dataclass(frozen=True)
class Choice:
    pe: int
    simd: int
    cycles: int                  # the slowest of the layer's own stages
    resources: dict              # the layer's own stages (window generator, unit), FIFOs behind them included

    @property
    def multipliers(self) -> int:
        return self.pe * self.simd

    def cost(self, weights: dict) -> float:
        return sum(self.resources[k] * weights[k] for k in RESOURCES)


def layer_choices(graph: Graph, node) -> list:
    """Every folding of ``node`` with the cycles and resources of the stages its builder makes for it."""
    saved = node.pe, node.simd
    choices = []
    try:
        for node.pe, node.simd in folding_grid(node, graph):
            choices.append(layer_choice(graph, node))
    finally:
        node.pe, node.simd = saved
    return choices


def layer_choice(graph: Graph, node) -> Choice:
    """The layer's folding as it is set on ``node``, priced: the stages its builder makes, and those of the
    activations and pools after it, which take its PE lanes."""
    stages = _layer_stages(graph, node)
    res = {k: sum(s.resources()[k] for s in stages) for k in RESOURCES}
    return Choice(node.pe, node.simd, max(s.cycles for s in stages), res)


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


def pick(choices: list, target: int, weights: dict) -> Choice:
    """The cheapest balanced choice meeting ``target`` cycles: among those within BALANCE of the target, or when
    the divisor grid has none there, within BALANCE of the slowest that meets it (the fastest if none does)."""
    meeting = [c for c in choices if c.cycles <= target]
    if not meeting:
        return min(choices, key=lambda c: (c.cycles, c.cost(weights)))
    near = max(c.cycles for c in meeting) if not any(c.cycles * BALANCE >= target for c in meeting) else target
    band = [c for c in meeting if c.cycles * BALANCE >= near]
    return min(band, key=lambda c: (round(c.cost(weights), 12), c.multipliers, c.pe))
    # ties: fewer multipliers, then SIMD before PE (a wider adder tree shares one accumulator)


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


# a resource over the budget weighs this much more in the next try at the same pace, at most REWEIGH_ROUNDS times:
# a design that is short of one resource (block RAM for CNV's weights) trades it for the others
REWEIGH_FACTOR = 4.0
REWEIGH_ROUNDS = 4


class _Search:
    """The layers' priced foldings, and designs built from them for a pace.

    Each pace's picks are first totalled from the layers' own prices plus what the rest of the design (converters
    between layers, forks, the FIFOs in front of the units) took in the most folded design -- fast, and at most what
    the whole plan adds up to -- and only a design that fits by that total is built and estimated in full."""

    def __init__(self, graph: Graph, budget: Budget | None, overrides: dict):
        self.graph = graph
        self.budget = budget
        weighing = budget or ecp5_budget(device=DEFAULT_WEIGHING_PART)
        self.weights = {k: 1.0 / max(1.0, weighing.limit(k)) for k in RESOURCES}
        self.layers = []
        for node in graph.mvu_nodes():
            if node.name in overrides:
                node.pe, node.simd = (int(v) for v in overrides[node.name])
                check_folding(node, graph)
                self.layers.append((node, [layer_choice(graph, node)]))
            else:
                self.layers.append((node, layer_choices(graph, node)))
        # no design is faster than its input arrives, or than its slowest layer fully unfolded
        self.floor = Plan(graph).input_cycles
        self.floor_reason = "the input interface's pace"
        for node, choices in self.layers:
            fastest = min(choices, key=lambda c: c.cycles)
            if fastest.cycles > self.floor:
                self.floor = fastest.cycles
                self.floor_reason = (f"{node.name}'s fastest folding (PE={fastest.pe} SIMD={fastest.simd}: "
                                     f"{fastest.cycles:,} cycles/frame)")
        self._exact = {}
        self._weights = {}
        slowest = self.targets()[-1]
        picks = self.picks(slowest, self.weights)
        est = self._estimate(picks)
        self.rest = {k: max(0, est["totals"][k] - sum(c.resources[k] for c in picks)) for k in RESOURCES}

    # -- picking --------------------------------------------------------------------------------------------
    def picks(self, target: int, weights: dict) -> list:
        target = max(target, self.floor)
        return [pick(choices, target, weights) for _, choices in self.layers]

    def approx_totals(self, picks: list) -> dict:
        return {k: self.rest[k] + sum(c.resources[k] for c in picks) for k in RESOURCES}

    def weights_for(self, target: int) -> dict:
        """The weights the layers are picked with for ``target``: with a budget, the resources the approximate
        total is short of weighed up until it fits (or REWEIGH_ROUNDS pass)."""
        if target not in self._weights:
            weights = dict(self.weights)
            for _ in range(REWEIGH_ROUNDS if self.budget is not None else 0):
                over = self.budget.over(self.approx_totals(self.picks(target, weights)))
                if not over:
                    break
                for k in over:
                    weights[k] *= REWEIGH_FACTOR
            self._weights[target] = weights
        return self._weights[target]

    def approx_fits(self, target: int) -> bool:
        return not self.budget.over(self.approx_totals(self.picks(target, self.weights_for(target))))

    # -- whole designs ----------------------------------------------------------------------------------------
    def _apply(self, picks: list) -> Plan:
        """Set each layer's pick (in the order of self.layers) on the graph; the plan of the result."""
        for (node, _), choice in zip(self.layers, picks):
            node.pe, node.simd = choice.pe, choice.simd
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
                picks = self.picks(pace, self.weights_for(pace))
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
        if c.cycles * BALANCE >= cycles or len(choices) == 1:
            continue
        slower = [x.cycles for x in choices if x.cycles > c.cycles]
        nxt = min(slower) if slower else None
        why = (f"the next slower folding takes {nxt:,} cycles, beyond the bottleneck's {cycles:,}" if nxt
               else "it is fully folded")
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
                                   f"at {100 * budget.margin:.0f}% of its resources: {_over_text(over)}{hint}")
    elif budget is not None:
        mode = "fit"
        best = _fit(search, budget)
        if best is None:
            est = search.evaluate(search.targets()[-1])[2]
            raise DesignDoesNotFit(f"no folding fits {budget.target} at {100 * budget.margin:.0f}% of its resources: "
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


def _fit(search: _Search, budget: Budget):
    """(picks, plan, estimate, binding) of the fastest design that fits, or None; the graph is left folded so.
    Paces are tried from the fastest up; a design is built in full only where the layers' prices say it fits."""
    targets = search.targets()
    tried = None
    for index, target in enumerate(targets):
        if not search.approx_fits(target):
            continue
        picks, plan, est = search.evaluate(target)
        if budget.over(est["totals"]):
            tried = est
            continue
        if index == 0:
            binding = f"{search.floor_reason}; every resource has room left"
        else:
            faster = tried or search.evaluate(targets[index - 1])[2]
            binding = ", ".join(f"{PART_RESOURCES[k]} (the next faster design, {faster['cycles_per_frame']:,} "
                                f"cycles/frame, needs {_pct(u, budget.available[k])} of the part)"
                                for k, (u, _) in budget.over(faster["totals"]).items())
            search.evaluate(target)
        return picks, plan, est, binding
    return None


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
    def row(name, pe="", simd="", cycles="", res=None):
        res = res or {}
        cells = [f"{res[k]:,.0f}" if k in res else "" for k in RESOURCES]
        cyc = f"{cycles:,}" if cycles != "" else ""
        return (f"{name[:34]:<34} {pe:>4} {simd:>5} {cyc:>13} {cells[0]:>8} {cells[1]:>8} {cells[2]:>5} "
                f"{cells[3]:>5}")

    head = (f"{'layer':<34} {'PE':>4} {'SIMD':>5} {'cycles/frame':>13} {'LUT4':>8} {'FF':>8} {'DSP':>5} "
            f"{'EBR':>5}")
    lines = [head, "-" * len(head)]
    mvus = [r for r in est["layers"] if "pe" in r]
    for r in mvus:
        lines.append(row(r["name"], r["pe"], r["simd"], r["cycles"], r))
    totals = est["totals"]
    lines.append(row("other stages",
                     res={k: totals[k] - sum(r[k] for r in mvus) for k in RESOURCES}))
    lines.append(row("accelerator", cycles=est["cycles_per_frame"], res=totals))
    budget = folding.get("budget")
    if budget:
        names = {PART_RESOURCES[k]: k for k in RESOURCES}
        reserved = {names[n]: v for n, v in budget["reserved"].items()}
        available = {names[n]: v for n, v in budget["available"].items()}
        lines.append(row("board top (UART, frame buffer)", res=reserved))
        lines.append(row("design", res={k: totals[k] + reserved[k] for k in RESOURCES}))
        lines.append(row(f"budget: {100 * budget['margin']:.0f}% of {budget['part']}",
                         res={k: budget["margin"] * available[k] for k in RESOURCES}))
        pct = folding.get("used_percent", {})
        lines.append("used: " + ", ".join(f"{n} {v:.1f}%" for n, v in pct.items()) + f" of {budget['target']}")
    lines.append(f"{est['cycles_per_frame']:,} cycles/frame = {folding['fps_at_clock']:,.0f} frames/s at "
                 f"{folding['clock_mhz']:g} MHz (bottleneck {est['bottleneck']}); limited by {folding['binding']}")
    return "\n".join(lines)


def describe(folding: Folding) -> str:
    """format_table of a Folding not yet written into a manifest."""
    return format_table(folding.to_dict(), folding.estimate)
