"""Host side of the board top's UART protocol, version 2 (docs/uart-protocol.md): frame encoding, CRC, element
packing, an incremental frame parser that resynchronises on garbage, and ``Link``, the pipelined client (a window of
INFERs in flight, retries of lost or corrupted frames by sequence number, no result lost or duplicated).  Pure
Python + numpy, so the device backend, the simulated board and the tests all speak the protocol through this one
module."""
from __future__ import annotations

import binascii
import time
from dataclasses import dataclass, field

import numpy as np

from convflow.hw.errors import ConvflowError

SYNC = b"\xA5\x5A"
T_INFER, T_INFO = 0x01, 0x02                      # host -> board
T_RESULT, T_INFO_REPLY, T_ERROR = 0x81, 0x82, 0xEE  # board -> host
ERRORS = {1: "bad CRC", 2: "bad length", 3: "unknown frame type", 4: "time-out inside a frame",
          5: "busy (no free frame slot)"}
E_CRC, E_LENGTH, E_TYPE, E_TIMEOUT, E_BUSY = 1, 2, 3, 4, 5
PROTOCOL_VERSION = 2
HEADER = 7          # sync (2) + type (1) + sequence number (2) + length (2)
TRAILER = 2         # CRC-16
NO_SEQ = 0xFFFF     # the sequence number of an ERROR whose frame's header cannot be trusted; never used by a host
SEQ_SPACE = 0xFFFF  # host sequence numbers run 0 .. 0xFFFE
INFO_LEN = 28
RESULT_TRAILER = 8  # latency cycles (u32) + busy cycles (u32) after a RESULT's elements


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, MSB first, no final xor (binascii.crc_hqx; the check
    value of b'123456789' is 0x29B1)."""
    return binascii.crc_hqx(bytes(data), crc)


def encode_frame(ftype: int, payload: bytes = b"", seq: int = 0) -> bytes:
    """SYNC | TYPE | SEQ (u16 LE) | LEN (u16 LE) | PAYLOAD | CRC (u16 LE, over TYPE..PAYLOAD)."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame (max 65535)")
    body = bytes([ftype]) + int(seq).to_bytes(2, "little") + len(payload).to_bytes(2, "little") + bytes(payload)
    return SYNC + body + crc16(body).to_bytes(2, "little")


def elem_bytes(bits: int) -> int:
    return (bits + 7) // 8


def pack_elements(values, bits: int, signed: bool) -> bytes:
    """Each element as ceil(bits/8) little-endian bytes, two's complement; values must be in range."""
    v = np.asarray(values).astype(np.int64).ravel()
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"element out of range for a {'signed' if signed else 'unsigned'} {bits}-bit input")
    nb = elem_bytes(bits)
    return v.astype("<i8").view(np.uint8).reshape(-1, 8)[:, :nb].tobytes()


def unpack_elements(data: bytes, bits: int, signed: bool) -> np.ndarray:
    nb = elem_bytes(bits)
    if len(data) % nb:
        raise ValueError(f"{len(data)} bytes is not a whole number of {nb}-byte elements")
    raw = np.zeros((len(data) // nb, 8), dtype=np.uint8)
    raw[:, :nb] = np.frombuffer(bytes(data), dtype=np.uint8).reshape(-1, nb)
    out = raw.view("<i8").ravel() & ((1 << bits) - 1)
    if signed:
        out = np.where(out >= (1 << (bits - 1)), out - (1 << bits), out)
    return out.astype(np.int64)


def infer_frame(values, bits: int, signed: bool, seq: int = 0) -> bytes:
    return encode_frame(T_INFER, pack_elements(values, bits, signed), seq)


def info_frame(seq: int = 0) -> bytes:
    return encode_frame(T_INFO, b"", seq)


@dataclass
class Frame:
    ftype: int
    seq: int
    payload: bytes

    @property
    def error(self) -> str | None:
        if self.ftype != T_ERROR:
            return None
        code = self.payload[0] if self.payload else 0
        return ERRORS.get(code, f"error code {code}")

    @property
    def error_code(self) -> int | None:
        return (self.payload[0] if self.payload else 0) if self.ftype == T_ERROR else None


@dataclass
class BoardInfo:
    version: int
    in_bits: int
    in_signed: bool
    out_bits: int
    out_signed: bool
    in_bytes: int
    out_bytes: int
    window: int
    in_elems: int
    out_elems: int
    design_id: int
    clock_khz: int
    clks_per_bit: int

    @property
    def infer_frame_bytes(self) -> int:
        return HEADER + self.in_elems * self.in_bytes + TRAILER

    @property
    def result_frame_bytes(self) -> int:
        return HEADER + self.out_elems * self.out_bytes + RESULT_TRAILER + TRAILER


def decode_info(payload: bytes) -> BoardInfo:
    if len(payload) < 1 or payload[0] != PROTOCOL_VERSION:
        version = payload[0] if payload else None
        raise BoardError(f"the board speaks UART protocol version {version}, this convflow speaks "
                         f"{PROTOCOL_VERSION}: rebuild the bitstream (convflow build) and program it (convflow flash)")
    if len(payload) != INFO_LEN:
        raise BoardError(f"INFO reply has {len(payload)} bytes, protocol {PROTOCOL_VERSION} has {INFO_LEN}")
    u32 = lambda i: int.from_bytes(payload[i:i + 4], "little")   # noqa: E731
    return BoardInfo(version=payload[0], in_bits=payload[1], in_signed=bool(payload[2]), out_bits=payload[3],
                     out_signed=bool(payload[4]), in_bytes=payload[5], out_bytes=payload[6], window=payload[7],
                     in_elems=u32(8), out_elems=u32(12), design_id=u32(16), clock_khz=u32(20),
                     clks_per_bit=int.from_bytes(payload[24:26], "little"))


@dataclass
class Result:
    seq: int
    values: np.ndarray
    latency_cycles: int
    busy_cycles: int


def decode_result(frame: Frame, info: BoardInfo) -> Result:
    n = info.out_elems * info.out_bytes
    if len(frame.payload) != n + RESULT_TRAILER:
        raise BoardError(f"RESULT has {len(frame.payload)} payload bytes, this design sends {n + RESULT_TRAILER}")
    trailer = frame.payload[n:]
    return Result(frame.seq, unpack_elements(frame.payload[:n], info.out_bits, info.out_signed),
                  int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:8], "little"))


class FrameParser:
    """Feed it bytes as they arrive; it returns the complete frames with a good CRC.  Bytes that are not part of a good
    frame are dropped (counted in `dropped`) and the parser hunts for the next sync pair, as the board does."""

    def __init__(self, max_payload: int = 0xFFFF):
        self.buf = bytearray()
        self.max_payload = max_payload
        self.dropped = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while True:
            i = self.buf.find(SYNC)
            if i < 0:
                keep = 1 if self.buf.endswith(SYNC[:1]) else 0
                self.dropped += len(self.buf) - keep
                del self.buf[:len(self.buf) - keep]
                return frames
            self.dropped += i
            del self.buf[:i]
            if len(self.buf) < HEADER:
                return frames
            n = int.from_bytes(self.buf[5:7], "little")
            if n > self.max_payload:
                self.dropped += 1
                del self.buf[:1]
                continue
            if len(self.buf) < HEADER + n + TRAILER:
                return frames
            body = bytes(self.buf[2:HEADER + n])
            crc = int.from_bytes(self.buf[HEADER + n:HEADER + n + TRAILER], "little")
            if crc == crc16(body):
                frames.append(Frame(body[0], int.from_bytes(body[1:3], "little"), body[5:]))
                del self.buf[:HEADER + n + TRAILER]
            else:
                self.dropped += 1
                del self.buf[:1]


class BoardError(ConvflowError):
    """The board answered with something unusable, or not at all."""


@dataclass
class _Pending:
    index: int
    frame: bytes
    sent_at: float = 0.0
    first_order: int = 0    # transmission counter at the first send still possibly in flight
    order: int = 0          # ... and at the last send: the board answers in arrival order
    tries: int = 0
    retry_at: float | None = None   # after a BUSY: resend at this time


@dataclass
class LinkStats:
    frames: int = 0
    sent: int = 0
    resent: int = 0
    duplicates: int = 0
    errors: dict = field(default_factory=dict)
    dropped_bytes: int = 0
    seconds: float = 0.0
    bytes_out: int = 0
    bytes_in: int = 0


class Link:
    """The host side of protocol 2 over a byte stream: ``port`` has write(bytes), read(n) -> bytes (returning early,
    possibly with b"", after its own short read time-out) and optionally in_waiting -- a pyserial port opened with
    e.g. ``timeout=0.005``.  ``name`` (the device path) goes into every error message.

    ``infer`` keeps up to ``window`` INFERs in flight (the board's window from its INFO reply, at most), matches
    RESULTs to frames by sequence number, drops duplicates, resends a frame when a later one was answered first (the
    board answers in arrival order, so the earlier one was lost), when the board was busy, or when its answer is
    overdue (an adaptive time-out, like TCP's, at least ``min_rto`` seconds), at most ``retries`` times per frame.  A link that stays silent for
    ``timeout`` seconds while answers are owed ends in BoardError naming the port."""

    def __init__(self, port, *, name: str = "the serial port", timeout: float = 5.0, retries: int = 16,
                 min_rto: float = 0.25):
        self.port, self.name = port, name
        self.timeout, self.retries, self.min_rto = float(timeout), int(retries), float(min_rto)
        self.parser = FrameParser()
        self.seq = 0
        self.order = 0
        self.srtt = None
        self.rttvar = 0.0
        self.stats = LinkStats()

    # ---- bytes ----
    def _write(self, data: bytes):
        self.port.write(data)
        self.stats.bytes_out += len(data)

    def _read(self) -> list[Frame]:
        waiting = getattr(self.port, "in_waiting", 0) or 1
        data = self.port.read(waiting)
        if data:
            self.stats.bytes_in += len(data)
        before = self.parser.dropped
        frames = self.parser.feed(data)
        self.stats.dropped_bytes += self.parser.dropped - before
        return frames, bool(data)

    def _next_seq(self) -> int:
        s = self.seq
        self.seq = (self.seq + 1) % SEQ_SPACE
        return s

    @property
    def rto(self) -> float:
        if self.srtt is None:
            return max(self.min_rto, min(1.0, self.timeout / 4))
        # conservative: the timer only catches a lost last frame or a lost burst (later answers reveal the rest), and
        # a spurious resend costs a whole frame's time on the line (measured: a 20 ms floor on a loaded 2-core
        # machine resent 3 of every 4 frames of the simulated board and cut its frame rate to a sixth)
        return max(self.min_rto, 2 * self.srtt + 4 * self.rttvar)

    def _rtt_sample(self, rtt: float):
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def _silent(self) -> BoardError:
        return BoardError(f"no answer from the board on {self.name} within {self.timeout:g} s: is it connected, "
                          "programmed with this artifact's bitstream (convflow flash) and at the baud rate the "
                          "bitstream was built for?")

    # ---- requests ----
    def info(self) -> BoardInfo:
        """INFO, retried until answered (or ``timeout`` passes)."""
        seq = self._next_seq()
        frame = info_frame(seq)
        self.parser.max_payload = INFO_LEN           # a corrupted length must not make the parser wait for more
        start = time.monotonic()
        deadline = start + self.timeout
        while time.monotonic() < deadline:
            self._write(frame)
            sent = time.monotonic()
            retry = sent + min(0.25, self.timeout / 4)
            while time.monotonic() < min(retry, deadline):
                frames, _ = self._read()
                for f in frames:
                    if f.ftype == T_INFO_REPLY and f.seq == seq:
                        self._rtt_sample(time.monotonic() - sent)
                        return decode_info(f.payload)
        raise self._silent()

    def infer(self, payloads: list, info: BoardInfo, window: int | None = None, on_result=None) -> list[Result]:
        """One INFER per payload (packed input elements); returns the Results in order.  ``on_result(i)`` is
        called as results arrive (for progress bars).

        Loss detection, as in TCP: the board answers frames in the order they arrived, so when a frame is answered,
        every frame sent before its first transmission and not answered was lost: resend it at once.  When nothing
        is answered for a retransmission time-out (smoothed service time + 4 deviations, doubled on each expiry),
        the oldest frame is resent.  BUSY answers are retried after half a time-out."""
        n = len(payloads)
        window = max(1, min(int(window or info.window), info.window))
        self.parser.max_payload = max(INFO_LEN, info.out_elems * info.out_bytes + RESULT_TRAILER)
        results: list = [None] * n
        outstanding: dict[int, _Pending] = {}
        next_i, done = 0, 0
        t_start = last_heard = last_progress = time.monotonic()
        backoff = 1.0
        stats = self.stats

        def send(p: _Pending, now: float):
            if p.tries > self.retries:
                raise BoardError(f"frame #{p.index} was not answered by the board on {self.name} after "
                                 f"{self.retries} retries (errors seen: {stats.errors or 'none'}); the link is "
                                 "too noisy")
            self.order += 1
            if p.tries == 0:
                p.first_order = self.order
            else:
                stats.resent += 1
            p.order, p.sent_at, p.tries, p.retry_at = self.order, now, p.tries + 1, None
            stats.sent += 1
            self._write(p.frame)

        while done < n:
            now = time.monotonic()
            while next_i < n and len(outstanding) < window:
                seq = self._next_seq()
                p = _Pending(next_i, encode_frame(T_INFER, payloads[next_i], seq))
                outstanding[seq] = p
                send(p, now)
                next_i += 1
            frames, heard = self._read()
            now = time.monotonic()
            if heard:
                last_heard = now
            for f in frames:
                if f.ftype == T_RESULT:
                    p = outstanding.pop(f.seq, None)
                    if p is None:
                        stats.duplicates += 1            # an answer to a copy we already have, or stale
                        continue
                    results[p.index] = decode_result(f, info)
                    done += 1
                    if p.tries == 1:                     # service time: since it was sent or the last answer
                        self._rtt_sample(now - max(p.sent_at, last_progress))
                    last_progress, backoff = now, 1.0
                    if on_result:
                        on_result(p.index)
                    for q in outstanding.values():
                        if q.order < p.first_order and q.retry_at is None:
                            send(q, now)
                elif f.ftype == T_ERROR:
                    code = f.error_code
                    what = ERRORS.get(code, f"error code {code}")
                    stats.errors[what] = stats.errors.get(what, 0) + 1
                    q = outstanding.get(f.seq)
                    if code == E_BUSY and q is not None:   # refused, not lost: try again a little later
                        q.retry_at = now + self.rto / 2
                        q.first_order = self.order + 1     # nothing sent before now can prove it lost
            for q in list(outstanding.values()):
                if q.retry_at is not None and q.retry_at <= now:
                    send(q, now)
            if outstanding:
                head = min(outstanding.values(), key=lambda q: q.order)
                if head.retry_at is None and now - max(head.sent_at, last_progress) > self.rto * backoff:
                    send(head, now)
                    head.first_order = head.order
                    backoff = min(8.0, backoff * 2)
                if now - last_heard > self.timeout:
                    raise self._silent()
        stats.frames += n
        stats.seconds += time.monotonic() - t_start
        return results
