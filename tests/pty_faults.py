"""A faulty serial line for the device-link tests: a pseudo-terminal bridge between the host and a (simulated)
board that drops, corrupts, duplicates, inserts and delays bytes at random, each direction with its own seeded
random stream (drawn byte by byte, so the faults do not depend on how the bytes happen to be chunked), and that can
go dead (forward nothing).  It records what the host sent, so a test can tell which frames reached the line."""
from __future__ import annotations

import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass, field


@dataclass
class Faults:
    drop: float = 0.0        # per byte: not forwarded
    corrupt: float = 0.0     # per byte: a random bit pattern xor-ed in
    duplicate: float = 0.0   # per byte: forwarded twice
    insert: float = 0.0      # per byte: a random garbage byte forwarded before it
    delay: float = 0.0       # per byte: the line stalls this long before it ...
    max_delay_s: float = 0.0  # ... up to this many seconds


@dataclass
class Counts:
    forwarded: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    inserted: int = 0
    delayed: int = 0
    sent: bytearray = field(default_factory=bytearray)   # what came in from this direction's source


class FaultyBridge:
    """``with FaultyBridge(board_port, to_board=Faults(...), to_host=Faults(...), seed=1) as bridge:`` -- then open
    ``bridge.port`` instead of the board's port.  ``bridge.dead = True`` cuts the line both ways."""

    def __init__(self, board_port: str, to_board: Faults | None = None, to_host: Faults | None = None, seed: int = 0):
        self.board_port = board_port
        self.faults = {"to_board": to_board or Faults(), "to_host": to_host or Faults()}
        self.counts = {"to_board": Counts(), "to_host": Counts()}
        self.rng = {"to_board": random.Random(seed * 2 + 1), "to_host": random.Random(seed * 2 + 2)}
        self.dead = False
        self._stop = threading.Event()
        self._threads = []

    def __enter__(self) -> "FaultyBridge":
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.board = os.open(self.board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.board)
        for name, src, dst in (("to_board", self.master, self.board), ("to_host", self.board, self.master)):
            t = threading.Thread(target=self._pump, args=(name, src, dst), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        for fd in (self.master, self.slave, self.board):
            os.close(fd)

    def _pump(self, name: str, src: int, dst: int):
        f, c, rng = self.faults[name], self.counts[name], self.rng[name]
        while not self._stop.is_set():
            ready, _, _ = select.select([src], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(src, 4096)
            except OSError:
                return
            c.sent += data
            out = bytearray()
            for byte in data:
                if self.dead:
                    c.dropped += 1
                    continue
                if f.delay and rng.random() < f.delay:
                    if out:
                        os.write(dst, bytes(out))
                        out.clear()
                    c.delayed += 1
                    time.sleep(rng.random() * f.max_delay_s)
                if f.insert and rng.random() < f.insert:
                    out.append(rng.randrange(256))
                    c.inserted += 1
                if f.drop and rng.random() < f.drop:
                    c.dropped += 1
                    continue
                if f.corrupt and rng.random() < f.corrupt:
                    byte ^= rng.randrange(1, 256)
                    c.corrupted += 1
                out.append(byte)
                if f.duplicate and rng.random() < f.duplicate:
                    out.append(byte)
                    c.duplicated += 1
            if out:
                os.write(dst, bytes(out))
                c.forwarded += len(out)
