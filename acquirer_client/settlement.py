"""Batch close: reconciliation (0500/0510) per currency, batch upload (0320/0330) on disagreement.

ISO 8583:1987 4.1.3.5 reconciliation: the terminal sends its totals (DE 74-77 counts, DE 86-89
amounts, DE 97 net) for one currency.  The host answers DE 66 = 1 (in balance, batch closed)
or 2 (out of balance).  Out of balance, the terminal uploads every transaction of the batch as
a 0320 naming its original in DE 90 (the host books any it never saw, e.g. a lost advice) and
sends the 0500 again; a second disagreement is reported, not hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from acquirer_client import messages as m
from acquirer_client.client import AcquirerClient

CREDIT_PROCESSING = ("20",)


def batch_totals(records: Iterable[Mapping[str, str]]) -> dict[int, m.CurrencyTotals]:
    """Totals per currency of the batch's approved, not reversed original requests."""
    out: dict[int, m.CurrencyTotals] = {}
    for doc in records:
        currency = int(doc["49"])
        amount = int(doc["4"])
        t = out.get(currency, m.CurrencyTotals(currency))
        if doc.get("3", "00")[:2] in CREDIT_PROCESSING:
            t = replace(
                t, credits_count=t.credits_count + 1, credits_amount=t.credits_amount + amount
            )
        else:
            t = replace(t, debits_count=t.debits_count + 1, debits_amount=t.debits_amount + amount)
        out[currency] = t
    return out


def upload_message(original: Mapping[str, str]) -> m.IsoDoc:
    """0320 batch upload of one original: its fields, DE 90 naming it."""
    doc = {k: v for k, v in original.items() if k not in ("52", "53", "64", "128")}
    doc["t"] = "0320"
    doc["90"] = m.original_data_elements(original)
    return doc


@dataclass(frozen=True)
class SettlementResult:
    currency_numeric: int
    in_balance: bool
    uploaded: int
    totals: m.CurrencyTotals


def settle(
    client: AcquirerClient, batch_number: int, records: list[Mapping[str, str]]
) -> list[SettlementResult]:
    """Close the batch: one reconciliation per currency, with a batch upload if needed.

    Raises :class:`emv.ports.OnlineUnavailable` when the host cannot be reached.
    """
    results: list[SettlementResult] = []
    for currency, totals in sorted(batch_totals(records).items()):
        answer = _reconcile(client, totals, batch_number)
        uploaded = 0
        if answer.get("66") != "1":
            for doc in records:
                if int(doc["49"]) == currency:
                    client.exchange(upload_message(doc))
                    uploaded += 1
            answer = _reconcile(client, totals, batch_number)
        results.append(SettlementResult(currency, answer.get("66") == "1", uploaded, totals))
    return results


def _reconcile(client: AcquirerClient, totals: m.CurrencyTotals, batch: int) -> m.IsoDoc:
    doc = m.reconciliation_request(
        totals, client.terminal, client.stan_source(), client.clock.now(), batch
    )
    return client.exchange(doc)
