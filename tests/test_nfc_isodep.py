"""ISO/IEC 14443-4 PICC block protocol of the simulated Type 4A card, without any I/O."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_sim.nfc_card import (
    IsoDepPicc,
    Process,
    build_ats,
    frame_size,
    frame_waiting_time,
)


class Pcd:
    """A reference PCD following ISO/IEC 14443-4 7.5.4.1 (rules A, B, 1-9) for the PICC tests."""

    def __init__(self, picc: IsoDepPicc, fsc: int = 256) -> None:
        self.picc = picc
        self.miu = fsc - 3
        self.pni = 0

    def exchange(self, apdu: bytes, answer) -> bytes:
        chunks = [apdu[i : i + self.miu] for i in range(0, len(apdu), self.miu)] or [b""]
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            result = self.picc.receive(bytes([0x02 | (0x10 if more else 0) | self.pni]) + chunk)
            if more:
                assert result == bytes([0xA2 | self.pni])  # R(ACK) with our block number
                self.pni ^= 1
        assert isinstance(result, Process)
        block = self.picc.respond(answer(result.apdu))
        response = b""
        while True:
            assert block[0] & 0xEE == 0x02 and block[0] & 1 == self.pni
            response += block[1:]
            self.pni ^= 1
            if not block[0] & 0x10:
                return response
            block = self.picc.receive(bytes([0xA2 | self.pni]))


def test_default_ats_announces_fsc_256_and_fwi_10() -> None:
    assert build_ats() == bytes.fromhex("0578 80A0 00")
    assert build_ats(fsci=5, fwi=7, historical=b"\x80") == bytes.fromhex("0675 8070 0080")
    assert frame_waiting_time(10) == pytest.approx(0.3093, abs=1e-4)
    assert [frame_size(i) for i in (0, 5, 8, 9, 15)] == [16, 64, 256, 384, 256]
    with pytest.raises(ValueError):
        build_ats(fwi=15)


def test_short_command_and_response_toggle_block_numbers() -> None:
    picc = IsoDepPicc()
    assert picc.receive(bytes.fromhex("02 00A4040000")) == Process(bytes.fromhex("00A4040000"))
    assert picc.respond(b"\x6a\x82") == bytes.fromhex("02 6A82")  # rule B: 1 -> 0
    assert picc.receive(bytes.fromhex("03 00B2010C00")) == Process(bytes.fromhex("00B2010C00"))
    assert picc.respond(b"\x90\x00") == bytes.fromhex("03 9000")


def test_presence_check_nak_gets_ack_and_same_number_nak_repeats_last_block() -> None:
    picc = IsoDepPicc()
    picc.receive(bytes.fromhex("02 80CA9F1700"))
    last = picc.respond(bytes.fromhex("9F170103 9000"))
    # R(NAK) carrying the PCD's next block number (1): rule 12 -> R(ACK) with ours (0)
    assert picc.receive(b"\xb3") == b"\xa2"
    # R(NAK) with our current number: rule 11 -> re-transmit the last I-block
    assert picc.receive(b"\xb2") == last
    assert picc.stats.naks_received == 2 and picc.stats.retransmissions == 1


def test_chained_response_uses_fsd_and_retransmits_on_same_number_ack() -> None:
    picc = IsoDepPicc(fsd=64)
    picc.receive(bytes.fromhex("02 00B2011400"))
    first = picc.respond(bytes(range(150)) + b"\x90\x00")
    assert first[0] == 0x12 and len(first) == 62  # chaining, FSD 64 - PCB - CRC = 61 INF
    assert picc.receive(b"\xa2") == first  # R(ACK) with the PICC's own number: rule 11
    second = picc.receive(b"\xa3")  # R(ACK) with the next number: rule 13
    assert second is not None and second[0] == 0x13 and second[1:] == bytes(range(61, 122))
    third = picc.receive(b"\xa2")
    assert third == bytes([0x02]) + bytes(range(122, 150)) + b"\x90\x00"
    assert picc.receive(b"\xa3") is None  # nothing left to chain: ignored


def test_cid_blocks_are_ignored_and_nad_is_stripped() -> None:
    picc = IsoDepPicc()
    assert picc.receive(bytes.fromhex("0A 00 00A40400")) is None  # CID follows: not supported
    assert picc.receive(bytes.fromhex("06 21 00A40400")) == Process(bytes.fromhex("00A40400"))
    assert picc.receive(b"") is None and picc.receive(b"\xf2\x01") is None
    assert picc.stats.ignored_blocks == 3


def test_deselect_is_answered_and_ends_the_activation() -> None:
    picc = IsoDepPicc()
    assert picc.receive(b"\xc2") == b"\xc2"
    assert picc.deselected


@settings(max_examples=60, deadline=None)
@given(
    command=st.binary(min_size=4, max_size=700),
    response_size=st.integers(min_value=2, max_value=1200),
    fsdi=st.integers(min_value=0, max_value=8),
    fsci=st.integers(min_value=0, max_value=8),
)
def test_chaining_reassembles_any_command_and_response(
    command: bytes, response_size: int, fsdi: int, fsci: int
) -> None:
    picc = IsoDepPicc(fsd=frame_size(fsdi))
    pcd = Pcd(picc, fsc=frame_size(fsci))
    answer = bytes(i % 251 for i in range(response_size))
    seen: list[bytes] = []

    def application(apdu: bytes) -> bytes:
        seen.append(apdu)
        return answer

    for _ in range(2):  # block numbering must stay in step across exchanges
        assert pcd.exchange(command, application) == answer
    assert seen == [command, command]
