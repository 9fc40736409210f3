"""The open ECP5 flow (convflow.hw.flows.ecp5): board data, target checks, failure modes, and real bitstreams.

The default run builds one small bitstream (the board top + the test fixture accelerator of tests/accel_fixture.py), ~15-40 s
once the YoWASP tools are compiled (their first run compiles WebAssembly for ~1 min each, cached afterwards)."""
import json
import re

import pytest

import accel_fixture
from convflow.hw.errors import ArtifactError, DesignDoesNotFit, ToolFailed, ToolMissing
from convflow.hw.flows import ecp5, ecp5_board, tools


# ---- board and part data -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ulx3s-85f", "ulx3s-45f", "ulx3s-25f", "ulx3s-12f"])
def test_board_lpf_constrains_every_port(name):
    b = ecp5_board.board(name)
    p = ecp5_board.part(b.part)
    assert b.package in p.packages and b.clock.site == "G2" and b.clock_mhz == 25
    assert (b.uart_tx.port, b.uart_tx.site, b.uart_rx.port, b.uart_rx.site) == ("ftdi_rxd", "L4", "ftdi_txd", "M1")
    lpf = ecp5_board.lpf(b)
    located = set(re.findall(r'LOCATE COMP "([^"]+)"', lpf))
    top = ecp5_board.wrapper(b, {"IN_BITS": 8}, "// test")
    ports = set()
    for kind, rng, port in re.findall(r"^\s*(input|output)\s+wire\s*(\[\d+:0\])?\s*(\w+)", top, re.M):
        n = int(rng[1:].split(":")[0]) + 1 if rng else 0
        ports |= {f"{port}[{i}]" for i in range(n)} if n else {port}
    assert ports == located
    # the shipped .lpf is exactly what the flow generates
    assert (ecp5_board.BOARDS_DIR / f"{name}.lpf").read_text() == lpf


def test_part_resources():
    assert ecp5_board.part("LFE5U-85F").resources == {"LUT4": 83640, "FF": 83640, "EBR": 208, "MULT18X18D": 156}
    assert ecp5_board.part("lfe5u-12f").resources["MULT18X18D"] == 28


def test_target_errors(tmp_path):
    accel_fixture.write_test_artifact(tmp_path)
    with pytest.raises(ecp5_board.UnknownTarget, match="unknown board"):
        ecp5.build(tmp_path, board="nosuchboard")
    with pytest.raises(ecp5_board.UnknownTarget, match="carries an LFE5U-85F"):
        ecp5.build(tmp_path, board="ulx3s-85f", device="LFE5U-25F")
    with pytest.raises(ecp5_board.UnknownTarget, match="package"):
        ecp5.build(tmp_path, board=None, device="LFE5U-85F", package="TQFP144")
    with pytest.raises(ecp5_board.UnknownTarget, match="unknown ECP5 part"):
        ecp5.build(tmp_path, board=None, device="LFE5U-99F")
    with pytest.raises(ecp5_board.TargetError, match="baud"):
        ecp5.build(tmp_path, board=None, device="LFE5U-25F", clock_mhz=0.3)
    with pytest.raises(ecp5_board.TargetError, match="router 'router3'.*router1 and router2"):
        ecp5.build(tmp_path, router="router3")
    assert not list(tmp_path.glob("*bitstream*"))


def test_router_by_how_full_the_part_is():
    """router1 (the better Fmax) on a roomy design, router2 from half the part's LUT4 (router1 stalls there), and
    the one asked for whatever the size."""
    assert ecp5.choose_router(7_633, 83_640) == "router1"
    assert ecp5.choose_router(41_819, 83_640) == "router1"
    assert ecp5.choose_router(41_820, 83_640) == "router2"
    assert ecp5.choose_router(73_895, 83_640) == "router2"
    assert ecp5.choose_router(73_895, 83_640, "router1") == "router1"
    assert ecp5.choose_router(10, 83_640, "router2") == "router2"


def test_uart_rates_at_board_clocks():
    """CLKS_PER_BIT at the ULX3S's 25 MHz and at PLL clocks: within 2 % of the asked rate, or refused."""
    assert ecp5.uart_clks_per_bit(25.0, 115200) == 217
    assert ecp5.uart_clks_per_bit(25.0, 1_000_000) == 25
    assert ecp5.uart_clks_per_bit(25.0, 1_500_000) == 17                 # -2.0 %
    assert ecp5.uart_clks_per_bit(48.0, 3_000_000) == 16
    assert ecp5.uart_clks_per_bit(75.0, 3_000_000) == 25
    for baud in (2_000_000, 3_000_000):                                   # 12 / 8 clocks: +4.2 %
        with pytest.raises(ecp5_board.TargetError, match="within 2%"):
            ecp5.uart_clks_per_bit(25.0, baud)
    with pytest.raises(ecp5_board.TargetError, match="3000000 baud at most"):
        ecp5.uart_clks_per_bit(48.0, 4_000_000, ecp5_board.board("ulx3s-85f").max_baud)


def test_artifact_errors(tmp_path):
    with pytest.raises(ArtifactError, match="accel.json"):
        ecp5.build(tmp_path)
    accel_fixture.write_test_artifact(tmp_path)
    spec = json.loads((tmp_path / "rtl" / "accel.json").read_text())
    spec["files"].append("missing.v")
    (tmp_path / "rtl" / "accel.json").write_text(json.dumps(spec))
    accel_fixture.write_manifest(tmp_path, "missing-file")
    with pytest.raises(ArtifactError, match="missing.v"):
        ecp5.build(tmp_path)


def test_tool_missing(tmp_path, monkeypatch):
    accel_fixture.write_test_artifact(tmp_path)
    monkeypatch.setitem(tools.TOOLS, "nextpnr-ecp5", ("yowasp-no-such-tool", "no-such-tool", "--version"))
    with pytest.raises(ToolMissing, match="no-such-tool"):
        ecp5.build(tmp_path)
    assert not list(tmp_path.glob("*bitstream*"))


# ---- real tool runs ------------------------------------------------------------------------------------------

def _big_multiplier_artifact(path, n=30):
    """A cf_accel with n parallel 16x16 products (n MULT18X18D): more multipliers than an LFE5U-12F has (28)."""
    rtl = path / "rtl"
    rtl.mkdir(parents=True)
    taps = "\n".join(f"            t{i} <= t{i - 1};" for i in range(1, n + 1))
    regs = ", ".join(f"t{i}" for i in range(n + 1))
    prods = " + ".join(f"$signed(t{i}) * $signed(t{i + 1})" for i in range(n))
    (rtl / "cf_accel.v").write_text(f"""// TEST FIXTURE: too many multipliers for a small part
module cf_accel (input wire clk, input wire rst, input wire [15:0] s_data, input wire s_valid, output wire s_ready,
                 output reg [39:0] m_data, output reg m_valid, input wire m_ready);
    reg signed [15:0] {regs};
    assign s_ready = m_ready;
    always @(posedge clk) begin
        m_valid <= s_valid && !rst;
        if (s_valid && s_ready) begin
            t0 <= s_data;
{taps}
        end
        m_data <= {prods};
    end
endmodule
""")
    (rtl / "accel.json").write_text(json.dumps({"top": "cf_accel", "in_bits": 16, "in_signed": True, "out_bits": 40,
                                                "out_signed": True, "in_elems": 4, "out_elems": 4,
                                                "files": ["cf_accel.v"], "hex_files": []}))
    accel_fixture.write_manifest(path, "big-multiplier")


def test_design_does_not_fit_says_numbers(tmp_path):
    _big_multiplier_artifact(tmp_path)
    with pytest.raises(DesignDoesNotFit, match=r"LFE5U-12F.*MULT18X18D 30 > 28"):
        ecp5.build(tmp_path, board="ulx3s-12f")
    assert not (tmp_path / "bitstream").exists()
    assert (tmp_path / "bitstream.failed-logs" / "yosys.log").is_file()
    assert not list(tmp_path.glob(".bitstream-build-*"))


def _check_report(rep, art, board, device):
    out = art / "bitstream"
    assert json.loads((out / "report.json").read_text()) == rep
    bit = (out / "top.bit").read_bytes()
    assert len(bit) > 100_000 and b"\xff\xff\xbd\xb3" in bit[:512]       # ECP5 bitstream preamble
    assert rep["bitstream_bytes"] == len(bit)
    assert rep["board"] == board and rep["device"] == device
    for k in ("LUT4", "FF", "MULT18X18D", "EBR"):
        r = rep["resources"][k]
        assert 0 <= r["used"] <= r["available"] and r["available"] == ecp5_board.part(device).resources[k]
    assert rep["resources"]["LUT4"]["used"] > 50 and rep["resources"]["FF"]["used"] > 50
    assert rep["clock"]["fmax_mhz"] > 0
    # the timing of every stage, from the routed delays: its slowest stage is nextpnr's own Fmax
    stages = rep["timing_by_stage"]
    assert stages and stages[0]["fmax_mhz"] == min(s["fmax_mhz"] for s in stages)
    assert abs(stages[0]["fmax_mhz"] - rep["clock"]["fmax_mhz"]) <= 0.005 * rep["clock"]["fmax_mhz"], stages[0]
    assert all(s["endpoints"] > 0 and s["logic_ns"] > 0 for s in stages)
    assert set(rep["times_s"]) == {"synth", "pnr", "pack", "total"}
    assert set(rep["tools"]) == {"yosys", "nextpnr-ecp5", "ecppack"}
    for log in rep["files"]["logs"]:
        assert (out / log).is_file()
    assert "Max frequency" in (out / "nextpnr.log").read_text() and "Yosys" in (out / "yosys.log").read_text()
    assert not list(art.glob(".bitstream-build-*")) and not list(art.glob(".bitstream*"))


def test_bitstream_ulx3s(tmp_path):
    art = tmp_path / "art"
    spec = accel_fixture.write_test_artifact(art)
    rep = ecp5.build(art, board="ulx3s-85f")
    _check_report(rep, art, "ulx3s-85f", "LFE5U-85F")
    assert rep["accel"]["in_elems"] == spec["in_elems"] and rep["uart"]["clks_per_bit"] == 217
    assert rep["uart"]["protocol_version"] == 2 and rep["uart"]["window"] == ecp5.DEFAULT_WINDOW
    assert rep["clock"]["timing_met"] and rep["clock"]["design_mhz"] == 25
    assert rep["clock"]["router"] == "router1"                     # a small design: router1's better Fmax
    assert 'LOCATE COMP "ftdi_rxd" SITE "L4"' in (art / "bitstream" / "top.lpf").read_text()
    # and `convflow flash` with it: there is no board on this machine, so openFPGALoader cannot open its cable,
    # which must be one clear line naming the board and the cable (exit 2), not a traceback
    import shutil
    import subprocess
    import sys
    if shutil.which("openFPGALoader") is None:
        pytest.skip("openFPGALoader is not installed (.ci/setup installs Debian's openfpgaloader)")
    r = subprocess.run([sys.executable, "-m", "convflow.runtime.cli", "flash", str(art), "--board", "ulx3s-85f"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("convflow: error: no Radiona ULX3S") and "openFPGALoader -b ulx3s" in line, r.stderr
    assert "FT231X" in line and "Traceback" not in r.stderr


def test_build_cli_names_the_slowest_stages_when_the_clock_is_missed(tmp_path):
    """`convflow build` at a clock the design cannot make (and no --hard-clock): the bitstream, and one line more
    with the slowest stages of the plan, from the routed delays (a one-layer model: seconds of place and route)."""
    import subprocess
    import sys

    import onnx
    from qonnx_builders import tiny_dense_model
    cli = [sys.executable, "-m", "convflow.runtime.cli"]
    onnx.save(tiny_dense_model(seed=4), str(tmp_path / "tiny.onnx"))
    art = tmp_path / "art"
    r = subprocess.run(cli + ["compile", str(tmp_path / "tiny.onnx"), "-o", str(art), "-q"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(cli + ["build", str(art), "--device", "LFE5U-25F", "--clock-mhz", "400"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    first, second = r.stdout.strip().splitlines()[-2:]
    assert "NOT met" in first
    stage = r"(board top|[A-Za-z0-9_]+)"
    one = stage + r" [0-9.]+ MHz \([0-9.]+ ns logic, [0-9.]+ ns routing\)"
    assert re.fullmatch(rf"slowest stages: {one}(, {one}){{0,2}}", second), second
    report = json.loads((art / "bitstream" / "report.json").read_text())
    rows = report["timing_by_stage"]
    assert any(row["stage"].startswith("u_s") and "MatMul" in row["stage"] for row in rows), rows
    assert f" {rows[0]['fmax_mhz']} MHz" in second
    assert abs(rows[0]["fmax_mhz"] - report["clock"]["fmax_mhz"]) <= 0.005 * report["clock"]["fmax_mhz"]


def test_bitstream_folder_of_the_users_is_never_replaced(tmp_path):
    """A bitstream/ folder holding a file convflow did not write is refused before any tool runs (nothing deleted)."""
    from convflow.hw.errors import OutputRefused
    accel_fixture.write_test_artifact(tmp_path)
    (tmp_path / "bitstream").mkdir()
    (tmp_path / "bitstream" / "notes.txt").write_text("mine")
    with pytest.raises(OutputRefused, match="notes.txt"):
        ecp5.build(tmp_path)
    assert (tmp_path / "bitstream" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bitstream", "manifest.json", "rtl"]


@pytest.mark.bitstream
def test_bitstream_bare_device_and_pll(tmp_path):
    art = tmp_path / "art"
    accel_fixture.write_test_artifact(art)
    rep = ecp5.build(art, board=None, device="LFE5U-25F", package="CABGA256", clock_mhz=40)
    _check_report(rep, art, None, "LFE5U-25F")
    assert rep["clock"]["target_mhz"] == 40 and not rep["clock"]["pll"]
    rep = ecp5.build(art, board="ulx3s-45f", clock_mhz=50)
    _check_report(rep, art, "ulx3s-45f", "LFE5U-45F")
    assert rep["clock"]["pll"] and rep["clock"]["design_mhz"] == 50 and rep["uart"]["clks_per_bit"] == 434


@pytest.mark.bitstream
def test_hard_clock_failure_names_fmax(tmp_path):
    art = tmp_path / "art"
    accel_fixture.write_test_artifact(art)
    with pytest.raises(ToolFailed, match=r"timing not met at 400 MHz .*MHz"):
        ecp5.build(art, board=None, device="LFE5U-25F", clock_mhz=400, hard_clock=True)
    assert not (art / "bitstream").exists()


@pytest.mark.bitstream
def test_bitstream_generated_lenet(tmp_path):
    """A real design from the RTL emitter (a small LeNet-like graph) through the whole flow."""
    from rtl import rtl_graphs
    from convflow.compiler.emit.rtl import write_rtl
    art = tmp_path / "art"
    write_rtl(rtl_graphs.lenet(size=8, c1=4, c2=4), art / "rtl")
    accel_fixture.write_manifest(art, "lenet8-test")
    rep = ecp5.build(art, board="ulx3s-85f")
    _check_report(rep, art, "ulx3s-85f", "LFE5U-85F")
    assert rep["resources"]["LUT4"]["used"] > 1000


@pytest.mark.bitstream
def test_nextpnr_overflow_is_design_does_not_fit(tmp_path, monkeypatch):
    """With the yosys pre-check out of the way, nextpnr's own overflow is reported as DesignDoesNotFit too."""
    _big_multiplier_artifact(tmp_path)
    real, calls = ecp5._check_fit, []

    def skip_yosys_check(*args):
        calls.append(args)
        if len(calls) > 1:
            real(*args)
    monkeypatch.setattr(ecp5, "_check_fit", skip_yosys_check)
    with pytest.raises(DesignDoesNotFit, match=r"\(nextpnr\): MULT18X18D 30 > 28"):
        ecp5.build(tmp_path, board=None, device="LFE5U-25F")
    assert not (tmp_path / "bitstream").exists()
