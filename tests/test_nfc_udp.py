"""End to end through nfcpy's UDP radio: NfcReader (reader) <-> NfcType4ACard (card).

Both ends are the real nfcpy code paths a PN532 would use (Type A polling, RATS, nfcpy's
ISO-DEP initiator); only the radio is a UDP socket on a free port per test.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emv.errors import CardRemovedError, CardTransportError
from hardware_sim.nfc_card import DEFAULT_UID, NfcCardSimError, NfcType4ACard
from terminal.readers.nfc import CardNotPresentedError, NfcReader, bench_nfc
from tests.net_support import silent_udp_port

pytestmark = pytest.mark.nfc

PPSE = b"2PAY.SYS.DDF01"
SELECT_PPSE = bytes.fromhex("00A404000E") + PPSE + b"\x00"
PPSE_FCI = bytes.fromhex(
    "6F23840E325041592E5359532E4444463031A511BF0C0E610C4F07A0000000031010870101"
)
BIG = bytes(i % 256 for i in range(600))


class DemoCard:
    """Answers SELECT PPSE, a 600-byte GET DATA, ECHO (INS EE, short or extended) and SLOW."""

    def __init__(self) -> None:
        self.power_ons = 0
        self.commands: list[bytes] = []

    def power_on(self) -> None:
        self.power_ons += 1

    def process(self, apdu: bytes) -> bytes:
        self.commands.append(apdu)
        ins = apdu[1]
        if apdu == SELECT_PPSE:
            return PPSE_FCI + b"\x90\x00"
        if ins == 0xCA:
            return BIG + b"\x90\x00"
        if ins == 0xEE:
            if len(apdu) > 7 and apdu[4] == 0:  # extended Lc (ISO 7816-4 5.1)
                size = int.from_bytes(apdu[5:7], "big")
                return apdu[7 : 7 + size] + b"\x90\x00"
            return apdu[5 : 5 + apdu[4]] + b"\x90\x00"
        if ins == 0x5A:
            time.sleep(1.0)  # longer than the card's FWT (~309 ms): needs S(WTX)
            return b"\x90\x00"
        if ins == 0xFF:
            raise RuntimeError("card firmware bug")
        return b"\x6d\x00"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Field:
    def __init__(self, **card_options: object) -> None:
        self.port = free_udp_port()
        self.card = DemoCard()
        self.sim = NfcType4ACard(self.card, "localhost", self.port, **card_options)  # type: ignore[arg-type]
        self.reader = NfcReader(f"udp:localhost:{self.port}")

    def __enter__(self) -> Field:
        self.sim.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.reader.close()
        finally:
            self.sim.stop()


@pytest.fixture
def field() -> Iterator[Field]:
    with Field() as f:
        f.reader.wait_for_card(5.0)
        yield f


def test_activation_answers_rats_and_powers_the_card(field: Field) -> None:
    assert field.reader.uid == DEFAULT_UID
    # the card counts the activation just after its ATS (see test_deselect_then_tap_again):
    # the answer to a first APDU proves the count has been made
    assert field.reader.transmit(SELECT_PPSE) == PPSE_FCI + b"\x90\x00"
    assert field.sim.stats.activations == 1
    assert field.card.power_ons == 1


def test_select_ppse_short_response(field: Field) -> None:
    assert field.reader.transmit(SELECT_PPSE) == PPSE_FCI + b"\x90\x00"
    assert field.card.commands == [SELECT_PPSE]
    stats = field.sim.stats.last_activation
    assert stats is not None and stats.i_blocks_sent == 1


def test_600_byte_response_is_chained_in_three_blocks(field: Field) -> None:
    assert field.reader.transmit(bytes.fromhex("80CA9F7F00")) == BIG + b"\x90\x00"
    stats = field.sim.stats.last_activation
    assert stats is not None
    assert (stats.i_blocks_sent, stats.acks_received) == (3, 2)  # 253 + 253 + 96 bytes


def test_chained_commands_short_and_extended(field: Field) -> None:
    data = bytes(range(255))
    assert field.reader.transmit(bytes.fromhex("00EE0000FF") + data) == data + b"\x90\x00"
    big = bytes(i * 7 % 256 for i in range(500))
    extended = bytes.fromhex("00EE0000 0001F4") + big
    assert field.reader.transmit(extended) == big + b"\x90\x00"
    stats = field.sim.stats.last_activation
    assert stats is not None and stats.acks_sent == 3  # 1 + 2 R(ACK)s for the command chains
    assert field.card.commands == [bytes.fromhex("00EE0000FF") + data, extended]


def test_presence_check_keeps_block_numbering(field: Field) -> None:
    assert field.reader.card_present()
    assert field.reader.card_present()
    stats = field.sim.stats.last_activation
    assert stats is not None and stats.naks_received == 2
    assert field.reader.transmit(SELECT_PPSE) == PPSE_FCI + b"\x90\x00"


def test_deselect_then_tap_again(field: Field) -> None:
    field.reader.transmit(SELECT_PPSE)
    first = field.sim.stats.last_activation
    field.reader.deselect()
    assert first is not None and first.deselected
    with pytest.raises(CardTransportError, match="No contactless card is active"):
        field.reader.transmit(SELECT_PPSE)
    field.reader.wait_for_card(5.0)
    # the card answers RATS before it counts the activation (nfcpy waits only 30 ms for the
    # ATS): its answer to the first APDU is what proves the count has been made
    assert field.reader.transmit(SELECT_PPSE) == PPSE_FCI + b"\x90\x00"
    assert field.sim.stats.activations == 2 and field.card.power_ons == 2


def test_card_removed_mid_transaction_raises_card_removed() -> None:
    with Field(remove_after_apdus=2) as f:
        f.reader.wait_for_card(5.0)
        f.reader.transmit(SELECT_PPSE)
        f.reader.transmit(bytes.fromhex("80CA9F7F00"))
        with pytest.raises(CardRemovedError, match="left the reader field"):
            f.reader.transmit(SELECT_PPSE)
        assert f.sim.removed
        assert not f.reader.card_present()
        assert f.card.commands == [SELECT_PPSE, bytes.fromhex("80CA9F7F00")]
        f.sim.stop()
        f.sim.start()  # the cardholder taps again
        f.reader.wait_for_card(5.0)
        assert f.reader.transmit(SELECT_PPSE) == PPSE_FCI + b"\x90\x00"
        assert f.card.power_ons == 2


def test_no_card_in_field_gives_a_clear_timeout() -> None:
    with silent_udp_port() as port:
        reader = NfcReader(f"udp:localhost:{port}")
        try:
            with pytest.raises(CardNotPresentedError, match=r"No contactless card was presented"):
                reader.wait_for_card(0.2)
        finally:
            reader.close()


def test_slow_card_asks_for_waiting_time_extension(field: Field) -> None:
    assert field.reader.transmit(bytes.fromhex("805A0000")) == b"\x90\x00"
    assert field.sim.stats.wtx_sent >= 1
    assert field.reader.transmit(SELECT_PPSE) == PPSE_FCI + b"\x90\x00"


def test_card_application_crash_answers_6f00(field: Field) -> None:
    assert field.reader.transmit(bytes.fromhex("80FF0000")) == b"\x6f\x00"
    assert field.sim.stats.card_errors == ["RuntimeError: card firmware bug"]


def test_transmit_without_activation_is_a_clear_error() -> None:
    with pytest.raises(CardTransportError, match="call wait_for_card"):
        NfcReader("udp:localhost:9").transmit(SELECT_PPSE)


@pytest.mark.parametrize("path", ["usb", "tty:AMA0:pn532", "nonsense"])
def test_missing_device_says_how_to_fix_it(path: str) -> None:
    reader = NfcReader(path)
    with pytest.raises(CardTransportError) as caught:
        reader.wait_for_card(0.1)
    message = str(caught.value)
    assert f"No NFC device at '{path}'" in message and "docs/hardware-nfc.md" in message


def test_card_port_in_use_is_reported() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("0.0.0.0", 0))
        sim = NfcType4ACard(DemoCard(), "localhost", busy.getsockname()[1])
        with pytest.raises(NfcCardSimError, match="already in use"):
            sim.start()


def test_bench_nfc_reports_figures() -> None:
    result = bench_nfc(20)
    assert result.apdus == 20 and result.response_bytes == 18
    assert result.apdus_per_second > 0 and result.median_ms > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_echo_any_size_through_the_udp_radio(data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(min_value=0, max_value=255), min_size=1, max_size=4))
    with Field() as f:
        f.reader.wait_for_card(5.0)
        for size in sizes:
            payload = data.draw(st.binary(min_size=size, max_size=size))
            apdu = bytes.fromhex("00EE0000") + bytes([size]) + payload
            assert f.reader.transmit(apdu) == payload + b"\x90\x00"


# --- whole contactless taps (Entry Point + kernels) through the nfcpy path ----------------


class TearAfter:
    """In-process reference transport whose card leaves after ``answered`` APDUs."""

    def __init__(self, card: object, answered: int) -> None:
        from hardware_sim.contactless import InProcessTransport

        self.inner = InProcessTransport(card)  # type: ignore[arg-type]
        self.left = answered

    def transmit(self, apdu: bytes) -> bytes:
        if self.left == 0:
            raise CardRemovedError("the card left the field")
        self.left -= 1
        return self.inner.transmit(apdu)


@pytest.mark.parametrize(
    ("profile", "remove_after"),
    [("visa_qvsdc", None), ("mastercard", None), ("visa_qvsdc", 3)],
)
def test_tap_over_udp_matches_the_in_process_tap(profile: str, remove_after: int | None) -> None:
    from hardware_sim.contactless import load_contactless_card
    from tests.contactless_helpers import tap_once

    reference, _ = tap_once(TearAfter(load_contactless_card(profile), remove_after or 99), 1000)
    port = free_udp_port()
    sim = NfcType4ACard(
        load_contactless_card(profile), "localhost", port, remove_after_apdus=remove_after
    )
    sim.start()
    reader = NfcReader(f"udp:localhost:{port}")
    try:
        reader.wait_for_card(5.0)
        result, _ = tap_once(reader, 1000)
    finally:
        reader.close()
        sim.stop()
    assert result == reference
    assert sim.stats.apdus == (remove_after or reference.apdu_count)


def test_restarted_terminal_can_poll_a_card_left_mid_activation() -> None:
    with Field() as f:
        f.reader.wait_for_card(5.0)
        f.reader.transmit(SELECT_PPSE)
        # The terminal dies without switching its field off; a new process polls again.
        again = NfcReader(f"udp:localhost:{f.port}")
        try:
            assert again.wait_for_card(5.0) == DEFAULT_UID
            assert again.transmit(SELECT_PPSE) == PPSE_FCI + b"\x90\x00"
        finally:
            again.close()
        assert f.sim.stats.activations == 2


class MifareLikeCard(NfcType4ACard):
    """Answers anticollision with SAK 00 (no ISO/IEC 14443-4), like a MIFARE Ultralight."""

    def _local_target(self):  # type: ignore[no-untyped-def]
        target = super()._local_target()
        target.sel_res = bytearray([0x00])
        return target


def test_card_without_iso14443_4_is_refused_with_a_clear_message() -> None:
    port = free_udp_port()
    sim = MifareLikeCard(DemoCard(), "localhost", port)
    sim.start()
    reader = NfcReader(f"udp:localhost:{port}")
    try:
        with pytest.raises(CardNotPresentedError, match="not a contactless payment card"):
            reader.wait_for_card(0.2)
    finally:
        reader.close()
        sim.stop()
    assert sim.stats.activations == 0
