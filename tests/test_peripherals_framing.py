"""PIN pad link layer (docs/pinpad-protocol.md section 2): STX SEQ DATA ETX LRC."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware_sim.pinpad import frame as sim_frame
from terminal.peripherals.framing import (
    FS,
    FrameError,
    decode_body,
    encode_frame,
    lrc,
    message,
)

printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just(FS))


def test_known_frame_bytes() -> None:
    # STX '0' "ST" ETX, LRC = '0' ^ 'S' ^ 'T' ^ ETX = 0x30 ^ 0x53 ^ 0x54 ^ 0x03
    assert encode_frame(0, "ST") == bytes([0x02, 0x30, 0x53, 0x54, 0x03, 0x34])
    assert lrc(b"\x30\x53\x54\x03") == 0x34


def test_sequence_bit_and_fields() -> None:
    raw = encode_frame(1, message("DT", "HELLO", "WORLD"))
    assert raw[1] == ord("1")
    frame = decode_body(raw[1:-1], raw[-1])
    assert frame.seq == 1
    assert frame.fields == ["DT", "HELLO", "WORLD"]


@given(printable, st.integers(0, 1))
def test_round_trip_and_sim_agrees(data: str, seq: int) -> None:
    raw = encode_frame(seq, data)
    assert raw == sim_frame(seq, data)  # the simulator's independent encoder agrees
    frame = decode_body(raw[1:-1], raw[-1])
    assert (frame.seq, frame.data) == (seq, data)


@given(printable, st.integers(1, 255))
def test_any_lrc_change_is_caught(data: str, flip: int) -> None:
    raw = encode_frame(0, data)
    with pytest.raises(FrameError):
        decode_body(raw[1:-1], raw[-1] ^ flip)


def test_refuses_control_bytes_and_oversize() -> None:
    with pytest.raises(FrameError):
        encode_frame(0, "A\x03B")
    with pytest.raises(FrameError):
        encode_frame(0, "A" * 5000)
    body = b"0A\x02B\x03"
    with pytest.raises(FrameError, match="outside printable"):
        decode_body(body, lrc(body))
