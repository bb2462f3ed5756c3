"""Start-up recovery: finish what a crash or power cut left in doubt.

Rules (every host approval ends completed or reversed):

* an ``online_request`` with no ``host_response`` -> the answer was lost; the acquirer
  client armed a reversal before sending, and the store made it due on opening;
* a ``host_response`` that approved with no ``completed`` -> the card's final decision is
  unknown, so the approval is reversed with the 0400 journaled beside the response;
* a ``host_response`` that declined with no ``completed`` -> nothing to undo;
* a ``reversal_queued`` with no ``reversal_acknowledged`` -> sent again until the 0410.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from terminal.journal import Journal, JournalEntry


@dataclass
class RecoveryReport:
    reversals_queued: list[str] = field(default_factory=list)
    reversals_acknowledged: list[str] = field(default_factory=list)
    reversals_pending: list[str] = field(default_factory=list)
    closed_declined: list[str] = field(default_factory=list)
    advices_sent: int = 0
    finished: list[str] = field(default_factory=list)  # voids/completions finished

    @property
    def anything(self) -> bool:
        return bool(
            self.reversals_queued
            or self.reversals_acknowledged
            or self.reversals_pending
            or self.closed_declined
            or self.advices_sent
            or self.finished
        )

    def sentence(self) -> str:
        if not self.anything:
            return "Recovery: nothing was left in doubt."
        parts = []
        if self.reversals_acknowledged:
            parts.append(f"{len(self.reversals_acknowledged)} interrupted payment(s) reversed")
        if self.reversals_pending:
            parts.append(
                f"{len(self.reversals_pending)} reversal(s) still waiting for the host "
                "(they are retried automatically)"
            )
        if self.closed_declined:
            parts.append(f"{len(self.closed_declined)} declined payment(s) closed")
        if self.advices_sent:
            parts.append(f"{self.advices_sent} offline approval(s) sent to the host")
        if self.finished:
            parts.append(f"{len(self.finished)} interrupted void(s) or completion(s) finished")
        return "Recovery: " + "; ".join(parts) + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "reversals_queued": self.reversals_queued,
            "reversals_acknowledged": self.reversals_acknowledged,
            "reversals_pending": self.reversals_pending,
            "closed_declined": self.closed_declined,
            "advices_sent": self.advices_sent,
            "finished": self.finished,
            "message": self.sentence(),
        }


def _key(doc: dict[str, str]) -> str:
    return f"{doc['41'].strip()}:{doc['11']}:{doc['90']}"


def _due_by_stan(store: Any) -> dict[str, str]:
    return {str(doc.get("11", "")): key for key, doc in store.due()}


def recover(journal: Journal, client: Any) -> RecoveryReport:
    """Run the rules above; ``client`` is an :class:`acquirer_client.client.AcquirerClient`."""
    report = RecoveryReport()
    store = client.reversals
    due = _due_by_stan(store)
    waiting: dict[str, JournalEntry] = {}
    for entry in journal.entries():
        kinds = entry.kinds
        if "completed" in kinds and "reversal_queued" not in kinds:
            continue
        if "reversal_acknowledged" in kinds:
            continue
        stan = str(entry.data.get("stan", ""))
        if "reversal_queued" in kinds:
            waiting[entry.txn_id] = entry
            continue
        if "online_request" not in kinds:
            continue  # never left the terminal: nothing to undo
        if "host_response" not in kinds:
            journal.append(entry.txn_id, "reversal_queued", reason="the host's answer was lost")
        elif entry.data.get("host_approved"):
            doc = entry.data.get("reversal")
            if isinstance(doc, dict):
                key = _key(doc)
                store.arm(key, doc)
                store.make_due(key)
            journal.append(
                entry.txn_id,
                "reversal_queued",
                reason="the terminal stopped before the card completed the payment",
            )
        else:
            journal.append(
                entry.txn_id,
                "completed",
                outcome="declined",
                reason=f"recovered: the host had declined ({entry.data.get('response_code')})",
            )
            report.closed_declined.append(entry.txn_id)
            continue
        report.reversals_queued.append(entry.txn_id)
        waiting[entry.txn_id] = entry
        due = _due_by_stan(store)
    if due or waiting:
        client.send_due_reversals()
    still_due = _due_by_stan(store)
    for txn_id, entry in waiting.items():
        stan = str(entry.data.get("stan", ""))
        if stan and stan in still_due:
            report.reversals_pending.append(txn_id)
        else:
            journal.append(txn_id, "reversal_acknowledged")
            report.reversals_acknowledged.append(txn_id)
    queue = getattr(client, "advices", None)
    pending_advices = {
        e.data.get("advice_key"): e.txn_id
        for e in journal.entries()
        if "advice_queued" in e.kinds and "advice_sent" not in e.kinds
    }
    if queue is not None and pending_advices:
        client.send_advices()
        left = {key for key, _ in queue.advices()}
        for key, txn_id in pending_advices.items():
            if key not in left:
                journal.append(txn_id, "advice_sent")
                report.advices_sent += 1
    return report


def start_up(journal: Journal, client: Any) -> RecoveryReport:
    """Everything start-up recovery does, in order: finish interrupted voids, completions
    and advice hand-offs (:func:`terminal.transactions.finish_interrupted`), then the rules
    above.  Used by ``pos pay``, ``pos recover`` and ``pos run``."""
    from terminal.batch import Batch
    from terminal.datakey import load_or_create
    from terminal.runtime import data_dir
    from terminal.transactions import finish_interrupted

    base = data_dir()
    base.mkdir(parents=True, exist_ok=True)
    batch = Batch(base / "batch.sqlite", load_or_create(base / "keys" / "data.key"))
    try:
        finished = finish_interrupted(journal, batch, client)
    finally:
        batch.close()
    report = recover(journal, client)
    report.finished = list(finished)
    return report
