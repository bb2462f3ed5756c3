"""Entry Point (Book B): pre-processing, combination selection, torn taps, collisions."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest

from emv import tlv
from emv.contactless.config import parse_config
from emv.contactless.entry_point import Transaction, pre_process
from emv.contactless.outcome import ContactlessMessage as CM
from emv.contactless.outcome import OutcomeStatus
from emv.ports import Message as M
from hardware_sim.contactless import InProcessTransport, load_contactless_card
from hardware_sim.contactless.card import ContactlessCard
from tests.contactless_helpers import USD, entry_point


def raw_config() -> dict[str, Any]:
    text = resources.files("emv.contactless.data").joinpath("default_config.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def visa_combo(**changes: Any) -> Any:
    raw = raw_config()
    raw["combinations"][0].update(changes)
    cfg = parse_config(raw)
    return cfg, cfg.combinations[0]


# --- pre-processing (Book B 3.1.1) ------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "ttq_byte2", "not_allowed", "floor", "cvm"),
    [
        (0, 0x80, False, False, False),  # zero amount allowed: online cryptogram required
        (2000, 0x00, False, False, False),  # at the floor limit: not exceeded
        (2001, 0x80, False, True, False),
        (4999, 0x80, False, True, False),
        (5000, 0xC0, False, True, True),  # CVM limit is "greater than or equal"
        (99999, 0xC0, False, True, True),
        (100000, 0xC0, True, True, True),  # contactless limit is "greater than or equal"
    ],
)
def test_pre_processing_limits(
    amount: int, ttq_byte2: int, not_allowed: bool, floor: bool, cvm: bool
) -> None:
    cfg, combo = visa_combo()
    ind = pre_process(combo, Transaction(amount, USD), cfg.terminal)
    assert ind.ttq[1] == ttq_byte2
    assert ind.ttq[0] == 0x36 and ind.ttq[2:] == b"\x40\x00"
    assert ind.contactless_application_not_allowed is not_allowed
    assert ind.floor_limit_exceeded is floor
    assert ind.cvm_required_limit_exceeded is cvm


def test_zero_amount_not_allowed_and_status_check() -> None:
    cfg, combo = visa_combo(zero_amount_allowed=False, status_check=True)
    assert pre_process(combo, Transaction(0, USD), cfg.terminal).contactless_application_not_allowed
    one_unit = pre_process(combo, Transaction(100, USD), cfg.terminal)
    assert one_unit.status_check_requested and one_unit.ttq[1] & 0x80


def test_unsupported_transaction_type_is_not_allowed() -> None:
    cfg, combo = visa_combo(transaction_types=["00"])
    ind = pre_process(combo, Transaction(100, USD, transaction_type=0x20), cfg.terminal)
    assert ind.contactless_application_not_allowed


def test_all_combinations_not_allowed_means_no_polling() -> None:
    raw = raw_config()
    raw["combinations"] = raw["combinations"][:1]
    ep, shown = entry_point(parse_config(raw))
    result = ep.start(Transaction(100000, USD))
    assert result is not None
    assert result.outcome is OutcomeStatus.TRY_ANOTHER_INTERFACE
    assert shown == [CM.INSERT_OR_SWIPE_CARD]


# --- combination selection (Book B 3.3) -------------------------------------------------


class TwoApplicationCard:
    """A card with a Visa and a Mastercard application behind one PPSE."""

    def __init__(self, visa_priority: int, mc_priority: int, broken: str = "") -> None:
        visa_profile = copy.deepcopy(load_contactless_card("visa_qvsdc").profile)  # type: ignore[union-attr]
        mc_profile = copy.deepcopy(load_contactless_card("mastercard").profile)  # type: ignore[union-attr]
        visa_profile["priority"], mc_profile["priority"] = visa_priority, mc_priority
        self.visa, self.mc = ContactlessCard(visa_profile), ContactlessCard(mc_profile)
        self.broken = broken
        self.current: ContactlessCard | None = None
        self.atr = self.visa.atr

    def power_on(self) -> bytes:
        self.visa.power_on()
        self.mc.power_on()
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xA4:
            name = apdu[5 : 5 + apdu[4]]
            if name == b"2PAY.SYS.DDF01":
                entries = b""
                for app in (self.mc, self.visa):
                    body = self.visa.process(apdu) if app is self.visa else self.mc.process(apdu)
                    entries += tlv.find(tlv.decode(body[:-2]), 0x61).encode()  # type: ignore[union-attr]
                fci = tlv.encode_many([(0x84, name), (0xA5, tlv.encode(0xBF0C, entries))])
                return tlv.encode(0x6F, fci) + b"\x90\x00"
            for app in (self.visa, self.mc):
                if name == app.aid:
                    if app.name == self.broken:
                        return b"\x6a\x82"
                    self.current = app
        if self.current is None:
            return b"\x69\x85"
        return self.current.process(apdu)


@pytest.mark.parametrize(
    ("visa_priority", "mc_priority", "broken", "kernel"),
    [(1, 2, "", 3), (2, 1, "", 2), (1, 2, "visa_qvsdc", 2), (0, 1, "", 2), (1, 0, "", 3)],
)
def test_priority_and_fall_to_next_candidate(
    visa_priority: int, mc_priority: int, broken: str, kernel: int
) -> None:
    ep, _ = entry_point()
    ep.start(Transaction(1500, USD))
    result = ep.tap(InProcessTransport(TwoApplicationCard(visa_priority, mc_priority, broken)))
    assert result.kernel_id == kernel
    assert result.outcome is OutcomeStatus.APPROVED, result.reason


class NoPpseCard:
    atr = b"\x3b\x80\x80\x01\x01"

    def power_on(self) -> bytes:
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        return b"\x6a\x82"


def test_card_without_ppse_ends_the_application() -> None:
    ep, _ = entry_point()
    ep.start(Transaction(1500, USD))
    result = ep.tap(InProcessTransport(NoPpseCard()))  # type: ignore[arg-type]
    assert result.outcome is OutcomeStatus.END_APPLICATION
    assert result.ui == [M.PRESENT_CARD, CM.INSERT_SWIPE_OR_TRY_ANOTHER_CARD]
    assert result.apdu_count == 1


def test_kernel_identifier_overrides_the_rid_default() -> None:
    card = load_contactless_card("visa_qvsdc")
    assert isinstance(card, ContactlessCard)
    card.profile["kernel_identifier"] = "02"  # Visa AID asking for kernel 2: no combination
    ep, _ = entry_point()
    ep.start(Transaction(1500, USD))
    result = ep.tap(InProcessTransport(card))
    assert result.outcome is OutcomeStatus.END_APPLICATION
    assert result.apdu_count == 1


# --- protocol activation: collisions and torn taps --------------------------------------


def test_two_cards_then_one_card() -> None:
    ep, shown = entry_point()
    ep.start(Transaction(1500, USD))
    first = ep.tap(InProcessTransport(load_contactless_card("two_cards")))
    assert first.restart and first.ui == [M.PRESENT_CARD, CM.PRESENT_ONE_CARD_ONLY]
    second = ep.tap(InProcessTransport(load_contactless_card("visa_qvsdc")))
    assert second.outcome is OutcomeStatus.APPROVED
    assert shown == [
        M.PRESENT_CARD,
        CM.PRESENT_ONE_CARD_ONLY,
        M.PRESENT_CARD,
        M.CARD_READ_OK,
        M.APPROVED,
    ]


@pytest.mark.parametrize(
    ("name", "ins", "occurrence", "sent"),
    [
        ("visa_qvsdc", 0xB2, 1, 4),  # READ RECORD 1 of 3
        ("visa_qvsdc", 0xB2, 3, 6),  # last READ RECORD
        ("mastercard", 0xB2, 2, 5),
        ("mastercard", 0xAE, 1, 7),  # GENERATE AC
        ("visa_qvsdc", 0xA8, 1, 3),  # GPO
    ],
)
def test_torn_tap_asks_to_tap_again_and_retap_completes(
    name: str, ins: int, occurrence: int, sent: int
) -> None:
    ep, _ = entry_point()
    ep.start(Transaction(1500, USD))
    transport = InProcessTransport(load_contactless_card(name), tear_on=(ins, occurrence))
    torn = ep.tap(transport)
    assert torn.outcome is OutcomeStatus.TRY_AGAIN
    assert torn.restart
    assert torn.ui == [M.PRESENT_CARD, M.TRY_AGAIN]
    assert torn.authorisation is None
    assert sum(transport.sent.values()) == sent
    transport.retap()
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.APPROVED, again.reason
    assert again.ui == [M.PRESENT_CARD, M.CARD_READ_OK, M.APPROVED]


def test_torn_generate_ac_is_logged_with_masked_pan() -> None:
    ep, _ = entry_point()
    ep.start(Transaction(1500, USD))
    transport = InProcessTransport(load_contactless_card("mastercard"), tear_on=(0xAE, 1))
    ep.tap(transport)
    log = ep.kernels[2].torn_log  # type: ignore[attr-defined]
    assert len(log) == 1
    assert log[0].masked_pan == "541333******0011"
    assert log[0].amount_minor == 1500
    assert "5413330089020011" not in repr(log[0])


class ExtendedSelectionCard:
    """Adds Extended Selection 9F29 = 'C1' to the PPSE entry; SELECT must carry it."""

    def __init__(self) -> None:
        inner = load_contactless_card("visa_qvsdc")
        assert isinstance(inner, ContactlessCard)
        self.inner = inner
        self.atr = inner.atr
        self.selected_names: list[bytes] = []

    def power_on(self) -> bytes:
        return self.inner.power_on()

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] != 0xA4:
            return self.inner.process(apdu)
        name = apdu[5 : 5 + apdu[4]]
        self.selected_names.append(name)
        if name == b"2PAY.SYS.DDF01":
            body = self.inner.process(apdu)
            entry = tlv.find(tlv.decode(body[:-2]), 0x61)
            assert entry is not None
            entry_value = entry.value + tlv.encode(0x9F29, b"\xc1")
            fci = tlv.encode_many(
                [(0x84, name), (0xA5, tlv.encode(0xBF0C, tlv.encode(0x61, entry_value)))]
            )
            return tlv.encode(0x6F, fci) + b"\x90\x00"
        if name == self.inner.aid + b"\xc1":
            return self.inner.process(apdu[:4] + bytes([len(self.inner.aid)]) + self.inner.aid)
        return b"\x6a\x82"


@pytest.mark.parametrize(
    ("supported", "outcome"),
    [(True, OutcomeStatus.APPROVED), (False, OutcomeStatus.END_APPLICATION)],
)
def test_extended_selection_is_appended_when_the_combination_supports_it(
    supported: bool, outcome: OutcomeStatus
) -> None:
    raw = raw_config()
    raw["combinations"][0]["extended_selection"] = supported
    ep, _ = entry_point(parse_config(raw))
    ep.start(Transaction(1500, USD))
    card = ExtendedSelectionCard()
    result = ep.tap(InProcessTransport(card))  # type: ignore[arg-type]
    assert result.outcome is outcome, result.reason
    expected = bytes.fromhex("A0000000031010C1" if supported else "A0000000031010")
    assert card.selected_names[1] == expected
