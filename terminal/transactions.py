"""After the sale: void (0400) and pre-authorisation completion (0220), journal first.

* **Void** (ISO 8583:1987 4.1.3.4 reversal, initiated by the merchant): a supervisor picks an
  approved transaction from today's journal by its STAN.  The 0400 sent is the one journaled
  beside the host's approval (``host_response.reversal``: no card data); for an offline
  approval or a completion it is built from the batch record.  The journal gets
  ``void_requested`` and ``reversal_queued`` *before* the 0400 leaves, and
  ``reversal_acknowledged`` + ``void_acknowledged`` after the 0410; the reversal sits in the
  durable store until acknowledged, so a crash or a dead link only delays it (``pos recover``
  sends it again, the host de-duplicates).  The batch record is marked voided first.
* **Completion** (ISO 8583:1987 0220 advice, processing code of the original, DE 90 naming the
  0100 pre-authorisation, DE 38 its approval code): for at most the authorised amount.  The
  advice is parked in the store-and-forward queue and sealed into the batch before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from acquirer_client import messages as m
from acquirer_client.client import reversal_key
from emv.ports import OnlineUnavailable
from terminal.batch import Batch, BatchRecord
from terminal.errors import UserFacingError
from terminal.journal import Journal, JournalEntry
from terminal.operators import SUPERVISOR, Approval, NotAuthorised

VOIDABLE_TYPES = ("purchase", "refund", "cashback", "cash", "preauth", "completion")


class TransactionRefused(UserFacingError):
    """The void or completion cannot be done; the message says why in one sentence."""


@dataclass(frozen=True)
class VoidOutcome:
    txn_id: str
    stan: str
    amount_minor: int
    currency: str
    status: str  # voided | pending (the 0400 waits for the host; it is retried)

    def as_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.txn_id,
            "stan": self.stan,
            "amount": self.amount_minor,
            "currency": self.currency,
            "status": self.status,
        }


@dataclass(frozen=True)
class CompletionOutcome:
    txn_id: str
    preauth_txn_id: str
    stan: str
    amount_minor: int
    currency: str
    advice: str  # sent | queued

    def as_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.txn_id,
            "preauth_transaction_id": self.preauth_txn_id,
            "stan": self.stan,
            "amount": self.amount_minor,
            "currency": self.currency,
            "advice": self.advice,
        }


def _today(entry: JournalEntry, today: str) -> bool:
    return entry.started_at.startswith(today)


def find_by_stan(journal: Journal, stan: str, *, today: str | None = None) -> JournalEntry:
    """Today's transaction with this STAN (the latest if the counter wrapped)."""
    if not (stan.isdigit() and 1 <= len(stan) <= 6 and int(stan) > 0):
        raise TransactionRefused(f"'{stan}' is not a STAN: it is 1 to 6 digits, e.g. 000123.")
    wanted = stan.zfill(6)
    day = today or datetime.now(UTC).date().isoformat()
    hits = [
        e
        for e in journal.entries()
        if str(e.data.get("stan", "")) == wanted
        and _today(e, day)
        and e.data.get("type") != "batch"
    ]
    if not hits:
        raise TransactionRefused(
            f"no transaction with STAN {wanted} in today's journal; 'pos journal list' shows them."
        )
    return hits[-1]


def void(
    journal: Journal,
    batch: Batch | None,
    client: Any,
    stan: str,
    approval: Approval,
    *,
    now: datetime | None = None,
) -> VoidOutcome:
    """Void today's approved transaction ``stan`` (see the module text for the order)."""
    if approval.role != SUPERVISOR or approval.action != "void":
        raise NotAuthorised("a void needs the supervisor PIN.")
    entry = find_by_stan(journal, stan)
    data, kinds = entry.data, entry.kinds
    label = f"transaction {entry.txn_id} (STAN {data.get('stan')})"
    if "void_requested" in kinds:
        raise TransactionRefused(f"{label} is already voided.")
    if "preauth_completed" in kinds:
        raise TransactionRefused(
            f"{label} is a pre-authorisation that was completed; void its completion instead."
        )
    if entry.status != "approved":
        raise TransactionRefused(f"{label} is {entry.status}, and only approvals can be voided.")
    if data.get("type") not in VOIDABLE_TYPES:
        raise TransactionRefused(f"{label} is a {data.get('type')} and cannot be voided.")
    record = batch.get(entry.txn_id) if batch is not None else None
    when = now or client.clock.now()
    doc = data.get("reversal") if "host_response" in kinds else None
    if not isinstance(doc, dict) and record is not None:
        doc = m.reversal_request(record.document, when)
    if not isinstance(doc, dict) or str(doc.get("11")) != str(data.get("stan")):
        raise TransactionRefused(
            f"{label} has no reversal message on record, so it cannot be voided here; "
            "ask the acquirer to cancel it."
        )
    journal.append(
        entry.txn_id, "void_requested", operator=approval.role, stan=doc["11"], void_reversal=doc
    )
    status = _finish_void(journal, batch, client, entry.txn_id, doc)
    return VoidOutcome(
        entry.txn_id,
        doc["11"],
        int(data.get("amount", 0)),
        str(data.get("currency", "")),
        status,
    )


def _finish_void(
    journal: Journal, batch: Batch | None, client: Any, txn_id: str, doc: dict[str, str]
) -> str:
    """After ``void_requested``: batch record out, 0400 durable and sent; idempotent."""
    if batch is not None and batch.get(txn_id) is not None:
        batch.mark(txn_id, "voided")
    key = f"{doc['41'].strip()}:{doc['11']}:{doc['90']}"
    store = client.reversals
    store.arm(key, doc)  # a second arm of the same 0400 is a no-op; a resend is de-duplicated
    store.make_due(key)
    entry = journal.entry(txn_id)
    if entry is not None and entry.kinds[-1] == "void_requested":
        journal.append(txn_id, "reversal_queued", reason="voided by the supervisor")
    try:
        if getattr(client, "advices", None) is not None:
            client.send_advices()  # an offline approval's advice goes before its reversal
        client.send_due_reversals()
    except OnlineUnavailable:
        pass
    if key in {k for k, _ in store.due()}:
        return "pending"
    journal.append(txn_id, "reversal_acknowledged")
    journal.append(txn_id, "void_acknowledged")
    return "voided"


def finish_interrupted(journal: Journal, batch: Batch | None, client: Any) -> list[str]:
    """Start-up step for voids and completions a crash or a dead link left half done.

    Run it before :func:`terminal.recovery.recover`.  An offline approval whose ``completed``
    names an advice key with no ``advice_queued`` gets that event (recovery then sends it).
    A ``void_requested`` without
    ``void_acknowledged`` gets its 0400 armed again from the journal and sent; a completion
    ``started`` without ``completed`` is finished from its batch record (advice parked again,
    the host de-duplicates) or closed as aborted when nothing was parked.  Returns the ids.
    """
    done: list[str] = []
    for entry in journal.entries():
        kinds = entry.kinds
        if "void_requested" in kinds and "void_acknowledged" not in kinds:
            last_void = len(kinds) - 1 - kinds[::-1].index("void_requested")
            if "reversal_acknowledged" in kinds[last_void:]:
                journal.append(entry.txn_id, "void_acknowledged")
            else:
                doc = entry.data.get("void_reversal")
                if isinstance(doc, dict):
                    _finish_void(journal, batch, client, entry.txn_id, doc)
            done.append(entry.txn_id)
        elif (
            "completed" in kinds and entry.data.get("advice_key") and ("advice_queued" not in kinds)
        ):
            # An offline approval killed between 'completed' and 'advice_queued': its sealed
            # 0220 is already in the store-and-forward queue; recovery then sends it.
            key = str(entry.data["advice_key"])
            journal.append(entry.txn_id, "advice_queued", advice_key=key)
            done.append(entry.txn_id)
        elif entry.data.get("type") == "completion" and "completed" not in kinds:
            record = batch.get(entry.txn_id) if batch is not None else None
            if record is None or batch is None:
                journal.append(
                    entry.txn_id,
                    "completed",
                    outcome="aborted",
                    reason="recovered: the completion stopped before anything was sent",
                )
            else:
                preauth = journal.entry(str(entry.data.get("preauth", "")))
                _finish_completion(journal, batch, client, entry.txn_id, record.document, preauth)
            done.append(entry.txn_id)
    return done


def _open_preauth(journal: Journal, batch: Batch, preauth_txn_id: str) -> BatchRecord:
    entry = journal.entry(preauth_txn_id)
    if entry is None:
        raise TransactionRefused(
            f"no transaction '{preauth_txn_id}' in the journal; 'pos journal list' shows them."
        )
    if entry.data.get("type") != "preauth":
        raise TransactionRefused(f"transaction {preauth_txn_id} is not a pre-authorisation.")
    if "preauth_completed" in entry.kinds:
        raise TransactionRefused(f"pre-authorisation {preauth_txn_id} is already completed.")
    if "void_requested" in entry.kinds or entry.status != "approved":
        status = "voided" if "void_requested" in entry.kinds else entry.status
        raise TransactionRefused(
            f"pre-authorisation {preauth_txn_id} is {status}, so it cannot be completed."
        )
    record = batch.get(preauth_txn_id)
    if record is None or record.kind != "preauth" or record.state != "open":
        raise TransactionRefused(
            f"pre-authorisation {preauth_txn_id} is not in the open batch any more; "
            "ask the acquirer to complete it."
        )
    return record


def _finish_completion(
    journal: Journal,
    batch: Batch,
    client: Any,
    txn_id: str,
    doc: dict[str, str],
    preauth: JournalEntry | None,
) -> str:
    """After the batch record: park the 0220, journal ``completed``, send; idempotent."""
    key = reversal_key(doc)
    client.advices.enqueue_advice(key, doc)  # ON CONFLICT DO NOTHING; resends are de-duplicated
    data = preauth.data if preauth is not None else {}
    journal.append(
        txn_id,
        "completed",
        outcome="approved",
        reason="pre-authorisation completed",
        aid=data.get("aid", ""),
        label=data.get("label", ""),
        pan_masked=data.get("pan_masked", ""),
        offline=False,
        stan=doc["11"],
        auth_code=data.get("auth_code", ""),
        response_code="00",
    )
    if preauth is not None:
        journal.append(preauth.txn_id, "preauth_completed", completion=txn_id)
    journal.append(txn_id, "advice_queued", advice_key=key, stan=doc["11"])
    try:
        left = client.send_advices()
    except OnlineUnavailable:
        left = 1
    if left == 0:
        journal.append(txn_id, "advice_sent")
        return "sent"
    return "queued"


def completion_advice(
    preauth: BatchRecord, auth_code: str, amount_minor: int, stan: int, when: datetime
) -> m.IsoDoc:
    """The 0220 completion of a 0100 pre-authorisation (card data from the sealed original)."""
    doc = dict(preauth.document)
    original = dict(doc)
    doc["t"] = "0220"
    doc["4"] = m.amount_field(amount_minor)
    doc["7"] = when.strftime("%m%d%H%M%S")
    doc["11"] = f"{stan:06d}"
    doc["12"] = when.strftime("%H%M%S")
    doc["13"] = when.strftime("%m%d")
    if auth_code:
        doc["38"] = auth_code[:6].ljust(6)
    doc["90"] = m.original_data_elements(original)
    return doc


def complete(
    journal: Journal,
    batch: Batch,
    client: Any,
    preauth_txn_id: str,
    amount_minor: int | None,
    *,
    now: datetime | None = None,
) -> CompletionOutcome:
    """Complete a pre-authorisation for ``amount_minor`` (default: the authorised amount)."""
    record = _open_preauth(journal, batch, preauth_txn_id)
    entry = journal.entry(preauth_txn_id)
    assert entry is not None  # noqa: S101 - checked by _open_preauth
    amount = record.amount_minor if amount_minor is None else amount_minor
    currency = str(entry.data.get("currency", ""))
    if amount <= 0:
        raise TransactionRefused("a completion amount must be more than zero.")
    if amount > record.amount_minor:
        raise TransactionRefused(
            f"the completion amount is more than the {record.amount_minor} minor units "
            "authorised; run a new sale for the difference."
        )
    store = getattr(client, "advices", None)
    if store is None:
        raise TransactionRefused(
            "completions need the store-and-forward queue, and none is configured."
        )
    if not store.can_accept(amount, record.currency_numeric):
        raise TransactionRefused(
            "the store-and-forward queue is full; run 'pos recover' to send it, then complete."
        )
    when = now or client.clock.now()
    doc = completion_advice(
        record, str(entry.data.get("auth_code", "")), amount, client.stan_source(), when
    )
    txn_id = journal.new_transaction_id()
    journal.append(
        txn_id,
        "started",
        amount=amount,
        other_amount=0,
        currency=currency,
        type="completion",
        interface=str(entry.data.get("interface", "contact")),
        preauth=preauth_txn_id,
        stan=doc["11"],
    )
    batch.add(txn_id, "completion", doc, scheme=record.scheme, in_totals=True)
    batch.mark(preauth_txn_id, "completed")
    advice = _finish_completion(journal, batch, client, txn_id, doc, entry)
    return CompletionOutcome(txn_id, preauth_txn_id, doc["11"], amount, currency, advice)
