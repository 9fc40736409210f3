"""Host side of the board top's UART protocol (docs/uart-protocol.md): frame encoding, CRC, element packing and an
incremental frame parser that resynchronises on garbage.  Pure Python + numpy, so a pyserial driver, the rtlsim
harness and the tests all speak the protocol through this one module."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convflow.hw.errors import ConvflowError

SYNC = b"\xA5\x5A"
T_INFER, T_INFO = 0x01, 0x02                      # host -> board
T_RESULT, T_INFO_REPLY, T_ERROR = 0x81, 0x82, 0xEE  # board -> host
ERRORS = {1: "bad CRC", 2: "bad length", 3: "unknown frame type", 4: "time-out inside a frame", 5: "busy"}
E_CRC, E_LENGTH, E_TYPE, E_TIMEOUT, E_BUSY = 1, 2, 3, 4, 5
PROTOCOL_VERSION = 1
HEADER = 5     # sync (2) + type (1) + length (2)
TRAILER = 2    # CRC-16


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, MSB first, no final xor (check value of b'123456789'
    is 0x29B1)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def encode_frame(ftype: int, payload: bytes = b"") -> bytes:
    """SYNC | TYPE | LEN (u16 LE) | PAYLOAD | CRC (u16 LE, over TYPE..PAYLOAD)."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame (max 65535)")
    body = bytes([ftype]) + len(payload).to_bytes(2, "little") + bytes(payload)
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
    u = v & ((1 << (8 * nb)) - 1)
    return b"".join(int(x).to_bytes(nb, "little") for x in u)


def unpack_elements(data: bytes, bits: int, signed: bool) -> np.ndarray:
    nb = elem_bytes(bits)
    if len(data) % nb:
        raise ValueError(f"{len(data)} bytes is not a whole number of {nb}-byte elements")
    out = np.array([int.from_bytes(data[i:i + nb], "little") for i in range(0, len(data), nb)], dtype=np.int64)
    out &= (1 << bits) - 1
    if signed:
        out = np.where(out >= (1 << (bits - 1)), out - (1 << bits), out)
    return out


def infer_frame(values, bits: int, signed: bool) -> bytes:
    return encode_frame(T_INFER, pack_elements(values, bits, signed))


def info_frame() -> bytes:
    return encode_frame(T_INFO)


@dataclass
class Frame:
    ftype: int
    payload: bytes

    @property
    def error(self) -> str | None:
        if self.ftype != T_ERROR:
            return None
        code = self.payload[0] if self.payload else 0
        return ERRORS.get(code, f"error code {code}")


@dataclass
class BoardInfo:
    version: int
    in_bits: int
    in_signed: bool
    out_bits: int
    out_signed: bool
    in_elems: int
    out_elems: int
    design_id: int


def decode_info(payload: bytes) -> BoardInfo:
    if len(payload) != 20:
        raise ValueError(f"INFO payload has {len(payload)} bytes, expected 20")
    return BoardInfo(version=payload[0], in_bits=payload[1], in_signed=bool(payload[2]), out_bits=payload[3],
                     out_signed=bool(payload[4]), in_elems=int.from_bytes(payload[8:12], "little"),
                     out_elems=int.from_bytes(payload[12:16], "little"),
                     design_id=int.from_bytes(payload[16:20], "little"))


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
            n = int.from_bytes(self.buf[3:5], "little")
            if n > self.max_payload:
                self.dropped += 1
                del self.buf[:1]
                continue
            if len(self.buf) < HEADER + n + TRAILER:
                return frames
            body = bytes(self.buf[2:HEADER + n])
            crc = int.from_bytes(self.buf[HEADER + n:HEADER + n + TRAILER], "little")
            if crc == crc16(body):
                frames.append(Frame(body[0], body[3:]))
                del self.buf[:HEADER + n + TRAILER]
            else:
                self.dropped += 1
                del self.buf[:1]


class BoardError(ConvflowError):
    """The board answered with an ERROR frame, or not at all."""


class Client:
    """Stop-and-wait requests over a byte stream: `port` is anything with write(bytes) and read(n) -> bytes that
    returns b"" (or fewer bytes) when its own read time-out passes, e.g. serial.Serial(path, baud, timeout=0.1)."""

    def __init__(self, port, timeout: float = 5.0):
        self.port = port
        self.timeout = timeout
        self.parser = FrameParser()

    def request(self, frame: bytes) -> Frame:
        import time
        self.port.write(frame)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            waiting = getattr(self.port, "in_waiting", 0) or 1
            got = self.parser.feed(self.port.read(waiting))
            if got:
                if len(got) > 1:
                    raise BoardError(f"{len(got)} frames answered one request: {[hex(f.ftype) for f in got]}")
                if got[0].ftype == T_ERROR:
                    raise BoardError(f"board answered ERROR: {got[0].error}")
                return got[0]
        raise BoardError(f"no answer from the board within {self.timeout:g} s")

    def info(self) -> BoardInfo:
        reply = self.request(info_frame())
        if reply.ftype != T_INFO_REPLY:
            raise BoardError(f"INFO answered with frame type {reply.ftype:#x}")
        return decode_info(reply.payload)

    def infer(self, x, info: BoardInfo) -> np.ndarray:
        """One input frame (in_elems values) -> the out_elems output values."""
        reply = self.request(infer_frame(x, info.in_bits, info.in_signed))
        if reply.ftype != T_RESULT:
            raise BoardError(f"INFER answered with frame type {reply.ftype:#x}")
        return unpack_elements(reply.payload, info.out_bits, info.out_signed)
