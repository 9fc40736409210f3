"""The open ECP5 flow: artifact -> yosys (synth_ecp5) -> nextpnr-ecp5 -> ecppack -> bitstream/top.bit + report.json.

The artifact's accelerator (rtl/accel.json + the Verilog it names, module cf_accel with valid/ready element streams)
is put behind the UART board top (hw/rtl/cf_board_top.v, protocol in docs/uart-protocol.md) by a generated wrapper
`cf_top` whose ports are the board's pins (hw/boards/<board>.toml -> LPF), or generic unconstrained ports for a bare
part.  Everything is built in a temporary directory inside the artifact and moved to bitstream/ only when the
bitstream exists (hw/safe_output.py), so a failed or interrupted build never leaves a half-written bitstream/
behind, and a bitstream/ folder holding files convflow did not write is never replaced (unless ``force``, which
still keeps them).  The artifact's RTL is read only through the manifest's record: every file yosys reads is a
recorded one, its copy checked against its sha256 (hw/integrity.py).

    report = build("artifacts/lenet", board="ulx3s-85f")
    report = build("artifacts/lenet", board=None, device="LFE5U-25F", package="CABGA256", clock_mhz=50)
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from convflow.hw import RTL_DIR, integrity, safe_output
from convflow.hw.console import progress
from convflow.hw.errors import ArtifactError, ConvflowError, DesignDoesNotFit, IntegrityError, OutputRefused, \
    ToolFailed
from convflow.hw.flows import ecp5_board, timing, tools
from convflow.hw.flows.ecp5_protocol import PROTOCOL_VERSION

BOARD_RTL = ["cf_crc16.v", "cf_uart_rx.v", "cf_uart_tx.v", "cf_frame_rx.v", "cf_frame_tx.v", "cf_fifo.v",
             "cf_board_top.v"]
REPORT_VERSION = 1
DEFAULT_WINDOW = 4       # frame slots of the board top: INFERs in flight
RESOURCE_CELLS = {"LUT4": "TRELLIS_COMB", "FF": "TRELLIS_FF", "MULT18X18D": "MULT18X18D", "EBR": "DP16KD"}
ACCEL_KEYS = ("top", "in_bits", "in_signed", "out_bits", "out_signed", "in_elems", "out_elems", "files")
# cf_uart_rx samples each bit in its middle: it needs at least this many clocks per bit (hw/rtl/cf_uart_rx.v)
UART_MIN_CLKS_PER_BIT = 4
# the ECP5 sysCLOCK PLL's highest output (CLKOP, Lattice DS1044): no design clock beyond it
ECP5_MAX_CLOCK_MHZ = 400.0
# nextpnr's router, by how full the part is (yosys's LUT4 count before place and route).  router1 gives the better
# Fmax on a roomy design (cnn-digits at 9 % of the 85F: 105.7 MHz against router2's 93.6 MHz) but stalls on a full
# one: on LeNet folded to fit the 85F (64 % of its LUT4) it still had 131k arcs to route after 23 min, on CNV 2W2A
# (88 %) 226k after 20 min, where router2 finishes.
ROUTERS = ("router1", "router2")
ROUTER2_FROM_LUT_SHARE = 0.5
ECP5_PLL_MIN_MHZ = 3.125
# what a build writes into bitstream/ (and the logs a failed one keeps in bitstream.failed-logs/)
BITSTREAM_FILES = ("top.bit", "cf_top.v", "top.lpf", "pll.v", "synth.ys", "stat.json", "pnr_report.json",
                   "yosys.log", "nextpnr.log", "ecppack.log", "ecppll.log", "report.json")
LOG_FILES = ("yosys.log", "nextpnr.log", "ecppll.log", "ecppack.log", "top.lpf", "cf_top.v", "synth.ys")


def _bitstream_entries(folder: Path):
    """A bitstream folder of ours: report.json written by this flow, and only the files it writes."""
    report = safe_output._read_json(Path(folder) / "report.json")
    if not isinstance(report, dict) or "format_version" not in report or "flow" not in report:
        return None
    return set(BITSTREAM_FILES)


def _log_entries(folder: Path):
    names = set(os.listdir(folder))
    return set(LOG_FILES) if names and names <= set(LOG_FILES) else None


BITSTREAM = safe_output.Kind("a convflow bitstream folder", _bitstream_entries, marker="report.json")
FAILED_LOGS = safe_output.Kind("a convflow build's failed logs", _log_entries)


def read_manifest(artifact: Path) -> dict:
    try:
        return json.loads((artifact / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def rtl_dir(artifact: Path) -> Path:
    """The artifact's RTL folder: manifest["sources"]["rtl"] when the manifest names one, else rtl/."""
    sources = read_manifest(artifact).get("sources") or {}
    rel = sources.get("rtl") if isinstance(sources, dict) else None
    return artifact / (rel if isinstance(rel, str) else "rtl")


def _rtl_record(artifact: Path) -> tuple:
    """(rtl folder name, {file name in it: sha256}) from the manifest's record."""
    record = integrity.artifact_record(artifact)
    rel = rtl_dir(artifact).relative_to(artifact).as_posix()
    integrity.check_name(rel, str(artifact / "manifest.json"))
    return rel, {name[len(rel) + 1:]: digest for name, digest in integrity.under(record, rel).items()}


def read_accel(artifact: Path) -> dict:
    """rtl/accel.json, checked: the contract between the RTL emitter and this flow.  accel.json and every file it
    names must be recorded in the manifest with a matching sha256, by a plain name inside rtl/ (never a path out of
    the artifact); no message quotes a file's content."""
    artifact = Path(artifact)
    path = rtl_dir(artifact) / "accel.json"
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: the artifact has no RTL (run `convflow compile` with the RTL "
                            f"backend first)")
    rel, recorded = _rtl_record(artifact)
    if "accel.json" not in recorded:
        raise IntegrityError(f"{path} is not recorded in the manifest; recompile the model")
    integrity.check_file(artifact, f"{rel}/accel.json", recorded["accel.json"], str(artifact))
    try:
        spec = json.loads(path.read_bytes())
    except ValueError:
        raise ArtifactError(f"{path} is not valid JSON; recompile the model") from None
    if not isinstance(spec, dict):
        raise ArtifactError(f"{path} is not a JSON object; recompile the model")
    missing = [k for k in ACCEL_KEYS if k not in spec]
    if missing:
        raise ArtifactError(f"{path} lacks {', '.join(missing)}")
    if spec["top"] != "cf_accel":
        raise ArtifactError(f"{path}: top is not 'cf_accel'; the board top instantiates module cf_accel")
    if not isinstance(spec["files"], list) or not isinstance(spec.get("hex_files", []), list):
        raise ArtifactError(f"{path}: files and hex_files must be lists of file names")
    for k in ("in_bits", "out_bits", "in_elems", "out_elems"):
        if not isinstance(spec[k], int) or spec[k] < 1:
            raise ArtifactError(f"{path}: {k} must be a positive integer, not {spec[k]!r}")
    if spec["in_elems"] * ((spec["in_bits"] + 7) // 8) > 0xFFFF or spec["out_elems"] * ((spec["out_bits"] + 7) // 8) > 0xFFFF:
        raise ArtifactError(f"{path}: a frame of more than 65535 bytes does not fit the UART protocol's length field")
    for f in list(spec["files"]) + list(spec.get("hex_files", [])):
        integrity.check_name(f, str(path))
        if "/" in f:
            raise IntegrityError(f"{path} names {f!r}, which is not a file of {path.parent.name}/ itself")
        if f not in recorded:
            raise ArtifactError(f"{path} names {f}, which is not recorded in the manifest (missing from "
                                f"{path.parent})")
        integrity.check_file(artifact, f"{rel}/{f}", recorded[f], str(artifact))
    spec["recorded"] = {f: recorded[f] for f in list(spec["files"]) + list(spec.get("hex_files", []))}
    spec["rtl_rel"] = rel
    return spec


def uart_clks_per_bit(clk_mhz: float, baud: int, max_baud: int | None = None) -> int:
    """Clocks per UART bit for ``baud`` at ``clk_mhz``, held to within 2 % of the asked rate (the receiver samples in
    the middle of each bit, so sender and receiver may drift apart by a few percent over the 10 bits of a byte).
    At the ULX3S's 25 MHz: 115200 baud -> 217 (+0.01 %), 1 Mbaud -> 25 (exact), 1.5 Mbaud -> 17 (-2.0 %); 2 and
    3 Mbaud do not fit (12 or 13 clocks: +4.2 % / -3.8 %; 8: +4.2 %).  3 Mbaud, the FT231X's top rate, needs a
    design clock that is a multiple of 3 MHz (clock_mhz=48 -> 16, 75 -> 25)."""
    if max_baud and baud > max_baud:
        raise ecp5_board.TargetError(f"{baud} baud is above the board's USB-serial bridge ({max_baud} baud at most)")
    clks_per_bit = round(clk_mhz * 1e6 / baud)
    if clks_per_bit < UART_MIN_CLKS_PER_BIT or abs(clk_mhz * 1e6 / clks_per_bit - baud) / baud > 0.02:
        raise ecp5_board.TargetError(f"{baud} baud cannot be made from a {clk_mhz:g} MHz clock within 2% "
                                     f"({clk_mhz * 1e6 / max(1, clks_per_bit):,.0f} baud with {clks_per_bit} clocks "
                                     "per bit); choose another baud (1000000 at 25 MHz) or a clock_mhz that is a "
                                     "multiple of it (48 or 75 MHz for 3000000)")
    return clks_per_bit


def design_id(artifact: Path) -> int:
    """32-bit id the board reports in its INFO frame: the first 4 bytes (little endian) of
    sha256(manifest.json + rtl/accel.json)."""
    h = hashlib.sha256()
    for p in (artifact / "manifest.json", rtl_dir(artifact) / "accel.json"):
        if p.is_file():
            h.update(p.read_bytes())
    return int.from_bytes(h.digest()[:4], "little")


def _target(board, device, package, speed):
    b = ecp5_board.board(board) if board else None
    if b is not None:
        if device and device.upper() != b.part:
            raise ecp5_board.UnknownTarget(f"board {b.name} carries an {b.part}, not {device}; pass board=None to "
                                           f"build for a bare {device}")
        dev, pkg, spd = b.part, package or b.package, speed or b.speed
    else:
        if not device:
            raise ecp5_board.UnknownTarget("give a board (e.g. 'ulx3s-85f') or a device (e.g. 'LFE5U-85F')")
        dev = device.upper()
        p = ecp5_board.part(dev)
        dev, pkg, spd = p.name, package or ("CABGA381" if "CABGA381" in p.packages else p.packages[0]), speed or p.speeds[0]
    p = ecp5_board.part(dev)
    if pkg.upper() not in p.packages:
        raise ecp5_board.UnknownTarget(f"{dev} does not come in package {pkg}; it comes in {', '.join(p.packages)}")
    if spd not in p.speeds:
        raise ecp5_board.UnknownTarget(f"{dev} has speed grades {p.speeds}, not {spd}")
    return b, p, pkg.upper(), spd


def _pll(build_dir: Path, in_mhz: float, out_mhz: float) -> float:
    """Write pll.v (module cf_pll) with ecppll; returns the frequency it achieves."""
    tools.run("ecppll", ["-n", "cf_pll", "-i", f"{in_mhz:g}", "-o", f"{out_mhz:g}", "-f", "pll.v"], build_dir,
              "ecppll.log")
    text = (build_dir / "ecppll.log").read_text() + (build_dir / "pll.v").read_text()
    m = re.search(r"clkout0 frequency:\s*([0-9.]+)", text, re.I) or re.search(r"achieved[^0-9]*([0-9.]+)", text, re.I)
    return float(m.group(1)) if m else out_mhz


# LUT4 sites a yosys ECP5 cell takes: a CCU2C carry cell two, a distributed RAM TRELLIS_DPR16X4 six (four RAM + two
# write-port LUTs); PFUMX / L6MUX21 use none of their own
LUT_SITES = {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 6}


def yosys_resources(cells: dict) -> dict:
    """Resources nextpnr will need at least, from yosys's cell counts by type.  The LUT4 figure equals nextpnr's
    "Total LUT4s" before packing, which packing then raises by a few to 20 % (route-through LUTs)."""
    return {"LUT4": sum(n * cells.get(kind, 0) for kind, n in LUT_SITES.items()),
            "FF": cells.get("TRELLIS_FF", 0), "MULT18X18D": cells.get("MULT18X18D", 0),
            "EBR": cells.get("DP16KD", 0)}


def choose_router(lut4_used: int, lut4_available: int, asked: str | None = None) -> str:
    """The router asked for, or router2 for a design that takes ROUTER2_FROM_LUT_SHARE of the part's LUT4 or more."""
    if asked is not None:
        return asked
    return "router2" if lut4_used >= ROUTER2_FROM_LUT_SHARE * lut4_available else "router1"


def _check_fit(used: dict, available: dict, target: str, stage: str):
    over = {k: (used[k], available[k]) for k in used if k in available and used[k] > available[k]}
    if over:
        detail = "; ".join(f"{k} {u} > {a} ({100 * u / a:.0f}%)" for k, (u, a) in over.items())
        raise DesignDoesNotFit(f"design does not fit {target} ({stage}): {detail}; fold the layers further "
                               f"(fewer PE/SIMD) or target a larger part")


def _nextpnr_utilisation(log: Path) -> dict:
    util = {}
    for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log.read_text(errors="replace")):
        util[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    return util


def build(artifact_dir, board: str | None = "ulx3s-85f", device: str | None = None, package: str | None = None,
          clock_mhz: float | None = None, hard_clock: bool = False, out=None, speed: int | None = None,
          baud: int | None = None, seed: int | None = None, keep_build: bool = False,
          window: int = DEFAULT_WINDOW, force: bool = False, router: str | None = None) -> dict:
    """Build a bitstream for the artifact; return (and write to <out>/report.json) the report.

    board: a name from hw/boards (or a .toml path), or None for a bare `device` (+ `package`, `speed`).
    clock_mhz: the design clock; on a board a value other than its oscillator adds a PLL (ecppll); default: the
      board's oscillator, or 25 MHz on a bare part.  hard_clock: fail (ToolFailed) if timing is not met, instead of
      reporting the achieved Fmax.  out: where the bitstream directory goes (default <artifact>/bitstream); a
      folder there holding files convflow did not write is refused unless ``force`` (hw/safe_output.py).
    baud: the UART rate (default: the board's); window: frame slots of the board top (INFERs in flight).
    router: nextpnr's router1 or router2; default: router2 when the design takes at least half the part's LUT4
      (ROUTER2_FROM_LUT_SHARE), else router1.
    Raises ArtifactError, ToolMissing, ToolFailed (naming the log), DesignDoesNotFit (with the numbers)."""
    artifact = Path(artifact_dir).resolve()
    spec = read_accel(artifact)
    b, p, pkg, spd = _target(board, device, package, speed)
    out = Path(out).resolve() if out else artifact / "bitstream"
    if clock_mhz is not None and not 0 < clock_mhz <= ECP5_MAX_CLOCK_MHZ:
        raise ecp5_board.TargetError(f"clock_mhz {clock_mhz:g}: an ECP5 design clock lies above 0 and at most "
                                     f"{ECP5_MAX_CLOCK_MHZ:g} MHz (the PLL's highest output)")
    if router is not None and router not in ROUTERS:
        raise ecp5_board.TargetError(f"router {router!r}: nextpnr-ecp5's routers are {' and '.join(ROUTERS)}")
    if baud is not None and baud <= 0:
        raise ecp5_board.TargetError(f"baud {baud}: give a positive UART baud rate (e.g. 115200)")
    target = safe_output.OutputTarget(out, BITSTREAM, force=force, option="bitstream folder")
    src_mhz = b.clock_mhz if b else (clock_mhz or 25.0)
    want_mhz = float(clock_mhz or src_mhz)
    baud = baud or (b.baud if b else 115200)
    if not 1 <= int(window) <= 255:
        raise ecp5_board.TargetError(f"window {window}: the board top has 1 to 255 frame slots (the INFO reply's "
                                     "window is one byte)")
    for t in ("yosys", "nextpnr-ecp5", "ecppack"):
        tools.find(t)                                   # ToolMissing before any work

    tmp = Path(tempfile.mkdtemp(prefix=".bitstream-build-", dir=artifact))
    times = {}
    t_start = time.monotonic()
    try:
        # ---- sources: board RTL, the artifact's RTL tree (hex files next to their sources and at the top) ----
        (tmp / "hw").mkdir()
        for f in BOARD_RTL:
            shutil.copy2(RTL_DIR / f, tmp / "hw" / f)
        # only the recorded files, each copy checked: nothing else of the artifact reaches yosys
        rel = spec["rtl_rel"]
        recorded = {f"{rel}/{f}": digest for f, digest in spec["recorded"].items()}
        integrity.copy_verified(artifact, recorded, tmp / "rtl", str(artifact), strip_prefix=rel + "/")
        for h in spec.get("hex_files", []):
            shutil.copy2(tmp / "rtl" / h, tmp / h)

        pll_module, clk_mhz = None, want_mhz
        if b is not None and abs(want_mhz - src_mhz) > 1e-6:
            clk_mhz = _pll(tmp, src_mhz, want_mhz)
            pll_module = "cf_pll"
        clks_per_bit = uart_clks_per_bit(clk_mhz, baud, b.max_baud if b else None)
        did = design_id(artifact)
        params = {"IN_BITS": spec["in_bits"], "IN_SIGNED": int(bool(spec["in_signed"])),
                  "OUT_BITS": spec["out_bits"], "OUT_SIGNED": int(bool(spec["out_signed"])),
                  "IN_ELEMS": spec["in_elems"], "OUT_ELEMS": spec["out_elems"], "WINDOW": window,
                  "CLKS_PER_BIT": clks_per_bit, "CLK_KHZ": round(clk_mhz * 1e3),
                  "TIMEOUT_CLKS": int(clk_mhz * 1e6 / 10), "POR_BITS": 16,
                  "BLINK_BIT": max(4, int(clk_mhz * 1e6).bit_length() - 2), "DESIGN_ID": f"32'h{did:08x}"}
        manifest = read_manifest(artifact)
        name = str(manifest.get("model") or manifest.get("name") or artifact.name)
        name = "".join(c if c.isprintable() else "?" for c in name)     # it lands in a Verilog // comment
        header = (f"// Generated by convflow.hw.flows.ecp5 for {b.name if b else p.name} from artifact "
                  f"{name or artifact.name} (design id {did:08x}); do not edit.")
        (tmp / "cf_top.v").write_text(ecp5_board.wrapper(b, params, header, pll_module))
        if b is not None:
            (tmp / "top.lpf").write_text(ecp5_board.lpf(b))

        # ---- synthesis ----
        mine = set(BOARD_RTL)
        srcs = [f"hw/{f}" for f in BOARD_RTL]
        srcs += [f"rtl/{f}" for f in spec["files"] if Path(f).name not in mine]
        srcs += ["cf_top.v"] + (["pll.v"] if pll_module else [])
        reads = "\n".join(f"read_verilog -defer {'-sv ' if s.endswith('.sv') else ''}-Irtl {s}" for s in srcs)
        (tmp / "synth.ys").write_text(f"{reads}\nsynth_ecp5 -top {ecp5_board.WRAPPER_TOP} -json top.json\n"
                                      f"tee -q -o stat.json stat -json\n")
        bar = progress(total=3, desc="bitstream: yosys", unit="step")
        r = tools.run("yosys", ["synth.ys"], tmp, "yosys.log")
        bar.update()
        times["synth"] = round(r.seconds, 2)
        stat = json.loads((tmp / "stat.json").read_text())
        estimate = yosys_resources(stat.get("design", {}).get("num_cells_by_type", {}))
        _check_fit(estimate, p.resources, f"{p.name}", "yosys cell counts, before place and route")

        # ---- place and route ----
        args = [f"--{p.nextpnr}", "--package", pkg, "--speed", str(spd), "--json", "top.json",
                "--textcfg", "top.config", "--report", "pnr_report.json", "--freq", f"{clk_mhz:g}",
                "--sdf", "top.sdf"]                        # the routed delays, for the timing of every stage
        if b is not None:
            args += ["--lpf", "top.lpf"]
        if not hard_clock:
            args += ["--timing-allow-fail"]
        if seed is not None:
            args += ["--seed", str(seed)]
        router = choose_router(estimate.get("LUT4", 0), p.resources["LUT4"], router)
        args += ["--router", router]
        bar.set_description("bitstream: nextpnr-ecp5 (place and route)")
        r = tools.run("nextpnr-ecp5", args, tmp, "nextpnr.log", check=False)
        bar.update()
        times["pnr"] = round(r.seconds, 2)
        util = _nextpnr_utilisation(tmp / "nextpnr.log")
        if r.returncode != 0:
            err = tools.last_error(tmp / "nextpnr.log")
            over = {k: v for k, v in util.items() if v["used"] > v["available"]}
            if over or re.search(r"no BELs remaining|Unable to place|failed to place", err, re.I):
                detail = "; ".join(f"{k} {v['used']} > {v['available']}" for k, v in over.items()) or err
                raise DesignDoesNotFit(f"design does not fit {p.name}-{pkg} (nextpnr): {detail}; see "
                                       f"{tmp / 'nextpnr.log'}")
            if hard_clock and re.search(r"FAIL|timing", err, re.I):
                fm = re.findall(r"Max frequency for clock\s+'([^']+)':\s*([0-9.]+) MHz \(FAIL", (tmp / "nextpnr.log").read_text())
                detail = ", ".join(f"{c}: {f} MHz" for c, f in dict(fm).items()) or err   # the last (routed) figure
                raise ToolFailed(f"timing not met at {clk_mhz:g} MHz ({detail}); lower clock_mhz or drop "
                                 f"hard_clock; see {tmp / 'nextpnr.log'}")
            raise ToolFailed(f"nextpnr-ecp5 failed (exit {r.returncode}): {err}; see {tmp / 'nextpnr.log'}")
        pnr = json.loads((tmp / "pnr_report.json").read_text())
        used = {k: pnr["utilization"].get(c, {}).get("used", 0) for k, c in RESOURCE_CELLS.items()}
        _check_fit(used, p.resources, p.name, "after place and route, against the part's sold resources")

        # ---- bitstream ----
        bar.set_description("bitstream: ecppack")
        r = tools.run("ecppack", ["--input", "top.config", "--bit", "top.bit"], tmp, "ecppack.log")
        bar.update()
        bar.close()
        times["pack"] = round(r.seconds, 2)
        times["total"] = round(time.monotonic() - t_start, 2)

        fmax = {clk: {"achieved_mhz": round(v["achieved"], 2), "constraint_mhz": round(v["constraint"], 2)}
                for clk, v in pnr.get("fmax", {}).items()}
        by_stage = timing.stage_report(tmp / "top.sdf", clk_mhz) if (tmp / "top.sdf").is_file() else []
        achieved = min((v["achieved_mhz"] for v in fmax.values()), default=None)
        resources = {}
        for k, c in RESOURCE_CELLS.items():
            avail = min(p.resources[k], pnr["utilization"].get(c, {}).get("available", p.resources[k]))
            resources[k] = {"used": used[k], "available": avail, "percent": round(100 * used[k] / avail, 2)}
        io = pnr["utilization"].get("TRELLIS_IO", {})
        resources["IO"] = {"used": io.get("used", 0), "available": io.get("available", 0)}
        report = {
            "format_version": REPORT_VERSION,
            "flow": "ecp5-open (yosys synth_ecp5, nextpnr-ecp5, ecppack)",
            "artifact": name or artifact.name,
            "design_id": f"{did:08x}",
            "board": b.name if b else None,
            "device": p.name, "package": pkg, "speed": spd,
            "top": ecp5_board.WRAPPER_TOP,
            "accel": {k: spec[k] for k in ("in_bits", "in_signed", "out_bits", "out_signed", "in_elems", "out_elems")},
            "clock": {"source_mhz": src_mhz, "target_mhz": want_mhz, "design_mhz": clk_mhz, "pll": bool(pll_module),
                      "fmax_mhz": achieved, "timing_met": achieved is not None and achieved >= clk_mhz,
                      "hard_clock": hard_clock, "clocks": fmax, "router": router},
            # the slowest path into each stage of the accelerator (and the board top), slowest first
            "timing_by_stage": by_stage,
            "uart": {"baud": baud, "clks_per_bit": clks_per_bit,
                     "actual_baud": round(clk_mhz * 1e6 / clks_per_bit, 1),
                     "protocol_version": PROTOCOL_VERSION, "window": window},
            "resources": resources,
            "yosys_cells": stat.get("design", {}).get("num_cells_by_type", {}),
            "yosys_estimate": estimate,
            "nextpnr_utilisation": {k: v for k, v in util.items() if v["used"]},
            "times_s": times,
            "tools": {t: tools.version(t) for t in ("yosys", "nextpnr-ecp5", "ecppack")},
            "files": {"bitstream": "top.bit", "wrapper": "cf_top.v", "lpf": "top.lpf" if b else None,
                      "logs": ["yosys.log", "nextpnr.log", "ecppack.log"]},
            "bitstream_bytes": (tmp / "top.bit").stat().st_size,
        }
        # ---- move into place ----
        staging = target.stage()
        try:
            for f in BITSTREAM_FILES:
                if (tmp / f).is_file():
                    shutil.copy2(tmp / f, staging / f)
            (staging / "report.json").write_text(json.dumps(report, indent=1) + "\n")
            target.publish(staging)
        except BaseException as exc:
            raise target.abandon(staging, exc)
        _drop_failed_logs(out)                         # from an earlier failed build
        return report
    except ConvflowError as e:
        logs = _keep_logs(tmp, out)
        if logs is None:
            raise
        raise type(e)(str(e).replace(str(tmp), str(logs))) from None
    finally:
        if not keep_build:
            shutil.rmtree(tmp, ignore_errors=True)


def _keep_logs(tmp: Path, out: Path) -> Path | None:
    """On a failure after a tool ran, leave the logs (only the logs) in <out>.failed-logs next to where the bitstream
    directory would be; <out> itself is not touched.  None if no tool had run, or if that folder holds something
    convflow did not write (it is never replaced)."""
    names = [f for f in ("yosys.log", "nextpnr.log", "ecppll.log", "ecppack.log") if (tmp / f).is_file()]
    if not names:
        return None
    logs = out.parent / f"{out.name}.failed-logs"
    try:
        target = safe_output.OutputTarget(logs, FAILED_LOGS, option="log folder")
        staging = target.stage()
    except (OutputRefused, ConvflowError):
        return None
    try:
        for f in LOG_FILES:
            if (tmp / f).is_file():
                shutil.copy2(tmp / f, staging / f)
        target.publish(staging)
    except BaseException as exc:
        raise target.abandon(staging, exc)
    return logs


def _drop_failed_logs(out: Path) -> None:
    """Remove <out>.failed-logs of an earlier failed build, if it holds only the logs convflow writes."""
    logs = out.parent / f"{out.name}.failed-logs"
    if logs.is_dir() and not logs.is_symlink() and _log_entries(logs) is not None:
        shutil.rmtree(logs, ignore_errors=True)
