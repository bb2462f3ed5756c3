"""End of day: reconcile the open batch with the acquirer and close it.

Order (ISO 8583:1987 0500/0510 reconciliation, 0320/0330 batch upload):

1. finish a close a crash interrupted (the journal says ``closed`` but records remain);
2. voids and completions left half done (``terminal.transactions.finish_interrupted``), then
   start-up recovery (``terminal.recovery``): in-doubt approvals reversed, advices sent; a
   reversal or advice the host has not acknowledged blocks settlement (the totals would differ);
3. the batch's records whose journal status is still ``approved`` make the totals: debits
   (sales, advices, completions) and credits (refunds) per currency, and per card scheme
   (from the AID's RID) for the report;
4. ``acquirer_client.settlement.settle``: one 0500 per currency, a batch upload and a second
   0500 when the host disagrees;
5. every currency in balance: the journal records ``completed``/``closed`` for the batch
   *first*, then the batch's card data is destroyed and the next batch opens.  Otherwise the
   batch stays open and the report says which currency is out of balance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from acquirer_client.settlement import SettlementResult, settle
from emv.ports import OnlineUnavailable
from terminal.batch import Batch, BatchRecord
from terminal.errors import UserFacingError
from terminal.journal import Journal
from terminal.money import Currency, currency
from terminal.recovery import recover
from terminal.transactions import finish_interrupted

WIDTH = 42


class SettlementBlocked(UserFacingError):
    """Settlement cannot start or finish; the message says what to do."""


@dataclass
class SchemeTotals:
    currency: str
    scheme: str
    sales_count: int = 0
    sales_amount: int = 0
    refunds_count: int = 0
    refunds_amount: int = 0


@dataclass
class SettlementReport:
    batch_number: int
    terminal_id: str
    merchant_id: str
    when: datetime
    in_balance: bool = True
    closed: bool = False
    next_batch: int | None = None
    schemes: list[SchemeTotals] = field(default_factory=list)
    currencies: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_number": self.batch_number,
            "terminal_id": self.terminal_id,
            "merchant_id": self.merchant_id,
            "time": self.when.isoformat(timespec="seconds"),
            "in_balance": self.in_balance,
            "closed": self.closed,
            "next_batch": self.next_batch,
            "currencies": self.currencies,
            "schemes": [s.__dict__ for s in self.schemes],
            "report": self.text(),
        }

    def text(self) -> str:
        """The printable report (monospace, 42 columns like an 80 mm receipt printer)."""
        rule = "-" * WIDTH
        lines = [
            "SETTLEMENT REPORT".center(WIDTH),
            f"Merchant {self.merchant_id}",
            f"Terminal {self.terminal_id}",
            f"Batch {self.batch_number:06d}  {self.when:%Y-%m-%d %H:%M}",
            rule,
        ]
        for s in self.schemes:
            cur = currency(s.currency)
            lines.append(f"{s.currency} {s.scheme}")
            lines.append(_line(f"  sales    {s.sales_count:>4}", cur.format(s.sales_amount)))
            lines.append(_line(f"  refunds  {s.refunds_count:>4}", cur.format(s.refunds_amount)))
        if not self.schemes:
            lines.append("No transactions in this batch.")
        lines.append(rule)
        for c in self.currencies:
            cur = currency(c["currency"])
            lines.append(
                _line(
                    f"{c['currency']} debits  {c['debits_count']:>4}",
                    cur.format(c["debits_amount"]),
                )
            )
            lines.append(
                _line(
                    f"{c['currency']} credits {c['credits_count']:>4}",
                    cur.format(c["credits_amount"]),
                )
            )
            lines.append(_line(f"{c['currency']} net", cur.format(c["net_amount"])))
            state = "in balance" if c["in_balance"] else "OUT OF BALANCE"
            upload = f", {c['uploaded']} uploaded" if c["uploaded"] else ""
            lines.append(f"  host: {state}{upload}")
        lines.append(rule)
        if self.closed:
            lines.append(f"BATCH {self.batch_number:06d} CLOSED".center(WIDTH))
        else:
            lines.append(f"BATCH {self.batch_number:06d} STILL OPEN".center(WIDTH))
        return "\n".join(lines)

    def sentence(self) -> str:
        if self.closed:
            return f"Batch {self.batch_number:06d} closed: the host agrees to the cent."
        bad = ", ".join(c["currency"] for c in self.currencies if not c["in_balance"])
        return (
            f"Batch {self.batch_number:06d} is out of balance in {bad} even after the batch "
            "upload; it stays open - call the acquirer's help desk with this report."
        )


def _line(left: str, right: str) -> str:
    return left + right.rjust(max(1, WIDTH - len(left)))


def batch_txn_id(number: int) -> str:
    return f"batch-{number:06d}"


def _finish_interrupted_close(journal: Journal, batch: Batch) -> None:
    entry = journal.entry(batch_txn_id(batch.number))
    if entry is not None and entry.data.get("outcome") == "closed":
        batch.close_batch()


def _blocked(client: Any) -> None:
    due = len(client.reversals.due())
    if due:
        raise SettlementBlocked(
            f"{due} reversal(s) are not yet acknowledged by the host, so the totals would not "
            "match; check the host link and settle again."
        )
    queue = getattr(client, "advices", None)
    left = len(queue.advices()) if queue is not None else 0
    if left:
        raise SettlementBlocked(
            f"{left} offline approval(s) have not reached the host yet; check the host link "
            "and settle again."
        )


def settled_records(journal: Journal, batch: Batch) -> list[BatchRecord]:
    """Records that count: open, in the totals, and still ``approved`` in the journal.

    Every batch record was written after its transaction's first journal event, so an open
    record the journal does not know means the journal lost records (wiped, or replaced by an
    older or empty file): closing would drop host-approved sales from the totals, so the
    settlement is refused instead.
    """
    entries = {e.txn_id: e for e in journal.entries()}
    records = batch.records()  # opens every sealed record: once
    out = []
    unknown = [
        r.txn_id for r in records if r.in_totals and r.state == "open" and r.txn_id not in entries
    ]
    if unknown:
        raise SettlementBlocked(
            f"{len(unknown)} approval(s) in batch {batch.number} are missing from the journal "
            f"{journal.path} (first: {unknown[0]}), so it was damaged or replaced; the batch "
            "stays open - restore the journal from its backup, then settle again."
        )
    for record in records:
        entry = entries.get(record.txn_id)
        if not record.in_totals or record.state != "open" or entry is None:
            continue
        if entry.status == "approved" and "void_requested" not in entry.kinds:
            out.append(record)
    return out


def qr_entries(journal: Journal) -> list[Any]:
    """Paid QR sales and QR refunds not yet settled (QR payments settle with the QR scheme's
    host, not in the card acquirer's 0500, but they close with the terminal's batch)."""
    return [
        e
        for e in journal.entries()
        if e.data.get("interface") == "qr"
        and e.data.get("type") in ("purchase", "refund")
        and e.status == "approved"
        and "qr_settled" not in e.kinds
    ]


def qr_totals(entries: list[Any]) -> list[SchemeTotals]:
    groups: dict[str, SchemeTotals] = {}
    for e in entries:
        alpha = str(e.data.get("currency", ""))
        t = groups.setdefault(alpha, SchemeTotals(alpha, "QR"))
        amount = int(e.data.get("amount", 0))
        if e.data.get("type") == "refund":
            t.refunds_count += 1
            t.refunds_amount += amount
        else:
            t.sales_count += 1
            t.sales_amount += amount
    return [groups[k] for k in sorted(groups)]


def scheme_totals(records: list[BatchRecord]) -> list[SchemeTotals]:
    groups: dict[tuple[str, str], SchemeTotals] = {}
    for r in records:
        alpha = currency(r.currency_numeric).alpha
        t = groups.setdefault((alpha, r.scheme), SchemeTotals(alpha, r.scheme))
        if r.credit:
            t.refunds_count += 1
            t.refunds_amount += r.amount_minor
        else:
            t.sales_count += 1
            t.sales_amount += r.amount_minor
    return [groups[k] for k in sorted(groups)]


def _currency_row(result: SettlementResult) -> dict[str, Any]:
    t = result.totals
    cur: Currency = currency(result.currency_numeric)
    return {
        "currency": cur.alpha,
        "debits_count": t.debits_count,
        "debits_amount": t.debits_amount,
        "credits_count": t.credits_count,
        "credits_amount": t.credits_amount,
        "net_amount": t.net_amount,
        "in_balance": result.in_balance,
        "uploaded": result.uploaded,
    }


def settle_batch(journal: Journal, batch: Batch, client: Any, when: datetime) -> SettlementReport:
    """Run the steps in the module text; raise :class:`SettlementBlocked` when it cannot."""
    _finish_interrupted_close(journal, batch)
    number = batch.number
    ident = client.terminal
    report = SettlementReport(number, ident.terminal_id, ident.merchant_id, when)
    try:
        finish_interrupted(journal, batch, client)
        recover(journal, client)
    except OnlineUnavailable as exc:
        raise SettlementBlocked(
            f"the host could not be reached for settlement ({exc}); the batch stays open."
        ) from None
    _blocked(client)
    records = settled_records(journal, batch)
    qr = qr_entries(journal)
    report.schemes = scheme_totals(records) + qr_totals(qr)
    txn = batch_txn_id(number)
    journal.append(txn, "settlement_started", type="batch", batch=number, records=len(records))
    try:
        results = settle(client, number, [r.document for r in records])
    except OnlineUnavailable as exc:
        journal.append(txn, "settlement_failed", error=str(exc)[:200])
        raise SettlementBlocked(
            f"the host could not be reached for settlement ({exc}); the batch stays open - "
            "settle again when the link is back."
        ) from None
    report.currencies = [_currency_row(r) for r in results]
    report.in_balance = all(r.in_balance for r in results)
    totals = {c["currency"]: c["net_amount"] for c in report.currencies}
    if not report.in_balance:
        journal.append(txn, "completed", outcome="out of balance", net=totals)
        return report
    journal.append(txn, "completed", outcome="closed", net=totals)  # before destroying data
    for entry in qr:  # the QR sales close with this batch (their host already has them)
        journal.append(entry.txn_id, "qr_settled", batch=number)
    report.next_batch = batch.close_batch()
    report.closed = True
    return report


def totals_by_currency(records: list[BatchRecord]) -> dict[str, dict[str, int]]:
    """Debits and credits per currency, for screens that show the open batch."""
    out: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(
            ("debits_count", "debits_amount", "credits_count", "credits_amount"), 0
        )
    )
    for r in records:
        side = "credits" if r.credit else "debits"
        row = out[currency(r.currency_numeric).alpha]
        row[f"{side}_count"] += 1
        row[f"{side}_amount"] += r.amount_minor
    return dict(out)
