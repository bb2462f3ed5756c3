"""The receipt: what is printed, built from a payment outcome or a journal entry.

Content follows issue 6 and EMV Book 4 (11.4, the transaction receipt): merchant and terminal
identifiers, date and time, the PAN masked to first 6 and last 4 (PCI DSS 3.4), application
label and AID, entry mode, the cardholder verification performed, TVR and TSI, the
authorisation code, the amount with its currency, which copy it is, and a signature line when
the CVM was a signature.  The full PAN never reaches this module: only ``pan_masked``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emv.config import TerminalConfig
from terminal.money import Currency, currency

ENTRY_MODES = {"contact": "Chip", "contactless": "Contactless", "qr": "QR code"}
COPIES = ("cardholder", "merchant")
TYPES = {"purchase": "SALE", "refund": "REFUND", "cash": "CASH", "cashback": "SALE + CASHBACK"}


@dataclass(frozen=True)
class Receipt:
    txn_id: str
    merchant_name: str
    merchant_id: str
    terminal_id: str
    when: datetime
    transaction_type: str  # SALE, REFUND, ...
    status: str  # APPROVED, DECLINED, ...
    amount_minor: int
    currency: Currency
    entry_mode: str
    copy: str = "cardholder"
    pan_masked: str = ""
    application_label: str = ""
    aid: str = ""
    cvm: str = ""
    tvr: str = ""
    tsi: str = ""
    auth_code: str = ""
    stan: str = ""
    reason: str = ""
    reference: str = ""  # printed as text and as a QR code
    signature_required: bool = False

    @property
    def amount_text(self) -> str:
        return self.currency.format(self.amount_minor)

    @property
    def approved(self) -> bool:
        return self.status == "APPROVED"


def receipt_cvm(description: str) -> str:
    """The kernel's CVM description as a receipt says it (Book 4 11.4)."""
    text = description.strip()
    if not text:
        return "No CVM"
    lowered = text.lower()
    if lowered.startswith("pin verified") and "signature" in lowered:
        return "PIN verified + Signature"
    if lowered.startswith("pin verified"):
        return "PIN verified"
    return text


def _check_copy(copy: str) -> str:
    if copy not in COPIES:
        raise ValueError(f"receipt copy must be one of {', '.join(COPIES)}, not '{copy}'")
    return copy


def receipt_from_outcome(
    outcome: Any,
    terminal: TerminalConfig,
    *,
    copy: str = "cardholder",
    when: datetime | None = None,
) -> Receipt:
    """From a :class:`terminal.service.PaymentOutcome` just after the payment."""
    result = outcome.result
    response = result.host_response
    request = outcome.request
    cvm = receipt_cvm(result.cvm_description)
    return Receipt(
        txn_id=outcome.txn_id,
        merchant_name=terminal.merchant_name_location,
        merchant_id=terminal.merchant_id,
        terminal_id=terminal.terminal_id,
        when=when or datetime.now(UTC),
        transaction_type=TYPES.get(request.transaction_type.name.lower(), "SALE"),
        status=result.outcome.value.upper(),
        amount_minor=request.amount_minor + request.other_amount_minor,
        currency=request.currency,
        entry_mode=ENTRY_MODES.get(result.interface, result.interface),
        copy=_check_copy(copy),
        pan_masked=result.pan_masked,
        application_label=result.application_label,
        aid=result.aid,
        cvm=cvm,
        tvr=result.tvr,
        tsi=result.tsi if result.interface == "contact" else "",
        auth_code=response.auth_code if response else "",
        stan=outcome.stan,
        reason="" if result.approved else result.reason,
        reference=outcome.extra.get("reference", outcome.txn_id),
        signature_required=bool(result.signature_required) and result.approved,
    )


def receipt_from_journal(
    entry: Any, terminal: TerminalConfig, *, copy: str = "cardholder"
) -> Receipt:
    """From a :class:`terminal.journal.JournalEntry` (a reprint, or a QR payment)."""
    d = entry.data
    interface = str(d.get("interface", "contact"))
    status = entry.status
    if interface == "qr" and status == "aborted":
        status = str(d.get("qr_status") or status)  # expired / cancelled say more
    cvm = "" if interface == "qr" else receipt_cvm(str(d.get("cvm", "")))
    when = datetime.fromisoformat(entry.started_at)
    approved = status == "approved"
    return Receipt(
        txn_id=entry.txn_id,
        merchant_name=terminal.merchant_name_location,
        merchant_id=terminal.merchant_id,
        terminal_id=terminal.terminal_id,
        when=when,
        transaction_type=TYPES.get(str(d.get("type", "purchase")), "SALE"),
        status=status.upper(),
        amount_minor=int(d.get("amount", 0)) + int(d.get("other_amount", 0)),
        currency=currency(str(d.get("currency", "EUR"))),
        entry_mode=ENTRY_MODES.get(interface, interface),
        copy=_check_copy(copy),
        pan_masked=str(d.get("pan_masked", "")),
        application_label=str(d.get("label", "")),
        aid=str(d.get("aid", "")),
        cvm=cvm,
        tvr=str(d.get("tvr", "")) if interface != "qr" else "",
        tsi=str(d.get("tsi", "")) if interface == "contact" else "",
        auth_code=str(d.get("auth_code", "")),
        stan=str(d.get("stan", "")),
        reason="" if approved else str(d.get("reason", "")),
        reference=str(d.get("qr_reference") or entry.txn_id),
        signature_required=approved and "signature" in cvm.lower(),
    )
