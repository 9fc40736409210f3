"""Ctrl-C, SIGTERM and write errors at the worst moment: staging folders, cache work folders and temporary files
are removed, the previous output is untouched, and the process ends with one line and its exit code (130 / 143;
2 for a full disk; 3 with a crash log for a bug).

Faults are injected by a small wrapper that patches one step of convflow and then runs the real CLI (main), so
each case hits its moment every time."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from .helpers import leftovers, listing, one_line_error

WRAPPER = """
import errno, os, signal, sys, time
{hook}
from convflow.runtime.cli import main
sys.exit(main(sys.argv[1:]))
"""


def faulty_cli(tmp_path, hook: str, *args, env=None, wait=True):
    script = tmp_path / "faulty_convflow.py"
    script.write_text(WRAPPER.format(hook=textwrap.dedent(hook)))
    full_env = dict(os.environ, **(env or {}))
    cmd = [sys.executable, str(script), *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=900)


SIGNAL_WHILE_STAGING = """
import convflow.compiler.emit.rtl as rtl
real = rtl.write_rtl
def hooked(*args, **kwargs):
    out = real(*args, **kwargs)          # the artifact is half staged now
    os.kill(os.getpid(), signal.{sig})
    time.sleep(5)
    return out
rtl.write_rtl = hooked
"""


@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130), ("SIGHUP", 129)])
def test_a_signal_during_compile_leaves_nothing(models, artifact, tmp_path, sig, code):
    art = artifact("tiny")
    before = {p: (art / p).read_bytes() for p in listing(art) if (art / p).is_file()}
    r = faulty_cli(tmp_path, SIGNAL_WHILE_STAGING.format(sig=sig), "compile", models["conv"], "-o", art)
    one_line_error(r, code, "nothing half-written was left")
    assert {p: (art / p).read_bytes() for p in listing(art) if (art / p).is_file()} == before
    assert leftovers(tmp_path) == []


def test_an_external_sigterm_during_compile(models, tmp_path):
    """A real SIGTERM from outside (a CI runner's timeout), while the artifact is half staged."""
    hook = """
    import convflow.compiler.emit.rtl as rtl
    real = rtl.write_rtl
    def hooked(*args, **kwargs):
        out = real(*args, **kwargs)
        open(os.environ["CF_TEST_READY"], "w").close()
        time.sleep(120)
        return out
    rtl.write_rtl = hooked
    """
    ready = tmp_path / "ready"
    proc = faulty_cli(tmp_path, hook, "compile", models["conv"], "-o", tmp_path / "out" / "art",
                      env={"CF_TEST_READY": str(ready)}, wait=False)
    deadline = time.time() + 120
    while not ready.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ready.exists(), proc.communicate()
    assert any(".convflow-staging-" in p for p in listing(tmp_path / "out"))    # caught it half way
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert listing(tmp_path / "out") == []


def test_a_full_disk_during_compile(models, artifact, tmp_path):
    """ENOSPC from the weights write (simulated: works without a tmpfs; test_output_safety has the real one)."""
    hook = """
    import numpy as np
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]))
    np.savez = full
    """
    art = artifact("tiny")
    before = (art / "manifest.json").read_bytes()
    r = faulty_cli(tmp_path, hook, "compile", models["conv"], "-o", art)
    one_line_error(r, 2, f"cannot write {art}", "No space left on device", "nothing was left half-written")
    assert (art / "manifest.json").read_bytes() == before and leftovers(tmp_path) == []


def test_ctrl_c_during_the_rtlsim_build(artifact, fresh_cache, tmp_path):
    hook = """
    from convflow.runtime.backends import rtlsim
    real = rtlsim._run
    def hooked(cmd, cwd, env, what, log):
        if "compiling the Verilator model" in what:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        return real(cmd, cwd, env, what, log)
    rtlsim._run = hooked
    """
    art = artifact("tiny")
    env = {"CONVFLOW_CACHE": str(fresh_cache)}
    r = faulty_cli(tmp_path, hook, "run", art, "--backend", "rtlsim", env=env)
    one_line_error(r, 130, "interrupted")
    assert [p for p in os.listdir(fresh_cache / "rtlsim") if not p.endswith(".lock")] == []
    # the lock is free and the next run builds normally
    r = faulty_cli(tmp_path, "", "run", art, "--backend", "rtlsim", env=env)
    assert r.returncode == 0, r.stderr


def test_sigterm_during_the_csim_build_stops_the_header_build_too(artifact, tmp_path):
    """A cold cache: the precompiled header is being made in the background while g++ compiles the model."""
    hook = """
    import subprocess
    real = subprocess.run
    def hooked(cmd, *args, **kwargs):
        if "libconvflow_csim.so" in cmd:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        return real(cmd, *args, **kwargs)
    subprocess.run = hooked
    """
    art = artifact("tiny")
    cache = tmp_path / "cold-cache"
    r = faulty_cli(tmp_path, hook, "run", art, "--backend", "csim", env={"CONVFLOW_CACHE": str(cache)})
    one_line_error(r, 143, "terminated")
    assert [p for p in os.listdir(cache / "csim") if not p.endswith(".lock")] == []
    assert os.listdir(cache / "csim_pch") == []                 # the header's staging folder went too
    assert listing(art) == listing(tmp_path / "art-tiny")


def test_sigterm_during_the_bitstream_build(artifact, tmp_path):
    hook = """
    from convflow.hw.flows import tools
    def hooked(tool, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    tools.run = hooked
    """
    art = artifact("tiny")
    before = listing(art)
    r = faulty_cli(tmp_path, hook, "build", art)
    one_line_error(r, 143, "terminated")
    assert listing(art) == before                               # no bitstream/, no build folder, no logs


def test_an_internal_error_is_one_line_with_a_crash_log(pristine, tmp_path):
    hook = """
    from convflow.runtime import session
    def broken(self, x):
        return 1 // 0
    session.Session.run = broken
    """
    env = {"CONVFLOW_CACHE": str(tmp_path / "cache")}
    r = faulty_cli(tmp_path, hook, "run", pristine["tiny"], env=env)
    line = one_line_error(r, 3, "internal error", "ZeroDivisionError", "please report it")
    log = line.split("please report it with ")[1].split(")")[0]
    assert os.path.isfile(log) and "Traceback" in open(log).read() and "1 // 0" in open(log).read()
    r = faulty_cli(tmp_path, hook, "run", pristine["tiny"], "--debug", env=env)
    assert r.returncode == 3 and "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr
