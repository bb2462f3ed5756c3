"""Receipt content and the plain-text rendering for the screen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emv.kernel.context import Outcome
from emv.kernel.result import TransactionResult
from emv.ports import AuthorisationResponse
from terminal.config import build_settings
from terminal.journal import Journal, contains_pan
from terminal.money import currency
from terminal.receipts import receipt_from_journal, receipt_from_outcome, render_text
from terminal.receipts.model import receipt_cvm
from terminal.service import PaymentOutcome, PaymentRequest

WHEN = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
EMV = build_settings({}, "test").emv


def outcome(cvm: str, signature: bool = False, approved: bool = True) -> PaymentOutcome:
    result = TransactionResult(
        Outcome.APPROVED if approved else Outcome.DECLINED,
        "approved by the issuer" if approved else "declined by the issuer (51)",
        interface="contact",
        aid="A0000000031010",
        application_label="VISA CREDIT",
        pan_masked="476173******0119",
        tvr="0000008000",
        tsi="E800",
        cvm_description=cvm,
        signature_required=signature,
        host_response=AuthorisationResponse(
            response_code="00" if approved else "51",
            auth_code="A1B2C3" if approved else "",
            stan="000042",
            rrn="263280000042",
        ),
    )
    return PaymentOutcome(
        "9f8e7d6c5b4a3210", result, PaymentRequest(1234, currency("EUR")), "000042"
    )


def test_card_receipt_lists_every_required_field() -> None:
    text = render_text(receipt_from_outcome(outcome("PIN verified online"), EMV, when=WHEN))
    lines = text.splitlines()
    assert lines[0].strip() == "Sim Shop, Berlin"
    expected = [
        "Merchant ID                SIMMERCHANT0001",
        "Terminal ID                       POS00001",
        "Date               2026-11-24 10:30:00 UTC",
        "SALE",
        "Card                      476173******0119",
        "Application                    VISA CREDIT",
        "AID                         A0000000031010",
        "Entry mode                            Chip",
        "Verification                  PIN verified",
        "TVR                             0000008000",
        "TSI                                   E800",
        "Auth code                           A1B2C3",
        "STAN                                000042",
        "AMOUNT                           12.34 EUR",
        "             *** APPROVED ***",
        "             CARDHOLDER COPY",
        "Reference                 9f8e7d6c5b4a3210",
    ]
    for line in expected:
        assert line in lines, line
    assert all(len(line) <= 42 for line in lines if "█" not in line and "▀" not in line)
    assert "X____" not in text  # no signature line under a PIN
    assert any("█" in line for line in lines)  # the QR code of the reference


def test_signature_cvm_prints_a_signature_line_on_the_merchant_copy() -> None:
    receipt = receipt_from_outcome(outcome("Signature", signature=True), EMV, copy="merchant")
    text = render_text(receipt, with_qr=False)
    assert "Verification                     Signature" in text
    assert "\nX" + "_" * 41 + "\nCardholder signature\n" in text
    assert "MERCHANT COPY" in text and "█" not in text


def test_declined_receipt_gives_the_reason_and_no_signature_line() -> None:
    receipt = receipt_from_outcome(outcome("Signature", signature=True, approved=False), EMV)
    text = render_text(receipt, with_qr=False)
    assert "*** DECLINED ***" in text and "declined by the issuer (51)" in text
    assert "Cardholder signature" not in text and "Auth code" not in text


@pytest.mark.parametrize(
    ("kernel", "printed"),
    [
        ("PIN verified", "PIN verified"),
        ("PIN verified online", "PIN verified"),
        ("PIN verified and signature", "PIN verified + Signature"),
        ("Signature", "Signature"),
        ("No CVM", "No CVM"),
        ("", "No CVM"),
        ("Verified on device", "Verified on device"),
        ("Biometric verified", "Biometric verified"),
    ],
)
def test_cvm_wording(kernel: str, printed: str) -> None:
    assert receipt_cvm(kernel) == printed


def test_reprint_from_the_journal_matches_the_card_sale(tmp_path) -> None:  # noqa: ANN001
    journal = Journal(tmp_path / "j.sqlite")
    journal.append("abc123def4567890", "started", amount=2000, other_amount=0, currency="USD",
                   type="purchase", interface="contactless")  # fmt: skip
    journal.append("abc123def4567890", "completed", outcome="approved", reason="ok",
                   aid="A0000000041010", pan_masked="541333******4111", tvr="0000000000",
                   cvm="No CVM", auth_code="778899", stan="000007")  # fmt: skip
    entry = journal.entry("abc123def4567890")
    journal.close()
    text = render_text(receipt_from_journal(entry, EMV, copy="merchant"))
    assert "Entry mode                     Contactless" in text
    assert "AMOUNT                           20.00 USD" in text
    assert "Verification                        No CVM" in text
    assert "TSI" not in text  # contactless kernels keep no TSI
    assert not contains_pan(text)


def test_the_luhn_scan_would_catch_a_leaked_pan() -> None:
    """The receipt scans in these tests are meaningful: a full PAN would be found."""
    from dataclasses import replace

    receipt = receipt_from_outcome(outcome("No CVM"), EMV)
    assert not contains_pan(render_text(receipt))
    assert contains_pan(render_text(replace(receipt, pan_masked="4761739001010119")))
