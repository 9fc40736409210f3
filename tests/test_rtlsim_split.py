"""rtlsim spreads a batch over simulator processes (one a core, or one a Ray worker): the outputs are those of one
long run, bit for bit, and cycles per frame and latency are measured as exactly as by one simulator."""
import sys
from pathlib import Path

import pytest

from convflow.compiler.ir.interpret import run_graph
from convflow.hw.errors import UsageError

sys.path.insert(0, str(Path(__file__).parent / "rtl"))
from rtl_graphs import artifact_for, random_inputs  # noqa: E402
from test_rtl_e2e import needs_verilator, small_convnet  # noqa: E402

rtlsim = pytest.importorskip("convflow.runtime.backends.rtlsim")
FRAMES = 2 * rtlsim.MIN_FRAMES_PER_WORKER + 7      # two shares of unequal size


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    """The small ConvNet of test_rtl_e2e at the same folding (its simulator build is cached), with inputs."""
    graph = small_convnet(pe=(2, 4, 5), simd=(1, 2, 8))
    x = random_inputs(graph, FRAMES, seed=3)
    return graph, artifact_for(graph, tmp_path_factory.mktemp("split")), x, run_graph(graph, x)


@needs_verilator
def test_two_simulators_give_one_runs_outputs_and_timing(design):
    graph, artifact, x, want = design
    one = rtlsim.RtlsimBackend(artifact, workers=1)
    two = rtlsim.RtlsimBackend(artifact, workers=2)
    assert (one.run(x) == want).all() and (two.run(x) == want).all()
    assert one.stats["workers"] == 1 and two.stats["workers"] == 2
    for key in ("cycles_per_frame", "latency_cycles"):
        assert two.stats[key] == one.stats[key], key
    assert one.stats["sim_loop_cycles_per_second"] > 0


@needs_verilator
def test_shares_under_backpressure_stay_exact(design):
    graph, artifact, x, want = design
    backend = rtlsim.RtlsimBackend(artifact, workers=2, backpressure=0.3, seed=5)
    assert (backend.run(x) == want).all() and backend.stats["workers"] == 2


def test_a_small_batch_is_not_split():
    assert rtlsim.RtlsimBackend._shares(rtlsim.MIN_FRAMES_PER_WORKER * 2 - 1, 16) == [
        (0, rtlsim.MIN_FRAMES_PER_WORKER * 2 - 1)]
    assert rtlsim.RtlsimBackend._shares(300, 4) == [(0, 75), (75, 150), (150, 225), (225, 300)]


@needs_verilator
@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_workers_checked(design, bad):
    with pytest.raises(UsageError, match="workers"):
        rtlsim.RtlsimBackend(design[1], workers=bad)


@needs_verilator
def test_shares_on_a_local_ray_instance(design):
    ray = pytest.importorskip("ray")
    graph, artifact, x, want = design
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        backend = rtlsim.RtlsimBackend(artifact, ray="auto")
        got = backend.run(x)
    finally:
        ray.shutdown()
    assert (got == want).all()
    assert backend.stats["workers"] == 2 and backend.stats["sim_cpu_seconds"] > 0
    local = rtlsim.RtlsimBackend(artifact, workers=2)
    local.run(x)
    assert backend.stats["cycles_per_frame"] == local.stats["cycles_per_frame"]


@needs_verilator
def test_cli_splits_a_batch_with_sim_workers(compiled):
    """`convflow verify ART --backends rtlsim --sim-workers 2` reaches the backend: two simulators, exact."""
    import json
    import subprocess

    from conftest import SHARED_MODEL_FILES

    artifact = compiled(SHARED_MODEL_FILES["jet"], "jet")
    cli = [sys.executable, "-m", "convflow.runtime.cli"]
    r = subprocess.run([*cli, "--json", "verify", str(artifact), "--backends", "rtlsim", "--sim-workers", "2",
                        "--random", "--count", str(FRAMES)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (rtl,) = [b for b in json.loads(r.stdout)["backends"] if b["backend"] == "rtlsim"]
    assert rtl["exact"] and rtl["stats"]["workers"] == 2
    r = subprocess.run([*cli, "verify", str(artifact), "--backends", "rtlsim", "--sim-workers", "0", "--random"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--sim-workers" in r.stderr and "Traceback" not in r.stderr


def test_an_unreachable_ray_cluster_is_one_line_at_once(compiled):
    """--ray at an address nobody listens at: exit 2 and one line naming it, not minutes of Ray's retries."""
    import subprocess

    from conftest import SHARED_MODEL_FILES

    artifact = compiled(SHARED_MODEL_FILES["jet"], "jet")
    # (Ray's own retries would outlast this: the subprocess then fails the test with TimeoutExpired)
    r = subprocess.run([sys.executable, "-m", "convflow.runtime.cli", "verify", str(artifact), "--backends", "rtlsim",
                        "--ray", "127.0.0.1:1", "--random", "--count", "200"], capture_output=True, text=True,
                       timeout=100)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in r.stderr
