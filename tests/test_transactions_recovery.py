"""A power cut in the middle of a void, a completion or a batch close: the restarted terminal
finishes the job from the journal and the sealed batch, and the host ledger agrees to the cent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acquirer_client.link import LinkConfig
from hardware_sim.host import HostSimulator, embedded_host
from terminal import settlement, transactions
from terminal.batch import Batch
from terminal.settlement import settle_batch
from terminal.transactions import complete, finish_interrupted, void
from tests.transactions_support import SUPERVISOR_VOID, WHEN, Terminal, offline_settings


class PowerCut(BaseException):
    """Nothing in the terminal catches it, like a real power cut."""


def cut(*_: object, **__: object) -> None:
    raise PowerCut()


@pytest.fixture()
def host() -> Iterator[tuple[HostSimulator, LinkConfig]]:
    with embedded_host(tls=False, read_timeout=3.0, overall_timeout=6.0) as (sim, link):
        yield sim, link


def restart(old: Terminal) -> Terminal:
    old.close()
    return Terminal(old.base, old.link, old.settings)


def booked(sim: HostSimulator) -> int:
    """Money the host moved for sales, refunds, advices and completions (holds excluded)."""
    return sum(
        r.signed_minor
        for r in sim.ledger.rows()
        if r.kind in ("financial", "advice") and r.status == "approved"
    )


def test_power_cut_after_void_requested(
    host: tuple[HostSimulator, LinkConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, link = host
    t = Terminal(tmp_path / "pos", link, offline_settings())
    keep = t.sale(1100)
    sale = t.sale(2500)
    with monkeypatch.context() as m:
        m.setattr(transactions, "_finish_void", cut)
        with pytest.raises(PowerCut):
            void(t.journal, t.batch, t.client, sale.stan, SUPERVISOR_VOID)
    assert booked(sim) == 3600  # the 0400 never left
    t = restart(t)
    assert finish_interrupted(t.journal, t.batch, t.client) == [sale.txn_id]
    entry = t.journal.entry(sale.txn_id)
    assert entry is not None and entry.status == "voided"
    assert entry.kinds[-1] == "void_acknowledged"
    assert booked(sim) == 1100
    assert finish_interrupted(t.journal, t.batch, t.client) == []
    report = settle_batch(t.journal, t.batch, t.client, WHEN)
    assert report.closed and report.currencies[0]["debits_amount"] == 1100 == booked(sim)
    assert keep.approved
    t.close()


def test_power_cut_after_the_completion_is_in_the_batch(
    host: tuple[HostSimulator, LinkConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, link = host
    t = Terminal(tmp_path / "pos", link, offline_settings())
    pre = t.sale(6000, preauth=True)
    with monkeypatch.context() as m:
        m.setattr(transactions, "_finish_completion", cut)
        with pytest.raises(PowerCut):
            complete(t.journal, t.batch, t.client, pre.txn_id, 5500)
    assert booked(sim) == 0
    t = restart(t)
    (done,) = finish_interrupted(t.journal, t.batch, t.client)
    entry = t.journal.entry(done)
    assert entry is not None and entry.status == "approved" and "advice_sent" in entry.kinds
    assert booked(sim) == 5500
    report = settle_batch(t.journal, t.batch, t.client, WHEN)
    assert report.closed and report.currencies[0]["debits_amount"] == 5500
    t.close()


def test_power_cut_before_the_completion_reached_the_batch(
    host: tuple[HostSimulator, LinkConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, link = host
    t = Terminal(tmp_path / "pos", link, offline_settings())
    pre = t.sale(6000, preauth=True)
    with monkeypatch.context() as m:
        m.setattr(Batch, "add", cut)
        with pytest.raises(PowerCut):
            complete(t.journal, t.batch, t.client, pre.txn_id, None)
    t = restart(t)
    (aborted,) = finish_interrupted(t.journal, t.batch, t.client)
    assert t.journal.entry(aborted).status == "aborted"  # type: ignore[union-attr]
    assert booked(sim) == 0
    again = complete(t.journal, t.batch, t.client, pre.txn_id, None)  # the cashier retries
    assert again.advice == "sent" and booked(sim) == 6000
    t.close()


def test_power_cut_while_closing_the_batch(
    host: tuple[HostSimulator, LinkConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, link = host
    t = Terminal(tmp_path / "pos", link, offline_settings())
    t.sale(4200)
    with monkeypatch.context() as m:
        m.setattr(Batch, "close_batch", cut)
        with pytest.raises(PowerCut):
            settle_batch(t.journal, t.batch, t.client, WHEN)
    t = restart(t)
    assert len(t.batch.records()) == 1  # the journal says closed; the card data is still here
    report = settle_batch(t.journal, t.batch, t.client, WHEN)
    assert report.closed and report.batch_number == 2 and report.currencies == []
    assert t.batch.records() == [] and booked(sim) == 4200
    assert settlement.batch_txn_id(1) in {e.txn_id for e in t.journal.entries()}
    t.close()


def test_power_cut_between_offline_completed_and_advice_queued(
    host: tuple[HostSimulator, LinkConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from terminal.journal import Journal
    from terminal.recovery import recover

    sim, link = host
    dead = Terminal(tmp_path / "pos", replace(link, port=1), offline_settings())
    real_append = Journal.append

    def append(self: Journal, txn_id: str, kind: str, **payload: object) -> int:
        if kind == "advice_queued":
            raise PowerCut()
        return real_append(self, txn_id, kind, **payload)

    with monkeypatch.context() as m:
        m.setattr(Journal, "append", append)
        with pytest.raises(PowerCut):
            dead.sale(999, "sda_legacy")  # approved offline by the card, then the power goes
    dead.close()
    t = Terminal(tmp_path / "pos", link, offline_settings())
    (txn,) = finish_interrupted(t.journal, t.batch, t.client)
    assert recover(t.journal, t.client).advices_sent == 1
    entry = t.journal.entry(txn)
    assert entry is not None and entry.status == "approved" and "advice_sent" in entry.kinds
    assert booked(sim) == 999
    report = settle_batch(t.journal, t.batch, t.client, WHEN)
    assert report.closed and report.currencies[0]["debits_amount"] == 999
    t.close()
