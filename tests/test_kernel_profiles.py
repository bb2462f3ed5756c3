"""Every built-in contact profile through the kernel, the real TCP host link and the journal.

One row per profile states what the EMV Books prescribe for a 9.99 EUR purchase at the
default terminal (9F33 E0F8C8, floor limit 0, Visa-like TACs):

* TVR byte 4 b8 (80): floor limit 0 is always exceeded; b7/b6 (40/20): the card's
  consecutive offline limits are 0 (an online-only card), so velocity checking sets both.
* TSI F800: ODA, cardholder verification, card and terminal risk management and issuer
  authentication were performed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from emv.kernel.context import Outcome
from emv.ports import FixedClock
from hardware_sim.card import load_card
from hardware_sim.reader import InProcessReader
from hardware_sim.soft_pinpad import SoftPinPad
from terminal.cardholder import ScriptedCardholder
from terminal.config import load_settings
from terminal.journal import Journal
from terminal.money import currency
from terminal.oda import cda_verifier, oda_engine
from terminal.runtime import DeterministicRandom
from terminal.service import PaymentRequest, PaymentService

WHEN = datetime(2026, 11, 24, 10, 30)

# profile: (outcome, TVR, TSI, CVM Results, final cryptogram)
EXPECTED = {
    # CDA ok; offline enciphered PIN (44 = b7 + code 04, condition 03 'if supported') succeeds.
    "visa_credit": ("approved", "000000E000", "F800", "440302", "TC"),
    # Online PIN first (42, unknown result 00) and TVR byte 3 b3 'online PIN entered'.
    "mc_debit": ("approved", "0000048000", "F800", "420300", "TC"),
    # SDA selected (byte 1 b2); card version 008C differs from the terminal's 0096.
    "sda_legacy": ("approved", "0280008000", "F800", "410302", "TC"),
    "dda_card": ("approved", "0000008000", "F800", "440302", "TC"),
    # Expired application (byte 2 b7) and its CDA ICC certificate expired too (byte 1 b3).
    "expired_card": ("declined", "044000E000", "E800", "5E0300", "AAC"),
    # Issuer certificate on the revocation list -> CDA failed; TAC-online sends it online.
    "revoked_issuer": ("approved", "040000E000", "F800", "5E0300", "TC"),
    # PIN try counter 0: 'PIN try limit exceeded' (byte 3 b6), falls back to signature.
    "pin_blocked": ("approved", "000020E000", "F800", "5E0300", "TC"),
    # Signed static data does not match: SDA failed (byte 1 b7) and SDA selected.
    "tampered_sda": ("approved", "4280008000", "F800", "410302", "TC"),
    # The cardholder picks the first (highest priority) application, the debit one: online PIN.
    "two_apps": ("approved", "0000048000", "F800", "420300", "TC"),
    # The issuer's script ran after the final GENERATE AC: TSI byte 1 b3 (script processing).
    "issuer_script": ("approved", "000000E000", "FC00", "440302", "TC"),
}


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[PaymentService]:
    from terminal.hostlink import open_authoriser

    settings = load_settings(None)
    journal = Journal(tmp_path / "journal.sqlite")
    with open_authoriser(settings, "embedded", plain_tcp=True, clock=FixedClock(WHEN)) as client:
        yield PaymentService(
            settings,
            journal,
            client,
            clock=FixedClock(WHEN),
            random=DeterministicRandom(bytes.fromhex("1A2B3C4D")),
            oda_engine=oda_engine(simulated=True),
            cda_verifier=cda_verifier,
        )
    journal.close()


@pytest.mark.parametrize("profile", sorted(EXPECTED))
def test_profile_outcome_and_bits(service: PaymentService, profile: str) -> None:
    card = load_card(profile)
    cardholder = ScriptedCardholder(
        card.test_pin, online_pin_encryptor=SoftPinPad().encrypt_online_pin
    )
    request = PaymentRequest(999, currency("EUR"))
    outcome = service.pay(request, InProcessReader(card), cardholder)
    r = outcome.result
    expected = EXPECTED[profile]
    assert (r.outcome.value, r.tvr, r.tsi, r.cvm_results, r.cryptogram_type) == expected, r.reason
    entry = service.journal.entry(outcome.txn_id)
    assert entry is not None
    assert entry.status == expected[0]
    assert entry.data["tvr"] == expected[1]
    assert service.journal.verify()[0]
    if profile == "issuer_script":
        assert r.issuer_script_results == "2000000007"  # Book 3 A: successful, script id 7


def test_card_removed_mid_transaction_aborts(service: PaymentService) -> None:
    card = load_card("visa_credit")
    outcome = service.pay(
        PaymentRequest(999, currency("EUR")),
        InProcessReader(card, remove_at_apdu=6),
        ScriptedCardholder(card.test_pin),
    )
    assert outcome.result.outcome is Outcome.ABORTED
    assert outcome.result.reason == "card removed"
    assert outcome.result.card_removed
