"""Where the clock period goes, stage by stage: a static timing analysis of nextpnr's routed design from the SDF file
it writes (`--sdf`), so a build reports the slowest path of every stage of the accelerator, not just the one
critical path nextpnr prints.

nextpnr's SDF holds every routed connection (INTERCONNECT driver-pin sink-pin delay) and every cell's arcs (IOPATH
in out delay; a clock input's arc is a launch: CLK -> Q of a flip-flop, a block RAM's or multiplier's registered
output) and setup checks (SETUPHOLD pin (posedge clock) setup hold).  The arrival time of a pin is the longest
chain of arcs from a launch; a check's required period is the arrival at its pin plus its setup.  Delays are the
SDF's max values (nextpnr's own analysis is on the same numbers: on cnn-digits this analysis and nextpnr's report
agree to 0.1 %, tests/test_timing.py).  One clock domain is assumed, as the generated board top has.

Paths are grouped by the stage instance of their endpoint (u_accel.u_s5_Conv_1_swg: stage 5 of the plan, the
window generator of Conv_1); what lies outside the accelerator is "board top".
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

CLOCK_PINS = {"CLK", "CLKA", "CLKB", "WCK", "CLK0", "CLK1", "CLK2", "CLK3", "CLKI"}
_VALUE = r"\((-?[0-9.]*):(-?[0-9.]*):(-?[0-9.]*)\)"
_INTERCONNECT = re.compile(r"^\s*\(INTERCONNECT\s+(\S+)\s+(\S+)\s+" + _VALUE + r"(?:\s+" + _VALUE + r")?")
_INSTANCE = re.compile(r"^\s*\(INSTANCE\s*(.*?)\)\s*$")
_IOPATH = re.compile(r"^\s*\(IOPATH\s+(\S+)\s+(\S+)\s+" + _VALUE + r"(?:\s+" + _VALUE + r")?")
_SETUP = re.compile(r"^\s*\(SETUP(?:HOLD)?\s+\((?:posedge|negedge)\s+(\S+)\)\s+\((?:posedge|negedge)\s+(\S+)\)\s+"
                    + _VALUE)
_STAGE = re.compile(r"(?:^|\.)(u_s\d+_[A-Za-z0-9_]+?)(?:\.|$)")


def _unescape(name: str) -> str:
    return re.sub(r"\\(.)", r"\1", name)


def _split_pin(pin: str) -> tuple:
    """'inst/port' (the SDF's divider is '/', escaped inside names) -> (instance, port), unescaped."""
    i = len(pin) - 1
    while i >= 0 and not (pin[i] == "/" and (i == 0 or pin[i - 1] != "\\")):
        i -= 1
    return _unescape(pin[:i]), pin[i + 1:]


def _max(groups: tuple) -> float:
    """The largest of an SDF value's (min:typ:max) triples (rise and fall), in the file's unit."""
    return max(float(v) for v in groups if v not in (None, ""))


@dataclass
class TimingPath:
    """The worst path into one setup check: its required period and where it ends; how it gets there (hops,
    start, logic / routing split) is traced back from the analysed graph when asked, since a report reads it for
    one path a stage of the tens of thousands."""
    period_ns: float
    endpoint: str                 # instance/port of the setup check
    stage: str                    # the endpoint's stage instance (u_s5_Conv_1_swg) or "board top"
    graph: "TimingGraph" = field(repr=False)
    node: int = field(repr=False)
    setup_ps: float = field(repr=False)

    @property
    def fmax_mhz(self) -> float:
        return 1e3 / self.period_ns if self.period_ns > 0 else float("inf")

    @cached_property
    def _trace(self) -> tuple:
        """(hops: (pin, arrival ns) from launch to endpoint, logic ns incl. setup, routing ns)."""
        g, arrival, pred = self.graph, self.graph.arrival, self.graph.pred
        hops, logic, routing = [], self.setup_ps, 0.0
        v = self.node
        while True:
            hops.append((g.names[v], arrival[v] * g.unit_ps / 1e3))
            p = pred[v]
            if p is None:
                logic += arrival[v]                      # the launch's clock-to-output
                break
            if p[1]:
                routing += arrival[v] - arrival[p[0]]
            else:
                logic += arrival[v] - arrival[p[0]]
            v = p[0]
        hops.reverse()
        return hops, logic * g.unit_ps / 1e3, routing * g.unit_ps / 1e3

    @property
    def hops(self) -> list:
        return self._trace[0]

    @property
    def startpoint(self) -> str:
        return self._trace[0][0][0]

    @property
    def logic_ns(self) -> float:
        return self._trace[1]

    @property
    def routing_ns(self) -> float:
        return self._trace[2]


def stage_of(instance: str) -> str:
    m = _STAGE.search(instance)
    return m.group(1) if m else "board top"


def stage_label(stage: str) -> str:
    """u_s5_Conv_1_swg -> Conv_1_swg: the plan's stage name without the instance prefix."""
    return re.sub(r"^u_s\d+_", "", stage)


class TimingGraph:
    """Pins and arcs of a routed design, read from nextpnr's SDF file."""

    def __init__(self):
        self.index = {}               # pin name -> id
        self.names = []
        self.arcs = defaultdict(list)  # id -> [(to id, delay ps, is routing)]
        self.launch = {}              # id -> clock-to-output ps
        self.setup = {}               # id -> setup ps
        self.unit_ps = 1.0
        self.arrival = self.pred = None   # analyse()'s result

    def pin(self, instance: str, port: str) -> int:
        key = f"{instance}/{port}"
        if key not in self.index:
            self.index[key] = len(self.names)
            self.names.append(key)
        return self.index[key]

    @classmethod
    def read(cls, sdf: Path) -> "TimingGraph":
        g = cls()
        instance = None
        with open(sdf, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "(TIMESCALE" in line:
                    m = re.search(r"TIMESCALE\s+([0-9.]+)\s*(ps|ns)", line)
                    if m:
                        g.unit_ps = float(m.group(1)) * (1000.0 if m.group(2) == "ns" else 1.0)
                    continue
                m = _INTERCONNECT.match(line)
                if m:
                    a, b = _split_pin(m.group(1)), _split_pin(m.group(2))
                    g.arcs[g.pin(*a)].append((g.pin(*b), _max(m.groups()[2:]), True))
                    continue
                m = _INSTANCE.match(line)
                if m:
                    instance = _unescape(m.group(1).strip())
                    continue
                m = _IOPATH.match(line)
                if m and instance is not None:
                    src, dst = m.group(1), m.group(2)
                    delay = _max(m.groups()[2:])
                    if src in CLOCK_PINS:
                        node = g.pin(instance, dst)
                        g.launch[node] = max(g.launch.get(node, 0.0), delay)
                    else:
                        g.arcs[g.pin(instance, src)].append((g.pin(instance, dst), delay, False))
                    continue
                m = _SETUP.match(line)
                if m and instance is not None and m.group(2) in CLOCK_PINS:
                    node = g.pin(instance, m.group(1))
                    g.setup[node] = max(g.setup.get(node, 0.0), _max(m.groups()[2:5]))
        return g

    def analyse(self) -> tuple:
        """(arrival ps per pin, predecessor per pin as (pin, is routing)), longest paths from the launches."""
        n = len(self.names)
        indeg = [0] * n
        for src, outs in self.arcs.items():
            for dst, _, _ in outs:
                indeg[dst] += 1
        arrival = [None] * n
        pred = [None] * n
        for node, t in self.launch.items():
            arrival[node] = t
        stack = [v for v in range(n) if indeg[v] == 0]
        while stack:
            v = stack.pop()
            t = arrival[v]
            for dst, delay, routing in self.arcs.get(v, ()):
                if t is not None and (arrival[dst] is None or t + delay > arrival[dst]):
                    arrival[dst] = t + delay
                    pred[dst] = (v, routing)
                indeg[dst] -= 1
                if indeg[dst] == 0:
                    stack.append(dst)
        # (a combinational loop leaves its pins unvisited: nextpnr reports those itself; they get no arrival here)
        self.arrival, self.pred = arrival, pred
        return arrival, pred

    def paths(self) -> list:
        """The worst path into every setup check that some launch reaches, slowest first."""
        arrival, _ = self.analyse()
        out = []
        for node, setup in self.setup.items():
            if arrival[node] is None:
                continue
            period = (arrival[node] + setup) * self.unit_ps / 1e3
            instance = self.names[node].rsplit("/", 1)[0]
            out.append(TimingPath(period, self.names[node], stage_of(instance), self, node, setup))
        out.sort(key=lambda p: -p.period_ns)
        return out


def by_stage(paths: list, target_mhz: float | None = None) -> list:
    """One row per stage, slowest first: {stage, fmax_mhz, worst (TimingPath), endpoints, failing (endpoints slower
    than target_mhz)}."""
    rows = {}
    for p in paths:
        row = rows.setdefault(p.stage, {"stage": p.stage, "fmax_mhz": p.fmax_mhz, "worst": p, "endpoints": 0,
                                        "failing": 0})
        row["endpoints"] += 1
        if target_mhz and p.fmax_mhz < target_mhz:
            row["failing"] += 1
    return sorted(rows.values(), key=lambda r: r["fmax_mhz"])


def stage_report(sdf: Path, target_mhz: float | None = None) -> list:
    """JSON-ready rows of by_stage() for the build report: the stage, its Fmax, its slowest path's ends and split."""
    rows = []
    for r in by_stage(TimingGraph.read(sdf).paths(), target_mhz):
        w = r["worst"]
        rows.append({"stage": r["stage"], "fmax_mhz": round(r["fmax_mhz"], 2), "endpoints": r["endpoints"],
                     "failing": r["failing"], "from": w.startpoint, "to": w.endpoint,
                     "logic_ns": round(w.logic_ns, 2), "routing_ns": round(w.routing_ns, 2)})
    return rows
