"""ECP5 parts and boards as data (hw/boards/*.toml), and what the flow generates from them: the LPF pin constraints
and the top-level wrapper that puts an artifact's cf_accel behind the UART board top (hw/rtl/cf_board_top.v)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from convflow.hw import BOARDS_DIR
from convflow.hw.errors import ConvflowError


WRAPPER_TOP = "cf_top"

# The UART board top around every accelerator (cf_board_top and the modules of ecp5.BOARD_RTL), without its frame
# buffer (IN_ELEMS x WINDOW words of the input's bytes, priced as a RAM by the compiler's memory model:
# folding.board_top_resources): LUT4 sites (LUT4 + 2 per CCU2C; the LUT RAM of the meter's and the transmitter's
# small memories, 6 a TRELLIS_DPR16X4, included) and flip-flops as yosys 0.70 synth_ecp5 counts them, measured with
# a pass-through cf_accel (assign m_data = s_data; ...) and
#   chparam -set IN_BITS 8 -set OUT_BITS 16 -set IN_ELEMS 64 -set OUT_ELEMS 10 -set CLKS_PER_BIT 868
#           -set TIMEOUT_CLKS 10000000 -set BLINK_BIT 25 cf_board_top; synth_ecp5 -top cf_board_top; stat
# -> 801 LUT4 + 141 CCU2C + 40 TRELLIS_DPR16X4 = 1,323 sites, 588 TRELLIS_FF, 1 DP16KD (the 256 x 8 buffer of four
# frame slots).  (655 / 356 until the protocol-v2 board top, with its frame slots and cycle meter, came in; the
# figure had not been measured again, so every fit reserved 670 LUT4 too few.)  tests/test_folding.py re-measures it.
BOARD_TOP_LOGIC = {"lut": 1323, "ff": 588}


class TargetError(ConvflowError, ValueError):
    """A board, part, package, speed grade, clock or baud rate the flow cannot build for."""


UnknownTarget = TargetError


@dataclass(frozen=True)
class Part:
    name: str
    nextpnr: str                  # nextpnr-ecp5 device flag without dashes, e.g. "85k"
    packages: tuple
    speeds: tuple
    resources: dict               # LUT4, FF, EBR, MULT18X18D as sold (data sheet)


@dataclass(frozen=True)
class Pin:
    port: str
    site: str
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    part: str
    package: str
    speed: int
    io_type: str
    clock: Pin
    clock_mhz: float
    uart_tx: Pin                  # FPGA output
    uart_rx: Pin                  # FPGA input
    baud: int
    max_baud: int                 # the USB-serial bridge's top rate (FT231X: 3 Mbaud)
    reset: Pin | None
    reset_active_high: bool
    led_port: str | None
    led_sites: tuple
    led_attrs: dict
    programmer: str | None = None  # openFPGALoader's name for the board (-b), see hw/flows/flash.py


def parts() -> dict:
    data = tomllib.loads((BOARDS_DIR / "parts.toml").read_text())
    return {name: Part(name, d["nextpnr"], tuple(d["packages"]), tuple(d["speeds"]),
                       {"LUT4": d["lut4"], "FF": d["ff"], "EBR": d["ebr"], "MULT18X18D": d["mult18"]})
            for name, d in data.items()}


def part(name: str) -> Part:
    table = parts()
    key = name.upper()
    if key not in table:
        raise UnknownTarget(f"unknown ECP5 part {name!r}; known: {', '.join(table)}")
    return table[key]


def boards() -> list:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml") if p.stem != "parts")


def board(name_or_path) -> Board:
    """A board by name (hw/boards/<name>.toml) or by the path of a .toml file of the same shape."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = BOARDS_DIR / f"{name_or_path}.toml"
    if not p.is_file():
        raise UnknownTarget(f"unknown board {name_or_path!r}; known: {', '.join(boards())}")
    d = tomllib.loads(p.read_text())
    part(d["part"])               # validate
    pin = lambda t: Pin(t["port"], t["site"], {k: v for k, v in t.items() if k not in ("port", "site")})
    reset = d.get("reset")
    leds = d.get("leds", {})
    return Board(name=d["name"], description=d.get("description", ""), part=d["part"], package=d["package"],
                 speed=int(d.get("speed", 6)), io_type=d.get("io_type", "LVCMOS33"),
                 clock=pin(d["clock"]), clock_mhz=float(d["clock"]["mhz"]),
                 uart_tx=pin(d["uart"]["tx"]), uart_rx=pin(d["uart"]["rx"]), baud=int(d["uart"].get("baud", 115200)),
                 max_baud=int(d["uart"].get("max_baud", 3_000_000)),
                 reset=pin(reset) if reset else None, reset_active_high=bool(reset.get("active_high", True)) if reset
                 else True, led_port=leds.get("port"), led_sites=tuple(leds.get("sites", ())),
                 led_attrs={k: v for k, v in leds.items() if k not in ("port", "sites")},
                 programmer=d.get("programmer", {}).get("openfpgaloader"))


def _iobuf(port: str, io_type: str, attrs: dict, pull: str) -> str:
    extra = "".join(f" {k.upper()}={v}" for k, v in attrs.items() if k in ("drive", "slewrate"))
    return f'IOBUF PORT "{port}" PULLMODE={attrs.get("pullmode", pull)} IO_TYPE={io_type}{extra};'


def lpf(b: Board) -> str:
    """The LPF for the wrapper's ports on this board: every top-level port is located (nextpnr requires it)."""
    out = [f"# Pin constraints for {b.name} ({b.description}); generated by convflow.hw.flows.ecp5_board "
           f"from hw/boards/{b.name}.toml", "BLOCK RESETPATHS;", "BLOCK ASYNCPATHS;",
           f'LOCATE COMP "{b.clock.port}" SITE "{b.clock.site}";',
           _iobuf(b.clock.port, b.io_type, b.clock.attrs, "NONE"),
           f'FREQUENCY PORT "{b.clock.port}" {b.clock_mhz:g} MHZ;',
           f'LOCATE COMP "{b.uart_tx.port}" SITE "{b.uart_tx.site}";',
           _iobuf(b.uart_tx.port, b.io_type, b.uart_tx.attrs, "UP"),
           f'LOCATE COMP "{b.uart_rx.port}" SITE "{b.uart_rx.site}";',
           _iobuf(b.uart_rx.port, b.io_type, b.uart_rx.attrs, "UP")]
    if b.reset:
        out += [f'LOCATE COMP "{b.reset.port}" SITE "{b.reset.site}";',
                _iobuf(b.reset.port, b.io_type, b.reset.attrs, "DOWN" if b.reset_active_high else "UP")]
    for i, site in enumerate(b.led_sites):
        out += [f'LOCATE COMP "{b.led_port}[{i}]" SITE "{site}";',
                _iobuf(f"{b.led_port}[{i}]", b.io_type, b.led_attrs, "NONE")]
    return "\n".join(out) + "\n"


def wrapper(b: Board | None, params: dict, header: str, pll_module: str | None = None) -> str:
    """Verilog of module cf_top: the board's pins (or generic ports for a bare part) around cf_board_top."""
    assert b is not None or pll_module is None, "a PLL needs a board (a known oscillator)"
    plist = ",\n".join(f"        .{k}({v})" for k, v in params.items())
    if b is None:
        ports = ["input  wire       clk", "input  wire       rst_btn", "input  wire       uart_rx",
                 "output wire       uart_tx", "output wire [7:0] led"]
        clk_in, rst_expr, rx, tx, led_decl, led_conn = "clk", "rst_btn", "uart_rx", "uart_tx", "", "led"
    else:
        n_led = len(b.led_sites)
        ports = [f"input  wire {b.clock.port}", f"input  wire {b.uart_rx.port}", f"output wire {b.uart_tx.port}"]
        if b.reset:
            ports.append(f"input  wire {b.reset.port}")
        if n_led:
            ports.append(f"output wire [{n_led - 1}:0] {b.led_port}")
        clk_in, rx, tx = b.clock.port, b.uart_rx.port, b.uart_tx.port
        rst_expr = (b.reset.port if b.reset_active_high else f"!{b.reset.port}") if b.reset else "1'b0"
        led_decl = "    wire [7:0] leds;\n"
        led_conn = "leds"
        if n_led:
            led_decl += f"    assign {b.led_port} = leds[{min(n_led, 8) - 1}:0];\n"
    lines = [header, "`default_nettype none", f"module {WRAPPER_TOP} (", ",\n".join(f"    {p}" for p in ports), ");"]
    if pll_module:
        lines += ["    wire clk, locked;",
                  f"    {pll_module} u_pll (.clkin({clk_in}), .clkout0(clk), .locked(locked));"]
        rst_expr = f"({rst_expr}) || !locked"
    else:
        lines += ["    wire clk;", f"    assign clk = {clk_in};", "    wire locked = 1'b1;"]
    lines += [led_decl.rstrip("\n")] if led_decl else []
    lines += ["    cf_board_top #(", plist, "    ) u_board (",
              f"        .clk(clk), .rst_btn({rst_expr}), .uart_rx({rx}), .uart_tx({tx}), .led({led_conn})",
              "    );", "endmodule", "`default_nettype wire", ""]
    return "\n".join(lines)
