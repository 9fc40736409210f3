"""Host side of the UART protocol (convflow.hw.flows.ecp5_protocol)."""
import numpy as np
import pytest

from convflow.hw.flows import ecp5_protocol as P


def test_crc_check_value():
    assert P.crc16(b"123456789") == 0x29B1            # CRC-16/CCITT-FALSE catalogue check value
    assert P.crc16(b"") == 0xFFFF


def test_frame_layout():
    f = P.encode_frame(P.T_INFER, b"\x01\x02\x03", seq=0x1234)
    assert f[:2] == b"\xA5\x5A" and f[2] == P.T_INFER and f[3:5] == b"\x34\x12" and f[5:7] == b"\x03\x00"
    assert f[7:10] == b"\x01\x02\x03" and len(f) == P.HEADER + 3 + P.TRAILER
    assert int.from_bytes(f[10:12], "little") == P.crc16(f[2:10])


@pytest.mark.parametrize("bits,signed", [(1, False), (4, True), (8, True), (8, False), (12, True), (17, False),
                                         (32, True)])
def test_pack_roundtrip(bits, signed):
    rng = np.random.default_rng(bits)
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    x = np.concatenate([[lo, hi - 1], rng.integers(lo, hi, 50)])
    data = P.pack_elements(x, bits, signed)
    assert len(data) == len(x) * ((bits + 7) // 8)
    np.testing.assert_array_equal(P.unpack_elements(data, bits, signed), x)


def test_pack_rejects_out_of_range():
    with pytest.raises(ValueError):
        P.pack_elements([128], 8, True)
    with pytest.raises(ValueError):
        P.pack_elements([-1], 8, False)


def test_parser_resyncs_and_splits():
    good = [P.encode_frame(P.T_RESULT, bytes([i] * i), seq=i) for i in range(1, 4)]
    bad = bytearray(P.encode_frame(P.T_RESULT, b"\x10\x20"))
    bad[-1] ^= 1
    stream = b"\x00\xA5\x11" + good[0] + bytes(bad) + b"\x5A\xA5" + good[1] + good[2]
    p = P.FrameParser()
    frames = []
    for i in range(0, len(stream), 3):               # arrives in pieces
        frames += p.feed(stream[i:i + 3])
    assert [f.payload for f in frames] == [bytes([i] * i) for i in range(1, 4)]
    assert [f.seq for f in frames] == [1, 2, 3]
    assert p.dropped > 0


def test_parser_length_bound():
    """A length beyond the longest valid frame is not waited for: the frames behind it still come out."""
    good = P.encode_frame(P.T_RESULT, b"\x01\x02", seq=9)
    p = P.FrameParser(max_payload=28)
    assert [f.seq for f in p.feed(b"\xA5\x5A\x81\x00\x00\xFF\x7F" + good)] == [9]


def test_error_and_info_decoding():
    assert P.Frame(P.T_ERROR, P.NO_SEQ, bytes([P.E_CRC])).error == "bad CRC"
    info = P.decode_info(bytes([2, 8, 1, 16, 1, 1, 2, 4]) + (784).to_bytes(4, "little") + (10).to_bytes(4, "little")
                         + (0xDEADBEEF).to_bytes(4, "little") + (25000).to_bytes(4, "little") + bytes([8, 0, 0, 0]))
    assert (info.in_elems, info.out_elems, info.design_id, info.out_bits, info.window, info.clock_khz,
            info.clks_per_bit) == (784, 10, 0xDEADBEEF, 16, 4, 25000, 8)
    assert info.infer_frame_bytes == 793 and info.result_frame_bytes == 7 + 20 + 8 + 2
    with pytest.raises(P.BoardError, match="version 1, this convflow speaks 2: rebuild"):
        P.decode_info(bytes([1, 8, 1, 16, 1, 1, 2, 0]) + bytes(12))


def test_documented_example():
    """docs/uart-protocol.md's example frame, byte for byte."""
    assert P.infer_frame([1, -2, 127], bits=8, signed=True, seq=5) == bytes.fromhex("A55A01050003 0001FE7F 1E69")
    assert P.crc16(bytes.fromhex("0105000300 01FE7F")) == 0x691E
