"""Table-driven contactless taps, one row per simulated card profile (Book B + C-2/C-3)."""

from __future__ import annotations

import pytest

from emv.contactless.entry_point import Transaction
from emv.contactless.outcome import ContactlessMessage as CM
from emv.contactless.outcome import Cvm, OutcomeStatus
from emv.ports import Message as M
from hardware_sim.contactless import (
    InProcessTransport,
    list_contactless_profiles,
    load_contactless_card,
    load_profile,
)
from tests.contactless_helpers import USD, entry_point

A, D, ONL = OutcomeStatus.APPROVED, OutcomeStatus.DECLINED, OutcomeStatus.ONLINE_REQUEST

# profile: (outcome, cvm, UI in order, TVR hex, CTQ hex or None, cryptogram)
FIRST_TAP = {
    "visa_qvsdc": (A, Cvm.NO_CVM, [M.PRESENT_CARD, M.CARD_READ_OK, M.APPROVED],
                   "0000000000", "2000", "TC"),
    "visa_online_pin": (ONL, Cvm.ONLINE_PIN,
                        [M.PRESENT_CARD, M.CARD_READ_OK, CM.AUTHORISING_PLEASE_WAIT],
                        "8000048000", "a000", "ARQC"),
    "visa_bad_fdda": (D, Cvm.NO_CVM, [M.PRESENT_CARD, M.CARD_READ_OK, M.DECLINED],
                      "0800000000", "0000", "TC"),
    "visa_over_limit": (OutcomeStatus.TRY_ANOTHER_INTERFACE, Cvm.NA,
                        [M.PRESENT_CARD, CM.INSERT_OR_SWIPE_CARD], "0000000000", None, ""),
    "visa_phone": (OutcomeStatus.TRY_AGAIN, Cvm.NA, [M.PRESENT_CARD, M.SEE_PHONE],
                   "0000000000", None, ""),
    "mastercard": (A, Cvm.NO_CVM, [M.PRESENT_CARD, M.CARD_READ_OK, M.APPROVED],
                   "0000000000", None, "TC"),
    "mastercard_phone": (OutcomeStatus.END_APPLICATION, Cvm.CONFIRMATION_CODE_VERIFIED,
                         [M.PRESENT_CARD, M.SEE_PHONE], "0000000000", None, ""),
    "two_cards": (OutcomeStatus.TRY_AGAIN, Cvm.NA,
                  [M.PRESENT_CARD, CM.PRESENT_ONE_CARD_ONLY], "0000000000", None, ""),
}  # fmt: skip

# Phones: the re-tap after the cardholder verified on the device.
RETAP = {
    "visa_phone": (ONL, Cvm.CONFIRMATION_CODE_VERIFIED,
                   [CM.PRESENT_CARD_AGAIN, M.CARD_READ_OK, CM.AUTHORISING_PLEASE_WAIT], 4),
    "mastercard_phone": (ONL, Cvm.CONFIRMATION_CODE_VERIFIED,
                         [CM.PRESENT_CARD_AGAIN, M.CARD_READ_OK, CM.AUTHORISING_PLEASE_WAIT], 7),
}  # fmt: skip


def test_every_profile_has_a_row() -> None:
    assert sorted(FIRST_TAP) == list_contactless_profiles()


@pytest.mark.parametrize("name", sorted(FIRST_TAP))
def test_first_tap(name: str) -> None:
    outcome, cvm, ui, tvr, ctq, cryptogram = FIRST_TAP[name]
    profile = load_profile(name)
    ep, shown = entry_point()
    assert ep.start(Transaction(profile["scenario_amount"], USD)) is None
    transport = InProcessTransport(load_contactless_card(name))
    result = ep.tap(transport)
    assert result.outcome is outcome, result.reason
    assert result.cvm is cvm
    assert result.ui == ui
    assert shown == ui  # the callback saw the same requests, in the same order
    if outcome not in (OutcomeStatus.TRY_AGAIN, OutcomeStatus.END_APPLICATION):
        assert result.tvr.hex() == tvr
    assert (result.ctq.hex() if result.ctq else None) == ctq
    assert result.cryptogram_type == cryptogram
    if name in RETAP:  # the first tap of a phone stops as soon as it said "see phone"
        assert result.restart
        assert result.apdu_count == (3 if name == "visa_phone" else 7)
    else:
        assert result.apdu_count == profile["min_apdus"]


@pytest.mark.parametrize("name", sorted(RETAP))
def test_phone_retap_after_on_device_verification(name: str) -> None:
    outcome, cvm, ui, count = RETAP[name]
    profile = load_profile(name)
    ep, _ = entry_point()
    ep.start(Transaction(profile["scenario_amount"], USD))
    transport = InProcessTransport(load_contactless_card(name))
    first = ep.tap(transport)
    assert first.restart and first.ui[-1] is M.SEE_PHONE
    transport.retap()
    second = ep.tap(transport)
    assert second.outcome is outcome, second.reason
    assert second.cvm is cvm
    assert second.cvm_results.hex() == "010002"
    assert second.ui == ui
    assert second.apdu_count == count == profile["min_apdus"]
    assert second.authorisation is not None


@pytest.mark.parametrize("name", ["visa_qvsdc", "mastercard"])
def test_card_read_ok_comes_before_outcome_and_after_last_card_command(name: str) -> None:
    ep, _ = entry_point()
    ep.start(Transaction(3000, USD))  # above the floor limit: online request
    transport = InProcessTransport(load_contactless_card(name))
    result = ep.tap(transport)
    assert result.outcome is ONL
    assert result.ui[-2:] == [M.CARD_READ_OK, CM.AUTHORISING_PLEASE_WAIT]
    # "Card read OK" was signalled after the last APDU: nothing is sent to the card later.
    assert result.card_read_ok_at_apdu == result.apdu_count
    assert result.tvr[3] & 0x80  # floor limit exceeded


def test_visa_online_tap_reads_only_the_online_records() -> None:
    ep, _ = entry_point()
    ep.start(Transaction(3000, USD))
    card = load_contactless_card("visa_qvsdc")
    result = ep.tap(InProcessTransport(card))
    assert result.cryptogram_type == "ARQC"
    # SELECT PPSE, SELECT AID, GPO, one READ RECORD: the card's online AFL has one record.
    assert [c[1] for c in card.commands] == [0xA4, 0xA4, 0xA8, 0xB2]
    assert result.ttq is not None and result.ttq.hex() == "36804000"


def test_cvm_required_limit_sets_ttq_and_signature_for_plain_card() -> None:
    ep, _ = entry_point()
    ep.start(Transaction(6000, USD))  # over the CVM required limit (5000)
    result = ep.tap(InProcessTransport(load_contactless_card("visa_qvsdc")))
    assert result.ttq is not None and result.ttq.hex() == "36c04000"
    assert result.ctq is not None and result.ctq.hex() == "6000"  # card asks for signature
    assert result.cvm is Cvm.SIGNATURE
    assert result.outcome is ONL


def test_bench_tap_runs_the_profile_scenario() -> None:
    from hardware_sim.contactless.bench import bench_tap

    report = bench_tap("visa_qvsdc", 2)
    assert report.taps == 2
    assert report.outcome == "approved"
    assert report.apdu_count == load_profile("visa_qvsdc")["min_apdus"]
    assert 0 <= report.median_terminal_ms <= report.median_tap_ms <= report.median_outcome_ms


@pytest.mark.parametrize(
    ("name", "amount", "outcome"),
    [
        ("mastercard", 100000, ONL),  # at DF8124: still contactless
        ("mastercard", 100001, OutcomeStatus.TRY_ANOTHER_INTERFACE),
        ("mastercard_phone", 100001, OutcomeStatus.END_APPLICATION),  # DF8125 applies: see phone
        ("mastercard_phone", 500001, OutcomeStatus.TRY_ANOTHER_INTERFACE),
    ],
)
def test_kernel2_reader_limits(name: str, amount: int, outcome: OutcomeStatus) -> None:
    ep, _ = entry_point()
    ep.start(Transaction(amount, USD))
    result = ep.tap(InProcessTransport(load_contactless_card(name)))
    assert result.outcome is outcome, result.reason
    if outcome is OutcomeStatus.TRY_ANOTHER_INTERFACE:
        assert result.ui[-1] is CM.INSERT_OR_SWIPE_CARD
        assert result.apdu_count == 6  # decided after READ RECORD, before GENERATE AC


def test_kernel2_cvm_list_gives_online_pin_above_the_cvm_limit() -> None:
    ep, _ = entry_point()
    ep.start(Transaction(8000, USD))
    result = ep.tap(InProcessTransport(load_contactless_card("mastercard")))
    assert result.outcome is ONL
    assert result.cvm is Cvm.ONLINE_PIN
    assert result.cvm_results.hex() == "420300"  # enciphered PIN online, if supported
    assert result.tvr.hex() == "0000048000"  # online PIN entered, floor limit exceeded
