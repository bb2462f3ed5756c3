"""Kernel 2 torn transaction recovery with RECOVER AC (Book C-2 4.6, S456/S10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from emv.contactless.entry_point import EntryPoint, Transaction
from emv.contactless.outcome import OutcomeStatus
from emv.errors import CardRemovedError
from emv.ports import Message as M
from hardware_sim.contactless import InProcessTransport, load_contactless_card, load_profile
from hardware_sim.contactless.card import ContactlessCard
from tests.contactless_helpers import USD, WHEN, entry_point

GENERATE_AC, RECOVER_AC = 0xAE, 0xD0


@dataclass
class LostAnswerTransport(InProcessTransport):
    """The card computes the answer to the n-th ``lose_on`` command, then leaves the field
    before the reader receives it (the torn case RECOVER AC exists for)."""

    lose_on: tuple[int, int] | None = None

    def transmit(self, apdu: bytes) -> bytes:
        ins = apdu[1] if len(apdu) > 1 else -1
        if self.lose_on is not None and self.lose_on == (ins, self.sent.get(ins, 0) + 1):
            super().transmit(apdu)
            self.present = False
            self.lose_on = None
            raise CardRemovedError("the card left the field")
        return super().transmit(apdu)


class StepClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


def mastercard() -> ContactlessCard:
    card = load_contactless_card("mastercard")
    assert isinstance(card, ContactlessCard)
    return card


def cryptograms(card: ContactlessCard) -> list[bytes]:
    return [c for c in card.commands if c[1] == GENERATE_AC]


def torn_tap(amount: int = 1500) -> tuple[EntryPoint, LostAnswerTransport, ContactlessCard]:
    ep, _ = entry_point()
    ep.clock = StepClock(WHEN)
    card = mastercard()
    transport = LostAnswerTransport(card, lose_on=(GENERATE_AC, 1))
    ep.start(Transaction(amount, USD))
    torn = ep.tap(transport)
    assert torn.outcome is OutcomeStatus.TRY_AGAIN
    assert torn.reason == "the card left the field during GENERATE AC"
    assert len(ep.kernels[2].torn_log) == 1  # type: ignore[attr-defined]
    assert card.last_generate_ac  # the card did compute the cryptogram
    return ep, transport, card


def test_retap_recovers_the_torn_cryptogram_without_a_second_one() -> None:
    ep, transport, card = torn_tap()
    atc_after_tear = card.atc
    torn_answer = card.last_generate_ac
    transport.retap()
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.APPROVED, again.reason
    assert again.cryptogram_type == "TC"
    assert again.oda_performed and not again.oda_failed  # CDA over the torn transaction's data
    assert again.ui == [M.PRESENT_CARD, M.CARD_READ_OK, M.APPROVED]
    assert len(cryptograms(card)) == 1  # exactly one GENERATE AC ever reached the card
    assert transport.sent.get(RECOVER_AC) == 1 and GENERATE_AC not in transport.sent
    recover = [c for c in card.commands if c[1] == RECOVER_AC][0]
    assert recover[:4] == bytes.fromhex("80D00000")
    # DRDOL 9F02 06 | 5F2A 02 | 9F37 04: the torn transaction's amount, currency, UN.
    assert recover[5 : 5 + recover[4]][:8] == bytes.fromhex("0000000015000840")
    assert card.atc == atc_after_tear  # ATC unchanged by RECOVER AC
    assert card.last_generate_ac == torn_answer
    assert again.authorisation is not None
    assert len(ep.kernels[2].torn_log) == 0  # type: ignore[attr-defined]


def test_online_torn_transaction_recovers_one_arqc_for_the_host() -> None:
    ep, transport, card = torn_tap(amount=4000)  # over the card's offline limit -> ARQC
    transport.retap()
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.ONLINE_REQUEST, again.reason
    assert again.cryptogram_type == "ARQC"
    assert len(cryptograms(card)) == 1
    assert again.authorisation is not None
    de55 = again.authorisation.emv_data
    atc = card.atc.to_bytes(2, "big")
    assert de55[0x9F36] == atc  # the ARQC's ATC is the torn one
    assert de55[0x9F02] == bytes.fromhex("000000004000")
    # The ARQC sent online is the one the card computed over the torn transaction's data.
    tags = (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37)
    assert de55[0x9F26] == card._cryptogram({t: de55[t] for t in tags}, atc)


def test_expired_torn_record_is_dropped_and_a_fresh_generate_ac_runs() -> None:
    ep, transport, card = torn_tap()
    atc_after_tear = card.atc
    kernel = ep.kernels[2]
    ep.clock.instant = WHEN + timedelta(seconds=kernel.torn_log.max_lifetime_s + 1)  # type: ignore[attr-defined]
    transport.retap()
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.APPROVED, again.reason
    assert RECOVER_AC not in transport.sent
    assert len(cryptograms(card)) == 2 and card.atc == atc_after_tear + 1
    assert len(kernel.torn_log) == 0  # type: ignore[attr-defined]
    assert len(kernel.torn_log.expired) == 1  # type: ignore[attr-defined]


def test_a_different_card_does_not_recover_and_the_record_stays() -> None:
    ep, _, _ = torn_tap()
    other_profile = load_profile("mastercard")
    other_profile["pan"] = "5413330089020029"
    other = ContactlessCard(other_profile)
    transport = InProcessTransport(other)
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.APPROVED, again.reason
    assert RECOVER_AC not in transport.sent and transport.sent[GENERATE_AC] == 1
    assert len(ep.kernels[2].torn_log) == 1  # type: ignore[attr-defined]


def test_same_pan_other_sequence_number_is_another_card() -> None:
    ep, _, _ = torn_tap()
    profile = load_profile("mastercard")
    profile["psn"] = "01"
    transport = InProcessTransport(ContactlessCard(profile))
    assert ep.tap(transport).outcome is OutcomeStatus.APPROVED
    assert RECOVER_AC not in transport.sent


def test_card_with_nothing_to_recover_answers_6a88_and_a_fresh_generate_ac_follows() -> None:
    """Torn before the card saw GENERATE AC: RECOVER AC gets 6A88, the record is dropped."""
    ep, _ = entry_point()
    card = mastercard()
    transport = InProcessTransport(card, tear_on=(GENERATE_AC, 1))
    ep.start(Transaction(1500, USD))
    assert ep.tap(transport).outcome is OutcomeStatus.TRY_AGAIN
    assert not card.last_generate_ac
    transport.retap()
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.APPROVED, again.reason
    recover = [i for i, c in enumerate(card.commands) if c[1] == RECOVER_AC]
    genac = [i for i, c in enumerate(card.commands) if c[1] == GENERATE_AC]
    assert len(recover) == 1 and len(genac) == 1 and recover[0] < genac[0]
    assert len(ep.kernels[2].torn_log) == 0  # type: ignore[attr-defined]


def test_torn_again_during_recover_ac_keeps_the_record() -> None:
    ep, transport, card = torn_tap()
    transport.retap()
    transport.tear_on = (RECOVER_AC, 1)
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.TRY_AGAIN
    assert again.reason == "the card left the field during RECOVER AC"
    assert len(ep.kernels[2].torn_log) == 1  # type: ignore[attr-defined]
    transport.retap()
    third = ep.tap(transport)
    assert third.outcome is OutcomeStatus.APPROVED, third.reason
    assert len(cryptograms(card)) == 1


def test_a_different_amount_is_not_completed_with_the_torn_cryptogram() -> None:
    ep, transport, card = torn_tap(amount=1500)
    ep.start(Transaction(1200, USD))
    transport.retap()
    again = ep.tap(transport)
    assert again.outcome is OutcomeStatus.APPROVED, again.reason
    assert RECOVER_AC not in transport.sent
    assert len(cryptograms(card)) == 2


def test_card_without_drdol_is_not_logged() -> None:
    profile = load_profile("mastercard")
    profile["drdol"] = ""
    ep, _ = entry_point()
    transport = LostAnswerTransport(ContactlessCard(profile), lose_on=(GENERATE_AC, 1))
    ep.start(Transaction(1500, USD))
    assert ep.tap(transport).outcome is OutcomeStatus.TRY_AGAIN
    assert len(ep.kernels[2].torn_log) == 0  # type: ignore[attr-defined]


def test_torn_record_never_holds_the_pan_in_clear() -> None:
    ep, _, _ = torn_tap()
    record = ep.kernels[2].torn_log[0]  # type: ignore[attr-defined]
    assert record.masked_pan == "541333******0011"
    assert "5413330089020011" not in repr(record)
    assert b"\x54\x13\x33\x00\x89\x02\x00\x11" not in record.drdol_data + record.cdol1_data
