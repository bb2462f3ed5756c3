"""A contactless purchase: Entry Point (Book B) + kernel, then online after the card left.

The tap ends, and the cardholder is told "card read OK - remove card", before any host
round trip (Book A 9.4); online PIN, when the kernel asks for it, is entered after the tap.
The journal is written before each guarded action exactly as for contact
(:mod:`terminal.service`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emv.apdu import Exchange
from emv.capk import CapkStore, RevocationList
from emv.contactless.config import default_config
from emv.contactless.entry_point import EntryPoint, Transaction
from emv.contactless.outcome import Cvm, OutcomeStatus, UiMessage
from emv.kernel.context import Outcome
from emv.kernel.result import TransactionResult, mask_pan
from emv.ports import (
    CardholderInterface,
    CardTransport,
    Message,
    OnlineUnavailable,
    PinEntryStatus,
    PinRequest,
)
from terminal.service import JournalingAuthoriser, PaymentOutcome, PaymentRequest, PaymentService

MAX_TAPS = 3
_KERNELS: dict[int, Any] = {}


def _kernels() -> dict[int, Any]:
    """One set of kernels per terminal process, so Kernel 2's torn-transaction log (Book C-2
    RECOVER AC) survives from one sale to the next re-tap."""
    if not _KERNELS:
        from emv.contactless.entry_point import default_kernels

        _KERNELS.update(default_kernels())
    return _KERNELS


@dataclass
class RecordingTransport:
    inner: CardTransport
    trace: list[Exchange]

    def transmit(self, apdu: bytes) -> bytes:
        response = bytes(self.inner.transmit(apdu))
        self.trace.append(Exchange(bytes(apdu), response))
        return response


def _message_name(message: UiMessage) -> str:
    return message.name


def tap_and_pay(
    service: PaymentService,
    request: PaymentRequest,
    transport: CardTransport,
    cardholder: CardholderInterface,
    *,
    capks: CapkStore,
    revocation: RevocationList | None = None,
    wait_for_retap: Callable[[], None] | None = None,
) -> PaymentOutcome:
    journal = service.journal
    txn_id = journal.new_transaction_id()
    journal.append(
        txn_id,
        "started",
        amount=request.amount_minor,
        other_amount=request.other_amount_minor,
        currency=request.currency.alpha,
        type=request.transaction_type.name.lower(),
        interface="contactless",
    )

    def on_ui(message: UiMessage) -> None:
        if isinstance(message, Message):
            cardholder.show(message)
        else:
            cardholder.progress(message.name.lower().replace("_", " "))

    trace: list[Exchange] = []
    entry_point = EntryPoint(
        service.settings.contactless or default_config(),
        capks,
        service.clock,
        service.random,
        revocation,
        on_ui=on_ui,
        kernels=_kernels(),
    )
    started = time.perf_counter()
    txn = Transaction(
        request.amount_minor + request.other_amount_minor,  # 9F02 includes the cashback
        request.currency.numeric,
        request.transaction_type.value,
        request.other_amount_minor,
    )
    result_tx = TransactionResult(Outcome.ABORTED, "not started", interface="contactless")
    early = entry_point.start(txn)
    cl = early
    if cl is None:
        recording = RecordingTransport(transport, trace)
        for tap in range(MAX_TAPS):
            cl = entry_point.tap(recording)
            if not cl.restart:
                break
            if tap + 1 < MAX_TAPS and wait_for_retap is not None:
                wait_for_retap()
            retap = getattr(transport, "retap", None)
            if callable(retap):
                retap()
    assert cl is not None  # noqa: S101 - the loop runs at least once
    result_tx.aid = cl.aid.hex().upper()
    result_tx.application_label = cl.application_label
    result_tx.tvr = cl.tvr.hex().upper()
    result_tx.cvm_results = cl.cvm_results.hex().upper()
    result_tx.cvm_description = {
        Cvm.NO_CVM: "No CVM",
        Cvm.SIGNATURE: "Signature",
        Cvm.ONLINE_PIN: "PIN verified online",
        Cvm.CONFIRMATION_CODE_VERIFIED: "Verified on device",
    }.get(cl.cvm, "")
    result_tx.signature_required = cl.cvm is Cvm.SIGNATURE
    result_tx.cryptogram_type = cl.cryptogram_type or None
    result_tx.apdus = trace
    request_online = cl.authorisation
    if request_online is not None:
        result_tx.pan_masked = mask_pan(request_online.pan)
    outcome = PaymentOutcome(txn_id, result_tx, request)
    authoriser: JournalingAuthoriser | None = None
    if cl.outcome is OutcomeStatus.APPROVED:
        result_tx.outcome, result_tx.reason = Outcome.APPROVED, "approved offline by the card"
        result_tx.authorisation_request = request_online  # sent later as a 0220 advice
    elif cl.outcome is OutcomeStatus.DECLINED:
        result_tx.outcome, result_tx.reason = Outcome.DECLINED, cl.reason or "declined by the card"
    elif cl.outcome is OutcomeStatus.ONLINE_REQUEST and request_online is not None:
        authoriser = _go_online(service, txn_id, cl, cardholder, request, result_tx, outcome)
    else:
        result_tx.outcome = Outcome.ABORTED
        result_tx.reason = cl.reason or f"contactless: {cl.outcome.value}"
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    return service.complete(
        txn_id, result_tx, outcome, request.transaction_type.name.lower(), authoriser
    )


def _go_online(
    service: PaymentService,
    txn_id: str,
    cl: Any,
    cardholder: CardholderInterface,
    request: PaymentRequest,
    result_tx: TransactionResult,
    outcome: PaymentOutcome,
) -> JournalingAuthoriser | None:
    online = cl.authorisation
    if cl.cvm is Cvm.ONLINE_PIN:
        cardholder.show(Message.ENTER_PIN)
        entry = cardholder.request_pin(
            PinRequest(True, request.amount_minor, request.currency.alpha, None, online.pan)
        )
        if entry.status is not PinEntryStatus.ENTERED or entry.online is None:
            result_tx.outcome = Outcome.DECLINED
            result_tx.reason = "the cardholder did not enter the PIN the card asked for"
            return None
        from dataclasses import replace

        online = replace(online, online_pin=entry.online)
    if service.authoriser is None:
        result_tx.outcome, result_tx.reason = Outcome.DECLINED, "no host link is configured"
        return None
    authoriser = JournalingAuthoriser(service.authoriser, service.journal, txn_id)
    result_tx.online_attempted = True
    result_tx.authorisation_request = online
    cardholder.show(Message.PLEASE_WAIT)
    try:
        response = authoriser.authorise(online)
    except OnlineUnavailable as exc:
        result_tx.unable_to_go_online = True
        result_tx.outcome = Outcome.DECLINED
        result_tx.reason = f"declined: the host could not be reached ({str(exc).rstrip('.')})"
        return authoriser
    outcome.stan = authoriser.stan
    result_tx.host_response = response
    result_tx.host_approved = response.approved
    if response.approved:
        result_tx.outcome, result_tx.reason = Outcome.APPROVED, "approved by the issuer"
        cardholder.show(Message.APPROVED)
    else:
        result_tx.outcome = Outcome.DECLINED
        result_tx.reason = response.message or f"declined by the issuer ({response.response_code})"
        cardholder.show(Message.DECLINED)
    return authoriser
