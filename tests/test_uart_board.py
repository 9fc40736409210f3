"""The board top (UART + framing + frame slots + cycle meter + cf_accel) under Verilator, driven at the UART bit level
through the package's simulated board (convflow.runtime.board_sim).

The accelerator here is the test fixture of tests/accel_fixture.py (group sums with random stalls): what is under
test is the board top's protocol (version 2), not an accelerator."""
import json

import numpy as np
import pytest

import accel_fixture
from convflow.hw.flows import ecp5_protocol as P
from convflow.runtime import board_sim

CPB = board_sim.SIM_CLKS_PER_BIT
TIMEOUT = 4000     # clocks of silence that abort a frame (short, so the time-out test is quick)
DESIGN = 0xC0FFEE42


class Board:
    def __init__(self, path, window=4, **kw):
        self.spec = accel_fixture.write_test_artifact(path / "art", **kw)
        self.rtl = path / "art" / "rtl"
        self.params = board_sim.board_params(self.spec, timeout_clks=TIMEOUT, design=DESIGN, window=window)
        self.exe = board_sim.build(self.rtl, self.spec, self.params)
        self.window = window

    def run(self, script):
        return P.FrameParser().feed(board_sim.run_script(self.exe, script, self.rtl))

    @staticmethod
    def frame_len(n_payload):
        return P.HEADER + n_payload + P.TRAILER

    def result_len(self):
        return self.frame_len(self.spec["out_elems"] * P.elem_bytes(self.spec["out_bits"]) + P.RESULT_TRAILER)

    def infer(self, x, seq):
        return P.infer_frame(x, self.spec["in_bits"], self.spec["in_signed"], seq)

    @property
    def info(self) -> P.BoardInfo:
        s = self.spec
        return P.BoardInfo(2, s["in_bits"], s["in_signed"], s["out_bits"], s["out_signed"], P.elem_bytes(s["in_bits"]),
                           P.elem_bytes(s["out_bits"]), self.window, s["in_elems"], s["out_elems"], DESIGN,
                           board_sim.SIM_CLK_KHZ, CPB)

    def decode(self, frame):
        assert frame.ftype == P.T_RESULT, frame
        return P.decode_result(frame, self.info)

    def random_input(self, rng):
        b, s = self.spec["in_bits"], self.spec["in_signed"]
        lo, hi = (-(1 << (b - 1)), 1 << (b - 1)) if s else (0, 1 << b)
        return rng.integers(lo, hi, self.spec["in_elems"])


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    return Board(tmp_path_factory.mktemp("board8"))


@pytest.fixture(scope="module")
def board_wide(tmp_path_factory):
    """Multi-byte elements: 12-bit unsigned inputs (2 bytes), 20-bit unsigned outputs (3 bytes)."""
    return Board(tmp_path_factory.mktemp("board12"), in_bits=12, in_signed=False, out_bits=20, out_signed=False,
                 in_elems=6, out_elems=2)


def test_info_frame(board):
    frames = board.run(board_sim.send(P.info_frame(seq=0x1234)) + f"expect {board.frame_len(P.INFO_LEN)}\n")
    assert [(f.ftype, f.seq) for f in frames] == [(P.T_INFO_REPLY, 0x1234)]
    assert P.decode_info(frames[0].payload) == board.info


def test_pipelined_frames_match_model(board):
    """A window's worth of INFERs back to back: one RESULT each, in order, with its sequence number and cycle
    counts."""
    rng = np.random.default_rng(1)
    xs = [board.random_input(rng) for _ in range(board.window)]
    xs[0][:] = -128                                      # extremes
    xs[1][:] = 127
    seqs = [7, 8, 9, 0xFFFE]
    script = "".join(board_sim.send(board.infer(x, s)) for x, s in zip(xs, seqs))
    frames = board.run(script + f"expect {len(xs) * board.result_len()}\n")
    assert [(f.ftype, f.seq) for f in frames] == [(P.T_RESULT, s) for s in seqs]
    for f, x in zip(frames, xs):
        r = board.decode(f)
        np.testing.assert_array_equal(r.values, accel_fixture.model(x, board.spec))
        # the fixture takes at least one cycle per input element, and never waits on a free transmitter for long
        assert board.spec["in_elems"] <= r.latency_cycles <= r.busy_cycles + 2


def test_window_full_answers_busy(board):
    """More INFERs than slots, faster than the board answers (its RESULTs take longer on the line than the INFERs):
    every frame gets exactly one answer, a RESULT or BUSY with its sequence number, and no RESULT is wrong."""
    rng = np.random.default_rng(9)
    xs = [board.random_input(rng) for _ in range(40)]
    script = "".join(board_sim.send(board.infer(x, i)) for i, x in enumerate(xs)) + "idle 4000\n"
    frames = board.run(script)
    answered = sorted(f.seq for f in frames)
    assert answered == list(range(len(xs)))
    busy = [f.seq for f in frames if f.ftype == P.T_ERROR]
    assert busy and all(f.payload == bytes([P.E_BUSY]) for f in frames if f.ftype == P.T_ERROR)
    for f in frames:
        if f.ftype == P.T_RESULT:
            np.testing.assert_array_equal(board.decode(f).values, accel_fixture.model(xs[f.seq], board.spec))


def test_bad_crc_then_good_frame(board):
    rng = np.random.default_rng(2)
    x_bad, x_good = board.random_input(rng), board.random_input(rng)
    bad = bytearray(board.infer(x_bad, 1))
    bad[9] ^= 0x10                                       # a payload bit flipped on the line
    script = (board_sim.send(bytes(bad)) + f"expect {board.frame_len(1)}\n" + board_sim.send(board.infer(x_good, 2)) +
              f"expect {board.frame_len(1) + board.result_len()}\n")
    frames = board.run(script)
    assert [(f.ftype, f.seq) for f in frames] == [(P.T_ERROR, P.NO_SEQ), (P.T_RESULT, 2)]
    assert frames[0].payload == bytes([P.E_CRC])
    # the broken frame never reached the accelerator: the good one's result is exact
    np.testing.assert_array_equal(board.decode(frames[1]).values, accel_fixture.model(x_good, board.spec))


def test_garbage_before_frame_resyncs(board):
    rng = np.random.default_rng(3)
    x = board.random_input(rng)
    garbage = bytes([0x00, 0xFF, 0xA5, 0x13, 0x5A, 0xA5, 0xA5, 0x00, 0x5A, 0x42, 0xA5])  # no A5 5A pair
    frames = board.run(board_sim.send(garbage) + "idle 3\n" + board_sim.send(board.infer(x, 5)) +
                       f"expect {board.result_len()}\n")
    assert [(f.ftype, f.seq) for f in frames] == [(P.T_RESULT, 5)]
    np.testing.assert_array_equal(board.decode(frames[0]).values, accel_fixture.model(x, board.spec))


def test_length_type_and_timeout_errors(board):
    rng = np.random.default_rng(4)
    x = board.random_input(rng)
    short = P.encode_frame(P.T_INFER, P.pack_elements(x[:-1], board.spec["in_bits"], True), seq=11)
    unknown = P.encode_frame(0x33, b"\x01\x02", seq=12)
    truncated = board.infer(x, 13)[:11]
    e = board.frame_len(1)
    script = (board_sim.send(short) + f"expect {e}\n" + board_sim.send(unknown) + f"expect {2 * e}\n" +
              board_sim.send(truncated) + f"idle {TIMEOUT // CPB + 20}\n" + f"expect {3 * e}\n" +
              board_sim.send(board.infer(x, 14)) + f"expect {3 * e + board.result_len()}\n")
    frames = board.run(script)
    assert [(f.ftype, f.seq, f.payload) for f in frames[:3]] == [(P.T_ERROR, 11, bytes([P.E_LENGTH])),
                                                                (P.T_ERROR, 12, bytes([P.E_TYPE])),
                                                                (P.T_ERROR, P.NO_SEQ, bytes([P.E_TIMEOUT]))]
    np.testing.assert_array_equal(board.decode(frames[3]).values, accel_fixture.model(x, board.spec))


def test_overlong_length_does_not_swallow_the_next_frame(board):
    """A length field corrupted upwards: refused at the header (no host frame is longer), so the frame right behind
    it is answered, not read as payload."""
    rng = np.random.default_rng(10)
    x = board.random_input(rng)
    bad = bytearray(board.infer(x, 20))
    bad[6] = 0xC0                                        # LEN 0xC0xx: 49 kB
    frames = board.run(board_sim.send(bytes(bad[:12])) + board_sim.send(board.infer(x, 21)) +
                       f"expect {board.frame_len(1) + board.result_len()}\n")
    assert [(f.ftype, f.seq, f.payload[:1]) for f in frames] == [(P.T_ERROR, P.NO_SEQ, bytes([P.E_LENGTH])),
                                                                (P.T_RESULT, 21, frames[1].payload[:1])]
    np.testing.assert_array_equal(board.decode(frames[1]).values, accel_fixture.model(x, board.spec))


def test_multibyte_elements(board_wide):
    rng = np.random.default_rng(6)
    xs = [board_wide.random_input(rng) for _ in range(3)]
    xs[0][:] = 4095
    script = "".join(board_sim.send(board_wide.infer(x, i)) for i, x in enumerate(xs))
    frames = board_wide.run(script + f"expect {3 * board_wide.result_len()}\n")
    assert [f.seq for f in frames] == [0, 1, 2]
    for f, x in zip(frames, xs):
        np.testing.assert_array_equal(board_wide.decode(f).values, accel_fixture.model(x, board_wide.spec))


def test_generated_accelerator_over_uart(tmp_path):
    """A real cf_accel from the RTL emitter (small LeNet-like graph) behind the board top: what comes back over the
    UART equals the reference interpreter, bit for bit, and the board's latency count equals rtlsim's."""
    from convflow.compiler.emit.rtl import write_rtl
    from convflow.compiler.ir.interpret import run_graph
    from rtl import rtl_graphs

    graph = rtl_graphs.lenet(size=8, c1=4, c2=4)
    rtl = tmp_path / "rtl"
    write_rtl(graph, rtl)
    spec = json.loads((rtl / "accel.json").read_text())
    exe = board_sim.build(rtl, spec, board_sim.board_params(spec, timeout_clks=TIMEOUT))
    xs = rtl_graphs.random_inputs(graph, 3, seed=7)
    info = P.BoardInfo(2, spec["in_bits"], spec["in_signed"], spec["out_bits"], spec["out_signed"],
                       P.elem_bytes(spec["in_bits"]), P.elem_bytes(spec["out_bits"]), 4, spec["in_elems"],
                       spec["out_elems"], 0, board_sim.SIM_CLK_KHZ, CPB)
    n_out = info.result_frame_bytes
    script = "".join(board_sim.send(P.infer_frame(x.ravel(), spec["in_bits"], spec["in_signed"], i)) +
                     f"expect {n_out * (i + 1)}\n" for i, x in enumerate(xs))      # one at a time
    frames = P.FrameParser().feed(board_sim.run_script(exe, script, rtl, max_cycles=50_000_000))  # cwd: ROM files
    ref = np.asarray(run_graph(graph, xs)).reshape(len(xs), -1)
    assert [f.ftype for f in frames] == [P.T_RESULT] * len(xs)
    results = [P.decode_result(f, info) for f in frames]
    for r, expected in zip(results, ref):
        np.testing.assert_array_equal(r.values, expected)
    # one frame at a time, fed at full rate from its slot: what rtlsim measures as the latency of a lone frame
    from convflow.runtime.backends.rtlsim import RtlsimBackend
    rtlsim = RtlsimBackend(rtl_graphs.artifact_for(graph, tmp_path, write=False))
    rtlsim.run(xs[:1])
    assert all(abs(r.latency_cycles - rtlsim.stats["latency_cycles"]) <= 2 for r in results), \
        (rtlsim.stats, results)


def test_link_over_pty(board):
    """Host code that opens a serial port (pyserial) talks to the simulated board through a pseudo-terminal, with
    the pipelined Link: every result in order and exact, no retries on a clean line."""
    serial = pytest.importorskip("serial")
    rng = np.random.default_rng(8)
    xs = [board.random_input(rng) for _ in range(200)]
    with board_sim.SimBoard(exe=board.exe, cwd=board.rtl) as sim:
        port = serial.Serial(sim.port, 3_000_000, timeout=0.005)
        link = P.Link(port, name=sim.port, timeout=10)
        info = link.info()
        assert info == board.info
        results = link.infer([P.pack_elements(x, 8, True) for x in xs], info)
        port.close()
    for r, x in zip(results, xs):
        np.testing.assert_array_equal(r.values, accel_fixture.model(x, board.spec))
    assert link.stats.resent == 0 and link.stats.duplicates == 0 and link.stats.frames == len(xs)
    assert sim.stats["bytes_in"] == 9 + len(xs) * info.infer_frame_bytes


def test_post_synthesis_netlist(tmp_path):
    """The ECP5 netlist yosys makes of the board top (+ fixture), simulated with yosys's ECP5 cell models: power-on
    reset, frame slot RAM, UART and protocol behave as in the RTL simulation."""
    spec = accel_fixture.write_test_artifact(tmp_path / "art")
    params = board_sim.board_params(spec, timeout_clks=TIMEOUT, design=0x1234ABCD)
    exe = board_sim.build_netlist(tmp_path / "art" / "rtl", spec, params, tmp_path)
    x = np.arange(12) * 9 - 50
    bad = bytearray(P.infer_frame(x, 8, True, 1))
    bad[8] ^= 1
    i, e, r = (P.HEADER + P.INFO_LEN + P.TRAILER, P.HEADER + 1 + P.TRAILER,
               P.HEADER + 8 + P.RESULT_TRAILER + P.TRAILER)
    script = (board_sim.send(P.info_frame(0)) + f"expect {i}\n" + board_sim.send(bytes(bad)) + f"expect {i + e}\n" +
              board_sim.send(b"\x13\xa5\x00") + board_sim.send(P.infer_frame(x, 8, True, 2)) +
              board_sim.send(P.infer_frame(-x, 8, True, 3)) + f"expect {i + e + 2 * r}\n")
    frames = P.FrameParser().feed(board_sim.run_script(exe, script, tmp_path))
    assert [f.ftype for f in frames] == [P.T_INFO_REPLY, P.T_ERROR, P.T_RESULT, P.T_RESULT]
    assert P.decode_info(frames[0].payload).design_id == 0x1234ABCD
    assert frames[1].payload == bytes([P.E_CRC])
    np.testing.assert_array_equal(P.unpack_elements(frames[2].payload[:8], 12, True), accel_fixture.model(x, spec))
    np.testing.assert_array_equal(P.unpack_elements(frames[3].payload[:8], 12, True), accel_fixture.model(-x, spec))
