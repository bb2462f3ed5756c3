"""Orchestration of one payment: kernel + journal + acquirer link + reversals.

The journal is written before each action it guards:

1. ``started`` before the first APDU;
2. ``online_request`` (with the STAN) before the authorisation leaves the terminal;
3. ``host_response`` when the answer arrives;
4. ``completed`` with the card's final decision;
5. ``reversal_queued`` before a reversal is attempted, ``reversal_acknowledged`` after.

So a crash at any point leaves enough to recover: an ``online_request`` without
``completed`` is in doubt and is reversed at start-up (``pos recover``).

An approval is sealed into the open batch (``terminal.batch``) and, when offline, its 0220
advice is queued durably *before* ``completed`` is written, so a completed approval is never
missing from the settlement.  Refunds need a supervisor :class:`terminal.operators.Approval`;
pre-authorisations (0100), completions (0220) and voids (0400) are in :mod:`terminal.transactions`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emv.kernel.contact import CdaVerifier, ContactKernel, OdaEngine
from emv.kernel.context import Outcome, TransactionParameters, TransactionType
from emv.kernel.result import TransactionResult
from emv.ports import (
    AuthorisationRequest,
    AuthorisationResponse,
    CardholderInterface,
    CardTransport,
    Clock,
    OnlineAuthoriser,
    OnlineUnavailable,
    RandomSource,
    SystemClock,
    SystemRandom,
)
from terminal.batch import Batch, scheme_for_aid
from terminal.config import Settings
from terminal.journal import Journal
from terminal.money import Currency
from terminal.operators import SUPERVISOR, Approval, NotAuthorised


@dataclass(frozen=True)
class PaymentRequest:
    amount_minor: int
    currency: Currency
    transaction_type: TransactionType = TransactionType.PURCHASE
    other_amount_minor: int = 0
    force_online: bool = False


@dataclass
class PaymentOutcome:
    txn_id: str
    result: TransactionResult
    request: PaymentRequest
    stan: str = ""
    duration_ms: float = 0.0
    reversal: str = ""  # "", "acknowledged", "pending"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def approved(self) -> bool:
        return self.result.outcome is Outcome.APPROVED


def pan_fingerprint(pan: str) -> str:
    """A salted hash used only to recognise the same card in today's journal."""
    return hashlib.sha256(b"pos-journal-v1:" + pan.encode()).hexdigest()[:24]


class JournalingAuthoriser:
    """Writes ``online_request`` before, and ``host_response`` after, each authorisation."""

    def __init__(self, inner: OnlineAuthoriser, journal: Journal, txn_id: str) -> None:
        self.inner = inner
        self.journal = journal
        self.txn_id = txn_id
        self.stan = ""
        self.not_sent = False

    def authorise(self, request: AuthorisationRequest) -> AuthorisationResponse:
        allocator = getattr(self.inner, "stan_source", None)
        reserve = getattr(allocator, "reserve", None)
        if callable(reserve):
            self.stan = f"{reserve():06d}"
        self.journal.append(
            self.txn_id,
            "online_request",
            pan_hash=pan_fingerprint(request.pan),
            stan=self.stan,
            amount=request.amount_minor,
        )
        try:
            response = self.inner.authorise(request)
        except OnlineUnavailable as exc:
            from acquirer_client.client import HostUnreachable

            self.not_sent = isinstance(exc, HostUnreachable)
            self.journal.append(
                self.txn_id, "host_unreachable", error=str(exc)[:200], sent=not self.not_sent
            )
            raise
        self.stan = response.stan
        self.journal.append(
            self.txn_id,
            "host_response",
            reversal=self._reversal_message(),
            stan=response.stan,
            rrn=response.rrn,
            response_code=response.response_code,
            auth_code=response.auth_code,
            host_approved=response.approved,
        )
        return response

    def _reversal_message(self) -> dict[str, str] | None:
        """The 0400 that would undo this approval; it carries no card data (DE 90 only)."""
        last = getattr(self.inner, "last_request", None)
        if not last:
            return None
        from acquirer_client.messages import reversal_request

        now = getattr(self.inner, "clock", None)
        when = now.now() if now is not None else datetime.now()
        return dict(reversal_request(last, when))


class PaymentService:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        authoriser: OnlineAuthoriser | None,
        *,
        clock: Clock | None = None,
        random: RandomSource | None = None,
        oda_engine: OdaEngine | None = None,
        cda_verifier: CdaVerifier | None = None,
        batch: Batch | None | str = "default",
    ) -> None:
        """``batch``: the open settlement batch; ``"default"`` opens the terminal's own
        (``$POS_DATA_DIR/batch.sqlite``) at the first approval, ``None`` keeps no batch."""
        self._batch = batch
        self.settings = settings
        self.journal = journal
        self.authoriser = authoriser
        self.clock = clock or SystemClock()
        self.random = random or SystemRandom()
        self.oda_engine = oda_engine
        self.cda_verifier = cda_verifier

    def pay(
        self,
        request: PaymentRequest,
        transport: CardTransport,
        cardholder: CardholderInterface,
        *,
        interface: str = "contact",
        sequence_counter: int = 1,
        on_started: Callable[[str], None] | None = None,
        approval: Approval | None = None,
        kind: str = "",
    ) -> PaymentOutcome:
        """Run one card transaction; a refund needs a supervisor ``approval``.

        ``kind`` is ``preauth`` for a pre-authorisation (sent as 0100, kept out of the batch
        totals until completed); otherwise the transaction type's name.
        """
        if request.transaction_type is TransactionType.REFUND and not (
            approval and approval.role == SUPERVISOR and approval.action == "refund"
        ):
            raise NotAuthorised("a refund needs the supervisor PIN; use 'pos refund'.")
        kind = kind or request.transaction_type.name.lower()
        txn_id = self.journal.new_transaction_id()
        extra = {"operator": approval.role} if approval else {}
        self.journal.append(
            txn_id,
            "started",
            amount=request.amount_minor,
            other_amount=request.other_amount_minor,
            currency=request.currency.alpha,
            type=kind,
            interface=interface,
            **extra,
        )
        if on_started:
            on_started(txn_id)
        authoriser = (
            JournalingAuthoriser(self.authoriser, self.journal, txn_id)
            if self.authoriser is not None
            else None
        )
        kernel = ContactKernel(
            self.settings.emv,
            cardholder,
            authoriser,
            self.clock,
            self.random,
            oda_engine=self.oda_engine,
            cda_verifier=self.cda_verifier,
        )
        force_online = request.force_online
        can_offline = getattr(self.authoriser, "can_approve_offline", None)
        if callable(can_offline) and not can_offline(
            request.amount_minor, request.currency.numeric
        ):
            force_online = True  # the store-and-forward queue is full: no offline approvals
        params = TransactionParameters(
            # EMV: Amount, Authorised (9F02) includes the cashback, Amount, Other (9F03).
            amount_minor=request.amount_minor + request.other_amount_minor,
            currency_numeric=request.currency.numeric,
            currency_exponent=request.currency.exponent,
            other_amount_minor=request.other_amount_minor,
            transaction_type=request.transaction_type,
            sequence_counter=sequence_counter,
            force_online=force_online,
            currency_alpha=request.currency.alpha,
        )
        started = time.perf_counter()
        mti = getattr(self.authoriser, "authorisation_mti", None)
        if kind == "preauth":
            if mti is None:
                raise NotAuthorised("a pre-authorisation needs the acquirer link (ISO 8583 0100).")
            self.authoriser.authorisation_mti = "0100"  # type: ignore[union-attr]
        try:
            result = kernel.run(
                transport, params, recent_amount_same_pan=self._offline_amount_today
            )
        finally:
            if mti is not None:
                self.authoriser.authorisation_mti = mti  # type: ignore[union-attr]
        duration = (time.perf_counter() - started) * 1000
        result.interface = interface
        outcome = PaymentOutcome(txn_id, result, request, duration_ms=duration)
        outcome.stan = authoriser.stan if authoriser else ""
        return self.complete(txn_id, result, outcome, kind, authoriser)

    def complete(
        self,
        txn_id: str,
        result: TransactionResult,
        outcome: PaymentOutcome,
        kind: str,
        authoriser: JournalingAuthoriser | None,
    ) -> PaymentOutcome:
        """Finish any card transaction (contact or contactless) after the kernel's decision."""
        # Durable before 'completed': the 0400 of a host approval the card declined, the batch
        # record, and an offline approval's advice - so no crash after 'completed' loses one.
        if result.needs_reversal:
            self._arm_reversal()
        offline = not result.online_attempted or result.unable_to_go_online
        advice_key = ""
        if result.approved and offline and result.authorisation_request:
            advice_key = self._enqueue_advice(txn_id, result, kind, outcome)
        elif result.approved and result.host_response and result.host_response.approved:
            self.record_approval(txn_id, result, kind)
        self.journal.append(
            txn_id,
            "completed",
            outcome=result.outcome.value,
            reason=result.reason,
            aid=result.aid,
            label=result.application_label,
            pan_masked=result.pan_masked,
            tvr=result.tvr,
            tsi=result.tsi,
            cvm_results=result.cvm_results,
            cvm=result.cvm_description,
            cryptogram_type=result.cryptogram_type,
            offline=not result.online_attempted,
            stan=outcome.stan,
            auth_code=result.host_response.auth_code if result.host_response else "",
            response_code=result.host_response.response_code if result.host_response else "",
            interface=result.interface,
            **({"advice_key": advice_key} if advice_key else {}),
            **self._pan_reference(result),
        )
        lost = result.online_attempted and result.unable_to_go_online
        if result.needs_reversal or (lost and not (authoriser and authoriser.not_sent)):
            outcome.reversal = self.reverse(txn_id, result)
        if advice_key:
            self.journal.append(txn_id, "advice_queued", advice_key=advice_key, stan=outcome.stan)
            outcome.extra["advice"] = self.send_advices(txn_id, advice_key)
        return outcome

    def _offline_amount_today(self, pan: str) -> int:
        """Split-sales check (Book 3 10.6.1): today's offline approvals on the same card."""
        return self.journal.amount_today_for("", pan_fingerprint(pan))

    @staticmethod
    def _pan_reference(result: TransactionResult) -> dict[str, str]:
        request = result.authorisation_request
        return {"pan_hash": pan_fingerprint(request.pan)} if request is not None else {}

    @property
    def batch(self) -> Batch | None:
        if isinstance(self._batch, str):
            from terminal.datakey import load_or_create
            from terminal.runtime import data_dir

            base = data_dir()
            base.mkdir(parents=True, exist_ok=True)
            self._batch = Batch(base / "batch.sqlite", load_or_create(base / "keys" / "data.key"))
        return self._batch

    def record_approval(self, txn_id: str, result: TransactionResult, kind: str) -> None:
        """Seal an online approval's original request into the open batch (if there is one)."""
        doc = getattr(self.authoriser, "last_request", None)
        batch = self.batch if doc else None
        if batch is None or not doc:
            return
        batch.add(
            txn_id,
            kind,
            doc,
            scheme=scheme_for_aid(result.aid),
            in_totals=kind != "preauth",
        )

    def _enqueue_advice(
        self, txn_id: str, result: TransactionResult, kind: str, outcome: PaymentOutcome
    ) -> str:
        """Offline approval: persist the 0220 advice (and its batch record); return its key."""
        client = self.authoriser
        queue = getattr(client, "queue_advice", None)
        if client is None or not callable(queue) or result.authorisation_request is None:
            return ""
        from acquirer_client.saf import SafError

        try:
            key: str = queue(result.authorisation_request)
        except SafError as exc:
            # The card approved offline but the advice cannot be parked: say so in the journal
            # (pos journal show) so the operator can settle it by hand; money is at risk.
            self.journal.append(txn_id, "advice_failed", error=str(exc)[:200])
            outcome.extra["advice"] = "failed"
            return ""
        outcome.stan = key.split(":")[1] if key.count(":") >= 2 else outcome.stan
        store = getattr(client, "advices", None)
        batch = self.batch if store is not None else None
        if batch is not None and store is not None:
            for stored_key, doc in store.advices():
                if stored_key == key:
                    batch.add(
                        txn_id, "advice", doc, scheme=scheme_for_aid(result.aid), in_totals=True
                    )
        return key

    def send_advices(self, txn_id: str, key: str) -> str:
        """Send the queued advices; journal ``advice_sent`` when this one got its 0230."""
        client = self.authoriser
        try:
            left = client.send_advices()  # type: ignore[union-attr]
        except OnlineUnavailable:
            left = 1
        if left == 0:
            self.journal.append(txn_id, "advice_sent")
            return "sent"
        return "queued" if key else ""

    def _arm_reversal(self) -> None:
        """Make the last request's 0400 due in the client's durable store (idempotent)."""
        client = self.authoriser
        last = getattr(client, "last_request", None)
        store = getattr(client, "reversals", None)
        if client is None or last is None or store is None:
            return
        from acquirer_client.client import reversal_key
        from acquirer_client.messages import reversal_request

        clock = getattr(client, "clock", None) or self.clock
        key = reversal_key(last)
        store.arm(key, reversal_request(last, clock.now()))
        store.make_due(key)

    def reverse(self, txn_id: str, result: TransactionResult) -> str:
        """Reverse a host approval the card did not complete, or an unanswered request."""
        client = self.authoriser
        if client is None or not hasattr(client, "reverse_last"):
            return ""
        if result.needs_reversal:
            self._arm_reversal()  # due in the durable store before the journal says queued
        self.journal.append(txn_id, "reversal_queued", reason=result.reason[:200])
        try:
            remaining = client.send_due_reversals()  # type: ignore[attr-defined]
        except OnlineUnavailable:
            remaining = 1
        if remaining == 0:
            self.journal.append(txn_id, "reversal_acknowledged")
            return "acknowledged"
        return "pending"
