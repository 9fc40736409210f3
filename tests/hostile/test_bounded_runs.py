"""rtlsim runs are bounded by the design itself, never by a manifest field: a cycle budget from the IR's worst case
(every stage at PE = SIMD = 1) with a margin, a stall limit, and a wall-clock limit; a stall is reported with how
far the data got."""
from __future__ import annotations

import numpy as np
import pytest

from convflow.hw.errors import ToolFailed
from convflow.runtime import Session
from convflow.runtime.backends.rtlsim import frame_cycle_bound

from .helpers import cli, one_line_error, random_ints, rehash

STUCK = """// TEST FIXTURE: cf_accel that {what}
module cf_accel (input wire clk, input wire rst, input wire [3:0] s_data, input wire s_valid, output wire s_ready,
                 output wire [7:0] m_data, output wire m_valid, input wire m_ready);
    assign s_ready = {ready};
    assign m_valid = 1'b0;
    assign m_data = 8'd0;
endmodule
"""


def stuck_artifact(artifact, what, ready):
    """The tiny artifact with its accelerator replaced by one that never answers (hashes recorded: a consistent
    lie, so that the loaders let it through and the simulation itself has to cope)."""
    art = artifact("tiny")
    (art / "rtl" / "cf_accel.v").write_text(STUCK.format(what=what, ready=ready))
    rehash(art, "rtl/cf_accel.v")
    return art


def test_the_bound_holds_for_the_slowest_folding(tmp_path, shared_cache, monkeypatch):
    """PE = SIMD = 1 everywhere: the measured cycles per frame, the first frame's latency and the whole batch stay
    inside the bound (and the budget adds a margin of 2 on top)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parents[1] / "rtl"))
    from rtl_graphs import artifact_for

    from test_rtl_e2e import small_convnet
    monkeypatch.setenv("CONVFLOW_CACHE", str(shared_cache))
    graph = small_convnet(pe=(1, 1, 1), simd=(1, 1, 1), seed=2)
    bound = frame_cycle_bound(graph)
    with Session(artifact_for(graph, tmp_path), "rtlsim") as s:
        s.run(random_ints_for(graph, 4))
        assert s.stats["cycles_per_frame"] <= bound and s.stats["latency_cycles"] <= bound
        assert s.stats["total_cycles"] <= (4 + 1) * bound
        budget, stall = s.backend.budgets(4)
        assert budget >= 2 * 5 * bound and stall >= 2 * bound


def random_ints_for(graph, n):
    t = graph.input_tensor
    return np.random.default_rng(0).integers(t.dtype.min, t.dtype.max + 1, size=(n, *t.shape))


@pytest.mark.parametrize("name", ["tiny", "conv"])
def test_the_bound_holds_for_compiled_models(pristine, shared_cache, monkeypatch, name):
    monkeypatch.setenv("CONVFLOW_CACHE", str(shared_cache))
    with Session(pristine[name], "rtlsim", backpressure=0.3) as s:
        s.run(random_ints(pristine[name], 6))
        slowed = frame_cycle_bound(s.graph) / (1 - 0.3) ** 2
        assert s.stats["latency_cycles"] <= slowed and s.stats["total_cycles"] <= (6 + 1) * slowed


def test_a_design_that_never_answers_is_reported_as_a_stall(artifact, shared_cache, monkeypatch):
    art = stuck_artifact(artifact, "takes every input and never answers", "1'b1")
    monkeypatch.setenv("CONVFLOW_CACHE", str(shared_cache))
    with Session(art, "rtlsim") as s:
        with pytest.raises(ToolFailed) as info:
            s.run(random_ints(art, 5))
    message = str(info.value)
    assert "stalled" in message and "0 of 15 output elements (frame 0 of 5)" in message
    assert "30 of 30 input elements accepted" in message and "inside the pipeline" in message


def test_a_design_that_takes_no_input_is_reported_where_it_stopped(artifact, shared_cache):
    art = stuck_artifact(artifact, "never takes an input", "1'b0")
    r = cli("run", art, "--backend", "rtlsim", "--count", "3", env={"CONVFLOW_CACHE": str(shared_cache)})
    one_line_error(r, 2, "stalled", "0 of 18 input elements", "stopped taking input at element 0 of frame 0")


def test_a_cycle_budget_too_small_is_named(pristine, shared_cache, monkeypatch):
    monkeypatch.setenv("CONVFLOW_CACHE", str(shared_cache))
    with Session(pristine["tiny"], "rtlsim", max_cycles=20) as s:
        with pytest.raises(ToolFailed, match="ran out of its cycle budget .20 cycles for 50 frames"):
            s.run(random_ints(pristine["tiny"], 50))


def test_the_wall_clock_limit_stops_a_long_run(pristine, shared_cache, monkeypatch):
    monkeypatch.setenv("CONVFLOW_CACHE", str(shared_cache))
    x = random_ints(pristine["conv"], 4000, seed=1)
    with Session(pristine["conv"], "rtlsim", timeout_s=0.2) as s:
        with pytest.raises(ToolFailed, match=r"wall-clock limit of 0.2 s; \d+ of \d+ output elements"):
            s.run(x)


def test_the_wall_clock_limit_from_the_command_line(pristine, shared_cache, tmp_path):
    np.save(tmp_path / "x.npy", random_ints(pristine["conv"], 4000, seed=1))
    r = cli("run", pristine["conv"], "--backend", "rtlsim", "--input", tmp_path / "x.npy", "--sim-timeout", "0.2",
            env={"CONVFLOW_CACHE": str(shared_cache)})
    one_line_error(r, 2, "wall-clock limit of 0.2 s", "--sim-timeout")
