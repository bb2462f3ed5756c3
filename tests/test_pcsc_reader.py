"""PcscReader through a real pcscd and vsmartcard vpcd, with an in-test card."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emv.apdu import ApduChannel, CommandApdu, get_data, select_by_name
from emv.errors import CardRemovedError, CardTransportError
from emv.tlv import decode_single
from hardware_sim.pcscd import EchoCard, PcscDaemon, bench_pcsc, wait_card_presence
from terminal.readers.pcsc import NoCardError, PcscReader, list_pcsc_readers, pcsc_reader_states
from tests import pcsc_harness
from tests.pcsc_harness import TINY_AID, TinyCard, VpcdSlot

pcsc_daemon = pcsc_harness.pcsc_daemon  # shared session fixtures
vpcd_slot = pcsc_harness.vpcd_slot

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcscd")]


def test_lists_both_vpcd_slots(pcsc_daemon: PcscDaemon) -> None:
    readers = list_pcsc_readers()
    assert readers.reason is None
    assert "POS Sim 00 00" in readers
    assert "POS Sim 00 01" in readers
    assert pcsc_daemon.reader_names == ["POS Sim 00 00", "POS Sim 00 01"]


def test_reader_states_show_card_and_atr(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot.insert(TinyCard())
    states, reason = pcsc_reader_states()
    assert reason is None
    by_name = {s.name: s for s in states}
    assert by_name["POS Sim 00 00"].card_present is True
    assert by_name["POS Sim 00 00"].atr == bytes.fromhex("3B80800101")
    assert by_name["POS Sim 00 01"].card_present is False
    assert by_name["POS Sim 00 01"].atr == b""
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        states, _ = pcsc_reader_states()
        assert {s.name: s for s in states}["POS Sim 00 00"].in_use is True


def test_wait_for_card_returns_atr_and_powers_card(vpcd_slot: VpcdSlot) -> None:
    card = TinyCard()
    vpcd_slot.insert(card)
    with PcscReader("POS Sim 00 00") as reader:
        assert reader.wait_for_card(10) == bytes.fromhex("3B80800101")
        assert reader.protocol_name == "T=1"
        assert reader.interface == "contact"
    assert card.power_ons >= 1


def test_select_round_trip_returns_fci(vpcd_slot: VpcdSlot) -> None:
    card = TinyCard()
    vpcd_slot.insert(card)
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        channel = ApduChannel(reader)
        response = channel.send(select_by_name(TINY_AID))
        assert response.sw == 0x9000
        assert response.data == TinyCard.fci()
        assert decode_single(response.data, 0x6F).tag == 0x6F
        not_found = channel.send(select_by_name(bytes.fromhex("A0000000041010")))
        assert not_found.sw == 0x6A82
    assert card.commands[0] == bytes.fromhex("00A4040007A000000003101000")


def test_61xx_fetched_with_get_response(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot.insert(TinyCard())
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        channel = ApduChannel(reader)
        response = channel.send(get_data(0x9F36))
        assert response.sw == 0x9000
        assert response.data == bytes.fromhex("9F3602002A")
        assert [e.command.hex().upper() for e in channel.trace] == ["80CA9F3600", "00C0000005"]
        assert channel.trace[0].response == bytes.fromhex("6105")


def test_t0_only_card_negotiates_t0_and_keeps_the_61xx_flow(vpcd_slot: VpcdSlot) -> None:
    """ATR without TD1 means T=0 only (ISO/IEC 7816-3 8.2.3); SCardConnect(T0|T1) picks T=0."""
    t0_atr = bytes.fromhex("3B6500002063CB6600")
    vpcd_slot.insert(TinyCard(atr=t0_atr))
    with PcscReader("POS Sim 00 00") as reader:
        assert reader.wait_for_card(10) == t0_atr
        assert reader.protocol_name == "T=0"
        channel = ApduChannel(reader)
        response = channel.send(get_data(0x9F36))
        assert (response.data, response.sw) == (bytes.fromhex("9F3602002A"), 0x9000)
        assert [e.command.hex().upper() for e in channel.trace] == ["80CA9F3600", "00C0000005"]


def test_6cxx_reissued_with_exact_le(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot.insert(TinyCard())
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        channel = ApduChannel(reader)
        response = channel.send(get_data(0x9F17))
        assert (response.data, response.sw) == (bytes.fromhex("9F170103"), 0x9000)
        assert [e.command.hex().upper() for e in channel.trace] == ["80CA9F1700", "80CA9F1704"]


def test_255_byte_command_and_257_byte_response(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot.insert(TinyCard())
    payload = bytes(range(255))
    with PcscReader("POS Sim") as reader:
        assert reader.reader_name == "POS Sim 00 00"  # prefix picks the first slot
        reader.wait_for_card(10)
        raw = reader.transmit(CommandApdu(0x00, 0xEE, 0, 0, payload, 0).to_bytes())
    assert raw == payload + b"\x90\x00"


def test_card_pulled_mid_exchange_raises_card_removed(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot.insert(TinyCard(), remove_after_apdus=1)
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        channel = ApduChannel(reader)
        assert channel.send(select_by_name(TINY_AID)).sw == 0x9000
        with pytest.raises(CardRemovedError, match="left reader 'POS Sim 00 00'"):
            channel.send(get_data(0x9F36))
        wait_card_presence("POS Sim 00 00", False, 15)
        with pytest.raises(CardTransportError, match="No card is connected"):
            reader.transmit(bytes.fromhex("00EE000000"))


def test_transmit_after_removal_raises_card_removed(vpcd_slot: VpcdSlot) -> None:
    connector = vpcd_slot.insert(TinyCard())
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        vpcd_slot.remove(connector)
        with pytest.raises(CardRemovedError):
            reader.transmit(select_by_name(TINY_AID).to_bytes())


def test_card_reinserted_after_removal_is_powered_again(vpcd_slot: VpcdSlot) -> None:
    first = TinyCard()
    connector = vpcd_slot.insert(first)
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        vpcd_slot.remove(connector)
        with pytest.raises(CardRemovedError):
            reader.transmit(select_by_name(TINY_AID).to_bytes())
        second = TinyCard(atr=bytes.fromhex("3B8F8001804F0CA000000306030001000000006A"))
        vpcd_slot.insert(second)
        assert reader.wait_for_card(10) == second.atr
        assert reader.transmit(select_by_name(TINY_AID).to_bytes())[-2:] == b"\x90\x00"
    assert second.power_ons >= 1


def test_no_card_times_out_with_clear_error(pcsc_daemon: PcscDaemon) -> None:
    with PcscReader("POS Sim 00 01") as reader:
        with pytest.raises(NoCardError) as caught:
            reader.wait_for_card(0.3)
    assert str(caught.value) == (
        "No card was inserted in reader 'POS Sim 00 01' within 0.3 s; "
        "present the card and try again."
    )


def test_wrong_reader_name_lists_connected_readers(pcsc_daemon: PcscDaemon) -> None:
    with pytest.raises(CardTransportError) as caught:
        PcscReader("ACS ACR38U")
    assert str(caught.value) == (
        "No PC/SC reader named 'ACS ACR38U'; connected readers: POS Sim 00 00, POS Sim 00 01."
    )


def test_card_software_crash_answers_6f00(vpcd_slot: VpcdSlot) -> None:
    class Crashing(EchoCard):
        def process(self, apdu: bytes) -> bytes:
            raise RuntimeError("simulated card bug")

    vpcd_slot.insert(Crashing())
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        assert reader.transmit(bytes.fromhex("00A4040000")) == b"\x6f\x00"


def test_contactless_interface_is_recorded_and_validated(pcsc_daemon: PcscDaemon) -> None:
    with PcscReader("POS Sim 00 01", interface="contactless") as reader:
        assert reader.interface == "contactless"
        with pytest.raises(NoCardError, match="presented to reader"):
            reader.wait_for_card(0.2)
    with pytest.raises(ValueError):
        PcscReader("POS Sim 00 01", interface="magstripe")


def test_bench_function_moves_apdus(pcsc_daemon: PcscDaemon) -> None:
    rate = bench_pcsc(20, daemon=pcsc_daemon, slot=0)
    assert rate > 0


class _RecordingEcho(EchoCard):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def process(self, apdu: bytes) -> bytes:
        self.received.append(apdu)
        return super().process(apdu)


@pytest.fixture(scope="module")
def echo_reader(pcsc_daemon: PcscDaemon) -> Iterator[tuple[PcscReader, _RecordingEcho]]:
    """An echo card in slot 1 for the whole module (insertion costs ~0.3 s, not per example)."""
    card = _RecordingEcho()
    slot = VpcdSlot(pcsc_daemon, slot=1)
    slot.insert(card)
    reader = PcscReader(slot.reader)
    try:
        reader.wait_for_card(10)
        yield reader, card
    finally:
        reader.close()
        slot.remove()


@given(
    ins=st.integers(0, 0xFF).filter(lambda i: i & 0xF0 not in (0x60, 0x90)),
    data=st.binary(min_size=0, max_size=255),
    le=st.none() | st.integers(0, 0xFF),
)
@settings(max_examples=80, deadline=None)
def test_any_short_apdu_crosses_pcscd_and_vpcd_unchanged(
    echo_reader: tuple[PcscReader, _RecordingEcho], ins: int, data: bytes, le: int | None
) -> None:
    """Framing property: every short APDU reaches the card byte for byte, and back."""
    reader, card = echo_reader
    card.received.clear()
    command = CommandApdu(0x80, ins, 0x01, 0x02, data, le).to_bytes()
    assert reader.transmit(command) == data + b"\x90\x00"
    assert card.received == [command]
