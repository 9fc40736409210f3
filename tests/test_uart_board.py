"""The board top (UART + framing + frame buffer + cf_accel) under Verilator, driven at the UART bit level.

The accelerator here is the test fixture of tests/board/accel_fixture.py (group sums with random stalls): what is
under test is the board top's protocol, not an accelerator."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "board"))
import accel_fixture  # noqa: E402
import sim  # noqa: E402

from convflow.hw.flows import ecp5_protocol as P  # noqa: E402

CPB = 8            # clocks per UART bit in simulation
TIMEOUT = 4000     # clocks of silence that abort a frame


class Board:
    def __init__(self, tmp, objdir, prefix, **kw):
        self.dir = tmp
        self.spec = accel_fixture.write_test_artifact(tmp / "art", **kw)
        self.exe = sim.build(tmp / "art" / "rtl", self.spec, tmp, cpb=CPB, timeout_clks=TIMEOUT, design_id=0xC0FFEE42,
                             prefix=prefix, objdir=objdir)

    def run(self, script):
        return P.FrameParser().feed(sim.run(self.exe, script, self.dir, cpb=CPB))

    def frame_len(self, n_payload):
        return P.HEADER + n_payload + P.TRAILER

    def result_len(self):
        return self.frame_len(self.spec["out_elems"] * P.elem_bytes(self.spec["out_bits"]))

    def infer(self, x):
        return P.infer_frame(x, self.spec["in_bits"], self.spec["in_signed"])

    def decode(self, frame):
        assert frame.ftype == P.T_RESULT, frame
        return P.unpack_elements(frame.payload, self.spec["out_bits"], self.spec["out_signed"])

    def random_input(self, rng):
        b, s = self.spec["in_bits"], self.spec["in_signed"]
        lo, hi = (-(1 << (b - 1)), 1 << (b - 1)) if s else (0, 1 << b)
        return rng.integers(lo, hi, self.spec["in_elems"])


@pytest.fixture(scope="module")
def objdir(tmp_path_factory):
    return tmp_path_factory.mktemp("verilator")


@pytest.fixture(scope="module")
def board(tmp_path_factory, objdir):
    return Board(tmp_path_factory.mktemp("board8"), objdir, "Vboard8")


@pytest.fixture(scope="module")
def board_wide(tmp_path_factory, objdir):
    """Multi-byte elements: 12-bit unsigned inputs (2 bytes), 20-bit unsigned outputs (3 bytes)."""
    return Board(tmp_path_factory.mktemp("board12"), objdir, "Vboard12", in_bits=12, in_signed=False, out_bits=20, out_signed=False,
                 in_elems=6, out_elems=2)


def test_info_frame(board):
    frames = board.run(sim.send(P.info_frame()) + f"expect {board.frame_len(20)}\n")
    assert [f.ftype for f in frames] == [P.T_INFO_REPLY]
    info = P.decode_info(frames[0].payload)
    s = board.spec
    assert (info.version, info.in_bits, info.in_signed, info.out_bits, info.out_signed, info.in_elems,
            info.out_elems, info.design_id) == (1, s["in_bits"], s["in_signed"], s["out_bits"], s["out_signed"],
                                                s["in_elems"], s["out_elems"], 0xC0FFEE42)


def test_frames_match_model(board):
    rng = np.random.default_rng(1)
    xs = [board.random_input(rng) for _ in range(4)]
    xs[0][:] = -128                                      # extremes
    xs[1][:] = 127
    script, n = "", 0
    for x in xs:                                         # stop-and-wait, as the host driver does
        n += board.result_len()
        script += sim.send(board.infer(x)) + f"expect {n}\n"
    frames = board.run(script)
    assert len(frames) == len(xs)
    for f, x in zip(frames, xs):
        np.testing.assert_array_equal(board.decode(f), accel_fixture.model(x, board.spec))


def test_bad_crc_then_good_frame(board):
    rng = np.random.default_rng(2)
    x_bad, x_good = board.random_input(rng), board.random_input(rng)
    bad = bytearray(board.infer(x_bad))
    bad[7] ^= 0x10                                       # a payload bit flipped on the line
    script = (sim.send(bytes(bad)) + f"expect {board.frame_len(1)}\n" + sim.send(board.infer(x_good)) +
              f"expect {board.frame_len(1) + board.result_len()}\n")
    frames = board.run(script)
    assert [f.ftype for f in frames] == [P.T_ERROR, P.T_RESULT]
    assert frames[0].payload == bytes([P.E_CRC])
    # the broken frame never reached the accelerator: the good one's result is exact
    np.testing.assert_array_equal(board.decode(frames[1]), accel_fixture.model(x_good, board.spec))


def test_garbage_before_frame_resyncs(board):
    rng = np.random.default_rng(3)
    x = board.random_input(rng)
    garbage = bytes([0x00, 0xFF, 0xA5, 0x13, 0x5A, 0xA5, 0xA5, 0x00, 0x5A, 0x42, 0xA5])  # no A5 5A pair
    frames = board.run(sim.send(garbage) + "idle 3\n" + sim.send(board.infer(x)) + f"expect {board.result_len()}\n")
    assert [f.ftype for f in frames] == [P.T_RESULT]
    np.testing.assert_array_equal(board.decode(frames[0]), accel_fixture.model(x, board.spec))


def test_length_type_and_timeout_errors(board):
    rng = np.random.default_rng(4)
    x = board.random_input(rng)
    short = P.encode_frame(P.T_INFER, P.pack_elements(x[:-1], board.spec["in_bits"], True))
    unknown = P.encode_frame(0x33, b"\x01\x02")
    truncated = board.infer(x)[:9]
    e = board.frame_len(1)
    script = (sim.send(short) + f"expect {e}\n" + sim.send(unknown) + f"expect {2 * e}\n" +
              sim.send(truncated) + f"idle {TIMEOUT // CPB + 20}\n" + f"expect {3 * e}\n" +
              sim.send(board.infer(x)) + f"expect {3 * e + board.result_len()}\n")
    frames = board.run(script)
    assert [(f.ftype, f.payload) for f in frames[:3]] == [(P.T_ERROR, bytes([P.E_LENGTH])),
                                                         (P.T_ERROR, bytes([P.E_TYPE])),
                                                         (P.T_ERROR, bytes([P.E_TIMEOUT]))]
    np.testing.assert_array_equal(board.decode(frames[3]), accel_fixture.model(x, board.spec))


def test_frame_while_busy_is_refused(board):
    rng = np.random.default_rng(5)
    x1, x2 = board.random_input(rng), board.random_input(rng)
    # the second request arrives while the first result is still being sent: BUSY, first result intact
    frames = board.run(sim.send(board.infer(x1)) + sim.send(board.infer(x2)) +
                       f"expect {board.result_len() + board.frame_len(1)}\n")
    assert [f.ftype for f in frames] == [P.T_RESULT, P.T_ERROR]
    assert frames[1].payload == bytes([P.E_BUSY])
    np.testing.assert_array_equal(board.decode(frames[0]), accel_fixture.model(x1, board.spec))


def test_multibyte_elements(board_wide):
    rng = np.random.default_rng(6)
    xs = [board_wide.random_input(rng) for _ in range(3)]
    xs[0][:] = 4095
    script, n = "", 0
    for x in xs:
        n += board_wide.result_len()
        script += sim.send(board_wide.infer(x)) + f"expect {n}\n"
    frames = board_wide.run(script)
    assert len(frames) == 3
    for f, x in zip(frames, xs):
        np.testing.assert_array_equal(board_wide.decode(f), accel_fixture.model(x, board_wide.spec))


def test_generated_accelerator_over_uart(tmp_path, objdir):
    """A real cf_accel from the RTL emitter (small LeNet-like graph) behind the board top: what comes back over the
    UART equals the reference interpreter, bit for bit."""
    sys.path.insert(0, str(Path(__file__).parent / "rtl"))
    import json

    import rtl_graphs
    from convflow.compiler.emit.rtl import write_rtl
    from convflow.compiler.ir.interpret import run_graph

    graph = rtl_graphs.lenet(size=8, c1=4, c2=4)
    rtl = tmp_path / "rtl"
    write_rtl(graph, rtl)
    spec = json.loads((rtl / "accel.json").read_text())
    exe = sim.build(rtl, spec, rtl, cpb=CPB, timeout_clks=TIMEOUT, prefix="Vlenet", objdir=objdir)
    xs = rtl_graphs.random_inputs(graph, 3, seed=7)
    n_out = P.HEADER + P.TRAILER + spec["out_elems"] * P.elem_bytes(spec["out_bits"])
    script = "".join(sim.send(P.infer_frame(x.ravel(), spec["in_bits"], spec["in_signed"])) + f"expect {n_out * (i + 1)}\n"
                     for i, x in enumerate(xs))
    frames = P.FrameParser().feed(sim.run(exe, script, rtl, cpb=CPB, max_cycles=50_000_000))   # cwd: ROM .hex files
    ref = np.asarray(run_graph(graph, xs)).reshape(len(xs), -1)
    assert [f.ftype for f in frames] == [P.T_RESULT] * len(xs)
    for f, r in zip(frames, ref):
        np.testing.assert_array_equal(P.unpack_elements(f.payload, spec["out_bits"], spec["out_signed"]), r)


def test_pyserial_over_pty(board):
    """Host code that opens a serial port (pyserial) talks to the simulated board through a pseudo-terminal."""
    serial = pytest.importorskip("serial")
    rng = np.random.default_rng(8)
    with sim.PtyBoard(board.exe, board.dir, cpb=CPB) as path:
        port = serial.Serial(path, 115200, timeout=0.05)
        client = P.Client(port, timeout=10)
        info = client.info()
        assert (info.in_elems, info.out_elems) == (board.spec["in_elems"], board.spec["out_elems"])
        for _ in range(5):
            x = board.random_input(rng)
            np.testing.assert_array_equal(client.infer(x, info), accel_fixture.model(x, board.spec))
        bad = bytearray(board.infer(x))
        bad[-1] ^= 0xFF
        with pytest.raises(P.BoardError, match="bad CRC"):
            client.request(bytes(bad))
        np.testing.assert_array_equal(client.infer(x, info), accel_fixture.model(x, board.spec))
        port.close()


def test_post_synthesis_netlist(tmp_path, objdir):
    """The ECP5 netlist yosys makes of the board top (+ fixture), simulated with yosys's ECP5 cell models: power-on
    reset, frame buffer RAM, UART and protocol behave as in the RTL simulation."""
    spec = accel_fixture.write_test_artifact(tmp_path / "art")
    exe = sim.build_netlist(tmp_path / "art" / "rtl", spec, tmp_path, cpb=CPB, timeout_clks=TIMEOUT,
                            design_id=0x1234ABCD, prefix="Vgate", objdir=objdir)
    x = np.arange(12) * 9 - 50
    bad = bytearray(P.infer_frame(x, 8, True))
    bad[6] ^= 1
    e, r = P.HEADER + 1 + P.TRAILER, P.HEADER + 8 + P.TRAILER
    script = (sim.send(P.info_frame()) + "expect 27\n" + sim.send(bytes(bad)) + f"expect {27 + e}\n" +
              sim.send(b"\x13\xa5\x00") + sim.send(P.infer_frame(x, 8, True)) + f"expect {27 + e + r}\n")
    frames = P.FrameParser().feed(sim.run(exe, script, tmp_path, cpb=CPB))
    assert [f.ftype for f in frames] == [P.T_INFO_REPLY, P.T_ERROR, P.T_RESULT]
    assert P.decode_info(frames[0].payload).design_id == 0x1234ABCD
    assert frames[1].payload == bytes([P.E_CRC])
    np.testing.assert_array_equal(P.unpack_elements(frames[2].payload, 12, True), accel_fixture.model(x, spec))
