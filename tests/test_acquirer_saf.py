"""Durable reversals and store-and-forward advices, across restarts and against the host."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from acquirer_client import messages as m
from acquirer_client.client import AcquirerClient, counter_stan_source, reversal_key
from acquirer_client.saf import SafError, SafStore
from emv.ports import OnlineUnavailable
from hardware_sim.host import HostConfig, embedded_host
from hardware_sim.host.testcards import VISA_TEST_PAN, online_request

TERMINAL = m.TerminalIdentity("TERM0001", "MERCHANT000001", "123456")
WHEN = datetime(2026, 11, 24, 9, 0, 0)
KEY = bytes(range(32))
# The faulted request's timeout is under test; every other exchange on these links (a
# reversal, the next approval: ~20 ms here) gets 5 s, ample on a loaded CI machine.
FAST = {
    "connect_timeout": 5.0,
    "read_timeout": 4.0,
    "overall_timeout": 5.0,
}


def _original(stan: int = 1, amount: int = 1000) -> m.IsoDoc:
    return m.card_request(online_request(amount_minor=amount), TERMINAL, stan, WHEN)


def test_armed_reversal_becomes_due_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "saf.db"
    store = SafStore(path)
    doc = _original()
    key = reversal_key(doc)
    store.arm(key, m.reversal_request(doc, WHEN))
    assert store.due() == []
    store.close()  # the terminal dies while waiting for the 0210
    reopened = SafStore(path)
    assert [k for k, _ in reopened.due()] == [key]
    reopened.acknowledged(key)
    assert reopened.due() == []


def test_disarm_and_retry_message_is_identical(tmp_path: Path) -> None:
    store = SafStore(tmp_path / "saf.db")
    doc = _original()
    key = reversal_key(doc)
    rev = m.reversal_request(doc, WHEN)
    store.arm(key, rev)
    store.disarm(key)
    assert store.due() == []
    store.arm(key, rev)
    store.make_due(key)
    store.arm(key, m.reversal_request(doc, datetime(2026, 11, 24, 9, 5)))  # no overwrite
    assert store.due() == [(key, rev)]


def test_reversal_file_holds_no_card_data(tmp_path: Path) -> None:
    path = tmp_path / "saf.db"
    store = SafStore(path, data_key=KEY)
    doc = _original()
    store.arm(reversal_key(doc), m.reversal_request(doc, WHEN))
    store.enqueue_advice(
        reversal_key(doc), m.card_request(online_request(), TERMINAL, 2, WHEN, "0220")
    )
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert VISA_TEST_PAN.encode() not in raw


def test_advice_ceilings(tmp_path: Path) -> None:
    store = SafStore(
        tmp_path / "saf.db", data_key=KEY, max_advice_count=2, max_advice_amount_minor=1500
    )
    a = m.card_request(online_request(amount_minor=1000), TERMINAL, 1, WHEN, "0220")
    b = m.card_request(online_request(amount_minor=600), TERMINAL, 2, WHEN, "0220")
    store.enqueue_advice("a", a)
    assert not store.can_accept(600, 978)
    assert store.can_accept(600, 840)  # the amount ceiling is per currency
    with pytest.raises(SafError, match="full"):
        store.enqueue_advice("b", b)
    store.enqueue_advice(
        "c", m.card_request(online_request(amount_minor=400), TERMINAL, 3, WHEN, "0220")
    )
    assert not store.can_accept(1, 840)  # the count ceiling is global
    assert [k for k, _ in store.advices()] == ["a", "c"]


def test_advice_needs_the_right_key(tmp_path: Path) -> None:
    path = tmp_path / "saf.db"
    with pytest.raises(SafError, match="data key"):
        SafStore(path).enqueue_advice("a", _original())
    SafStore(path, data_key=KEY).enqueue_advice("a", _original())
    with pytest.raises(SafError, match="cannot be decrypted"):
        SafStore(path, data_key=bytes(32)).advices()


def test_reversal_survives_restart_and_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "saf.db"
    config = HostConfig(fault_delay_seconds=10.0)
    with embedded_host(config=config, **FAST) as (sim, link):
        sim.inject("drop_after")
        first = AcquirerClient(link, TERMINAL, counter_stan_source(), reversals=SafStore(path))
        with pytest.raises(OnlineUnavailable):
            first.authorise(online_request(amount_minor=4200))
        assert sim.ledger.net_charged() == 4200  # the host approved; the terminal never knew
        first.close()
        # "restart": a new client on the same file sends the reversal first
        second = AcquirerClient(link, TERMINAL, counter_stan_source(100), reversals=SafStore(path))
        assert second.send_due_reversals() == 0
        assert sim.ledger.net_charged() == 0
        # a retry of the same reversal is de-duplicated by the host
        rev = m.reversal_request(first.last_request or {}, WHEN)
        assert second.exchange(rev)["39"] == "00"
        assert sim.ledger.net_charged() == 0
        assert [r.status for r in sim.ledger.rows("reversal")] == ["applied"]
        second.close()


def test_advices_forwarded_once_even_when_acks_are_lost(tmp_path: Path) -> None:
    store = SafStore(tmp_path / "saf.db", data_key=KEY)
    with embedded_host(**FAST) as (sim, link):
        client = AcquirerClient(link, TERMINAL, counter_stan_source(), advices=store)
        assert client.can_approve_offline(500, 978)
        client.queue_advice(online_request(amount_minor=500))
        client.queue_advice(online_request(amount_minor=300, atc=2))
        sim.inject("drop_after")  # the host books the first advice but the 0230 is lost
        assert client.send_advices() == 2
        assert client.send_advices() == 0
        assert store.advices() == []
        assert sim.ledger.net_charged() == 800
        assert len(sim.ledger.rows("advice")) == 2
        client.close()


def test_unwritable_reversal_journal_sends_nothing(tmp_path: Path) -> None:
    store = SafStore(tmp_path / "saf.db")
    store.close()  # any sqlite3 error on arm: the request must not leave
    with embedded_host(**FAST) as (sim, link):
        client = AcquirerClient(link, TERMINAL, counter_stan_source(), reversals=store)
        with pytest.raises(OnlineUnavailable, match="reversal journal cannot be"):
            client.authorise(online_request())
        assert sim.ledger.rows() == []
        client.close()


def test_0100_authorisation_mode() -> None:
    with embedded_host(**FAST) as (sim, link):
        client = AcquirerClient(link, TERMINAL, counter_stan_source(), authorisation_mti="0100")
        assert client.authorise(online_request(amount_minor=2000)).approved
        assert [r.kind for r in sim.ledger.rows()] == ["authorisation"]
        client.close()
