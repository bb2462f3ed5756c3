"""A mixed trading day over real loopback sockets, then settlement: the host simulator's ledger
and the terminal agree to the cent, the batch's card data is gone, and nothing moved twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from acquirer_client.link import LinkConfig
from emv.kernel.context import TransactionType
from hardware_sim.host import HostSimulator, embedded_host
from terminal.journal import contains_pan
from terminal.operators import NotAuthorised
from terminal.settlement import SettlementBlocked, settle_batch
from terminal.transactions import TransactionRefused, complete, void
from tests.transactions_support import (
    SUPERVISOR_REFUND,
    SUPERVISOR_VOID,
    WHEN,
    Terminal,
    offline_settings,
)


@pytest.fixture()
def host() -> Iterator[tuple[HostSimulator, LinkConfig]]:
    with embedded_host(tls=False, read_timeout=3.0, overall_timeout=6.0) as (sim, link):
        yield sim, link


@pytest.fixture()
def terminal(host: tuple[HostSimulator, LinkConfig], tmp_path: Path) -> Iterator[Terminal]:
    t = Terminal(tmp_path / "pos", host[1], offline_settings())
    yield t
    t.close()


def offline_sale(terminal: Terminal, amount: int) -> str:
    """The host is unreachable for one sale: sda_legacy is approved offline (Y1), the 0220
    advice waits in the terminal's store (shared file) until the link is back."""
    dead = replace(terminal.link, port=1)  # nothing listens on port 1
    offline = Terminal(terminal.base, dead, terminal.settings)
    try:
        outcome = offline.sale(amount, "sda_legacy")
        assert outcome.approved and outcome.result.authorisation_response_code in ("Y1", "Y3")
        assert outcome.extra["advice"] == "queued"
        return outcome.stan
    finally:
        offline.close()


def test_mixed_day_settles_to_the_cent(
    host: tuple[HostSimulator, LinkConfig], terminal: Terminal
) -> None:
    sim, _ = host
    t = terminal
    s1 = t.sale(1234)
    s2 = t.sale(2000, "mc_debit")
    s3 = t.sale(1500, cur="USD")
    refund = t.sale(500, kind=TransactionType.REFUND, approval=SUPERVISOR_REFUND)
    voided = t.sale(777)
    declined = t.sale(1005)  # the host rules decline amounts ending in 05
    assert all(o.approved for o in (s1, s2, s3, refund, voided)), refund.result.reason
    assert not declined.approved and declined.result.host_response.response_code == "05"
    assert refund.result.cryptogram_type == "AAC"  # Book 3: a refund asks for an AAC

    v = void(t.journal, t.batch, t.client, voided.stan, SUPERVISOR_VOID)
    assert (v.status, v.amount_minor, v.stan) == ("voided", 777, voided.stan)
    entry = t.journal.entry(voided.txn_id)
    assert entry is not None and entry.kinds[-2:] == ["reversal_acknowledged", "void_acknowledged"]
    assert entry.status == "voided"

    advice_stan = offline_sale(t, 999)
    assert sim.ledger.net_charged() == 1234 + 2000 + 1500 - 500  # the advice has not arrived
    assert t.batch.number == 1
    assert len(t.batch.records()) == 6  # 3 sales, refund, voided sale, offline advice

    report = settle_batch(t.journal, t.batch, t.client, WHEN)

    assert report.closed and report.in_balance and report.next_batch == 2
    by_cur = {c["currency"]: c for c in report.currencies}
    assert by_cur["EUR"] == {
        "currency": "EUR",
        "debits_count": 3,
        "debits_amount": 1234 + 2000 + 999,
        "credits_count": 1,
        "credits_amount": 500,
        "net_amount": 1234 + 2000 + 999 - 500,
        "in_balance": True,
        "uploaded": 0,
    }
    assert (by_cur["USD"]["debits_count"], by_cur["USD"]["net_amount"]) == (1, 1500)
    schemes = {(s.currency, s.scheme): s for s in report.schemes}
    assert (schemes[("EUR", "Visa")].sales_count, schemes[("EUR", "Visa")].sales_amount) == (
        2,
        1234 + 999,
    )
    assert schemes[("EUR", "Visa")].refunds_amount == 500
    assert schemes[("EUR", "Mastercard")].sales_amount == 2000
    # Host ledger: every approved, unreversed debit minus credit, to the cent.
    assert sim.ledger.net_charged() == 1234 + 2000 + 1500 - 500 + 999
    rows = sim.ledger.rows()
    assert all(r.status in ("approved", "reversed", "declined", "applied") for r in rows)
    assert [r.amount_minor for r in rows if r.kind == "advice"] == [999]
    assert sim.ledger.unsettled_totals(t.settings.emv.terminal_id, "978")["debits_count"] == 0
    # The batch's card data is destroyed; the journal chain holds.
    assert t.batch.records() == [] and t.batch.number == 2
    raw = (t.base / "batch.sqlite").read_bytes()
    assert b"4761" not in raw and not contains_pan(raw.decode("latin-1"))
    assert t.journal.verify()[0]
    assert t.journal.entry("batch-000001").status == "closed"  # type: ignore[union-attr]
    assert advice_stan and "advice_sent" in [
        k for e in t.journal.entries() if e.data.get("stan") == advice_stan for k in e.kinds
    ]
    # Settling the new, empty batch sends nothing and closes it.
    again = settle_batch(t.journal, t.batch, t.client, WHEN)
    assert again.closed and again.currencies == [] and again.batch_number == 2


def test_host_that_missed_an_advice_is_fixed_by_batch_upload(
    host: tuple[HostSimulator, LinkConfig], terminal: Terminal
) -> None:
    sim, _ = host
    terminal.sale(1000)
    offline_sale(terminal, 450)
    # The advice is lost between terminal and host (say, a restored store): the host never
    # heard of the offline approval, the batch still has it.
    for key, _ in terminal.store.advices():
        terminal.store.advice_sent(key)
    assert sim.ledger.net_charged() == 1000
    report = settle_batch(terminal.journal, terminal.batch, terminal.client, WHEN)
    (eur,) = report.currencies
    assert eur["uploaded"] == 2 and eur["in_balance"] and report.closed
    assert sim.ledger.net_charged() == 1450  # the 0320 booked the missing advice, once
    assert [r.mti for r in sim.ledger.rows() if r.kind == "advice"] == ["0320"]


def test_void_rules_are_one_sentence_each(terminal: Terminal) -> None:
    sale = terminal.sale(1200)
    declined = terminal.sale(2051)  # amount ending 51: insufficient funds
    with pytest.raises(TransactionRefused, match="not a STAN"):
        void(terminal.journal, terminal.batch, terminal.client, "12x", SUPERVISOR_VOID)
    with pytest.raises(TransactionRefused, match="no transaction with STAN 999999"):
        void(terminal.journal, terminal.batch, terminal.client, "999999", SUPERVISOR_VOID)
    with pytest.raises(TransactionRefused, match="only approvals can be voided"):
        void(terminal.journal, terminal.batch, terminal.client, declined.stan, SUPERVISOR_VOID)
    with pytest.raises(NotAuthorised):
        void(terminal.journal, terminal.batch, terminal.client, sale.stan, SUPERVISOR_REFUND)
    assert void(terminal.journal, terminal.batch, terminal.client, sale.stan, SUPERVISOR_VOID)
    with pytest.raises(TransactionRefused, match="already voided"):
        void(terminal.journal, terminal.batch, terminal.client, sale.stan, SUPERVISOR_VOID)
    assert terminal.batch.get(sale.txn_id).state == "voided"  # type: ignore[union-attr]


def test_refund_without_supervisor_is_refused_before_the_card(terminal: Terminal) -> None:
    before = len(terminal.journal.entries())
    with pytest.raises(NotAuthorised, match="supervisor"):
        terminal.sale(500, kind=TransactionType.REFUND)
    assert len(terminal.journal.entries()) == before


def test_void_waits_for_a_dead_host_and_recovery_finishes_it(
    host: tuple[HostSimulator, LinkConfig], terminal: Terminal
) -> None:
    sim, link = host
    sale = terminal.sale(3000)
    terminal.client.link = replace(link, port=1)
    from acquirer_client.link import Connection

    terminal.client._connection = Connection(terminal.client.link)  # noqa: SLF001 - cut the link
    pending = void(terminal.journal, terminal.batch, terminal.client, sale.stan, SUPERVISOR_VOID)
    assert pending.status == "pending"
    assert sim.ledger.net_charged() == 3000
    with pytest.raises(SettlementBlocked, match="reversal"):
        settle_batch(terminal.journal, terminal.batch, terminal.client, WHEN)
    # The link is back: a restarted terminal's recovery sends the 0400 (the host de-duplicates).
    back = Terminal(terminal.base, link, terminal.settings)
    try:
        report = settle_batch(back.journal, back.batch, back.client, WHEN)
        assert report.closed and report.currencies == []
        assert sim.ledger.net_charged() == 0
        assert back.journal.entry(sale.txn_id).status == "voided"  # type: ignore[union-attr]
    finally:
        back.close()


def test_preauth_then_partial_completion_settles(
    host: tuple[HostSimulator, LinkConfig], terminal: Terminal
) -> None:
    sim, _ = host
    pre = terminal.sale(5000, preauth=True)
    assert pre.approved, pre.result.reason
    (auth,) = [r for r in sim.ledger.rows() if r.kind == "authorisation"]
    assert (auth.mti, auth.amount_minor) == ("0100", 5000)
    assert terminal.client.authorisation_mti == "0200"  # restored for the next sale
    with pytest.raises(TransactionRefused, match="more than the 5000"):
        complete(terminal.journal, terminal.batch, terminal.client, pre.txn_id, 5001)
    done = complete(terminal.journal, terminal.batch, terminal.client, pre.txn_id, 4200)
    assert (done.advice, done.amount_minor) == ("sent", 4200)
    with pytest.raises(TransactionRefused, match="already completed"):
        complete(terminal.journal, terminal.batch, terminal.client, pre.txn_id, None)
    (advice,) = [r for r in sim.ledger.rows() if r.kind == "advice"]
    assert (advice.mti, advice.amount_minor, advice.status) == ("0220", 4200, "approved")
    sale = terminal.sale(1000)
    report = settle_batch(terminal.journal, terminal.batch, terminal.client, WHEN)
    (eur,) = report.currencies
    # The pre-authorisation itself is not settled; its completion is.
    assert (eur["debits_count"], eur["debits_amount"], eur["in_balance"]) == (2, 5200, True)
    assert sale.approved and report.closed


def test_open_preauth_survives_batch_close_and_completes_later(
    host: tuple[HostSimulator, LinkConfig], terminal: Terminal
) -> None:
    pre = terminal.sale(3000, preauth=True)
    first = settle_batch(terminal.journal, terminal.batch, terminal.client, WHEN)
    assert first.closed and first.currencies == []
    (carried,) = terminal.batch.records()
    assert (carried.txn_id, carried.kind, carried.state) == (pre.txn_id, "preauth", "open")
    done = complete(terminal.journal, terminal.batch, terminal.client, pre.txn_id, None)
    assert done.amount_minor == 3000
    second = settle_batch(terminal.journal, terminal.batch, terminal.client, WHEN)
    assert second.closed and second.currencies[0]["debits_amount"] == 3000


def test_voided_preauth_cannot_be_completed(terminal: Terminal) -> None:
    pre = terminal.sale(2500, preauth=True)
    assert void(terminal.journal, terminal.batch, terminal.client, pre.stan, SUPERVISOR_VOID)
    with pytest.raises(TransactionRefused, match="voided"):
        complete(terminal.journal, terminal.batch, terminal.client, pre.txn_id, None)


def test_batch_file_never_holds_track2_or_pin_data(terminal: Terminal) -> None:
    sale = terminal.sale(1800)
    record = terminal.batch.get(sale.txn_id)
    assert record is not None
    assert set(record.document) >= {"2", "3", "4", "11", "49", "55"}
    assert not {"35", "52", "53", "62", "64"} & set(record.document)
    with sqlite3.connect(terminal.base / "batch.sqlite") as db:
        (sealed,) = db.execute("SELECT sealed FROM records").fetchone()
    assert record.document["2"].encode() not in bytes(sealed)
