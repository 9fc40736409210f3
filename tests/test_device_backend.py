"""The device backend against the simulated board of the artifact itself (its cf_accel in the real board top, UART
included, on a pseudo-terminal), and through a faulty line (tests/pty_faults.py): no frame lost or duplicated,
results equal to the reference, a dead line ends in a clear error within the time-out, and a board that runs another
design is refused before any input is sent."""
import time

import numpy as np
import pytest

from convflow.hw.flows import ecp5_protocol as P
from convflow.runtime import Session
from convflow.runtime.backends.device import DeviceError
from convflow.runtime.board_sim import SimBoard
from pty_faults import Faults, FaultyBridge
from qonnx_builders import conv_bn_model

pytest.importorskip("serial")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """Two designs with the same shapes and types but other weights (so only the design id tells them apart)."""
    from convflow.compiler.compile import compile_model

    base = tmp_path_factory.mktemp("device")
    return [compile_model(conv_bn_model(seed=s), base / f"art{s}", name=f"device{s}") for s in (11, 12)]


def _inputs(artifact, n, seed=0):
    session = Session(artifact)
    lo, hi = session.input_range
    x = np.random.default_rng(seed).integers(lo, hi + 1, size=(n,) + session.input_tensor.shape)
    return x, session.run(x)


def test_stats_and_cycles(artifacts):
    x, expected = _inputs(artifacts[0], 40)
    with Session(artifacts[0], "device", port="sim") as s:
        assert np.array_equal(s.run(x), expected)
        st = s.stats
    manifest_cycles = Session(artifacts[0]).artifact.manifest["estimate"]["cycles_per_frame"]
    assert st["frames"] == 40 and st["resent"] == 0 and st["duplicates"] == 0
    # frames arrive one line-time apart (far slower than the accelerator): each is alone in it, so its busy
    # cycles are its latency, which is longer than the pipeline's initiation interval
    assert st["latency_cycles"] >= manifest_cycles and abs(st["busy_cycles_per_frame"] - st["latency_cycles"]) <= 3
    assert st["clock_mhz"] == 25.0 and st["onchip_frames_per_second"] > 0


def test_faulty_line_loses_and_duplicates_nothing(artifacts):
    """Drops, corruption, duplicated and inserted bytes and stalls both ways (seeded): every input answered exactly
    once, in order, equal to the reference."""
    x, expected = _inputs(artifacts[0], 300, seed=1)
    faults_out = Faults(drop=3e-4, corrupt=3e-4, duplicate=3e-4, insert=2e-4, delay=2e-4, max_delay_s=0.05)
    faults_back = Faults(drop=2e-3, corrupt=2e-3, duplicate=2e-3, insert=1e-3, delay=1e-3, max_delay_s=0.05)
    with SimBoard(artifacts[0]) as board, FaultyBridge(board.port, faults_out, faults_back, seed=7) as line:
        with Session(artifacts[0], "device", port=line.port, timeout=10) as s:
            got = s.run(x)
            st = s.stats
    assert got.shape == expected.shape and np.array_equal(got, expected)
    for direction in ("to_board", "to_host"):
        c = line.counts[direction]
        assert c.dropped and c.corrupted and c.duplicated and c.inserted and c.delayed, (direction, c)
    assert st["resent"] > 0, st                 # the faults cost frames, and the link made up for them
    assert st["frames"] == len(x)


def test_dead_line_is_a_clear_error_within_the_timeout(artifacts):
    x, _ = _inputs(artifacts[0], 50)
    with SimBoard(artifacts[0]) as board, FaultyBridge(board.port) as line:
        with Session(artifacts[0], "device", port=line.port, timeout=1.5) as s:
            line.dead = True
            t0 = time.monotonic()
            with pytest.raises(P.BoardError, match=f"no answer from the board on {line.port} within 1.5 s"):
                s.run(x)
            assert time.monotonic() - t0 < 1.5 + 1.0
        t0 = time.monotonic()                     # dead before the INFO: refused at once, naming the port
        with pytest.raises(P.BoardError, match=f"no answer from the board on {line.port}"):
            Session(artifacts[0], "device", port=line.port, timeout=1.0)
        assert time.monotonic() - t0 < 1.0 + 1.0


def test_board_with_another_design_is_refused_before_any_input(artifacts):
    other, mine = artifacts
    with SimBoard(other) as board, FaultyBridge(board.port) as line:
        with pytest.raises(DeviceError) as err:
            Session(mine, "device", port=line.port)
        sent = bytes(line.counts["to_board"].sent)
    msg = str(err.value)
    from convflow.hw.flows.ecp5 import design_id
    assert line.port in msg and "runs another design" in msg
    assert f"{design_id(other):08x} on the board" in msg and f"{design_id(mine):08x} in the artifact" in msg
    frames = P.FrameParser().feed(sent)
    assert frames and all(f.ftype == P.T_INFO for f in frames)      # nothing but INFO went out


def test_bad_port_names_the_port(artifacts):
    with pytest.raises(DeviceError, match="/dev/ttyNOPE"):
        Session(artifacts[0], "device", port="/dev/ttyNOPE")
    with pytest.raises(Exception, match="needs a serial port"):
        Session(artifacts[0], "device")
