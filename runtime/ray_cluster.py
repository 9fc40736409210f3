"""Joining a Ray cluster, once for every user of it (the sweep's points, rtlsim's shares).

ray.init on an address nobody listens at retries for minutes and prints Ray's own C++ warnings meanwhile; an
address of the form host:port (or ray://host:port) is tried with a plain TCP connect first, so a wrong one is one
line at once."""
from __future__ import annotations

import os
import socket

from convflow.hw.errors import ToolFailed, ToolMissing

CONNECT_TIMEOUT_S = 5.0


def _reachable(address: str) -> bool:
    """False when ``address`` is host:port and nothing accepts a connection there; True otherwise ('local',
    'auto', or a reachable port)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return True
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def join(address: str | None, who: str):
    """The ray module, initialised on ``address`` unless this process already started Ray (an instance the caller
    made, e.g. ray.init(num_cpus=2) in the tests, is used as it is); (ray, started here).  ToolMissing without ray,
    ToolFailed naming ``who`` and the address when the cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise ToolMissing(f"{who}: ray is not installed (pip install ray==2.60.0); without --ray the work runs on "
                          "this machine") from None
    if ray.is_initialized():
        return ray, False
    if address and not _reachable(address):
        raise ToolFailed(f"{who}: cannot reach the Ray cluster at {address!r} (nothing accepts connections there "
                         f"within {CONNECT_TIMEOUT_S:g} s); check the address of its head node")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")          # Ray's C++ warnings stay off the terminal
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ToolFailed(f"{who}: cannot reach the Ray cluster at {address!r}: {exc}") from None
    return ray, True
