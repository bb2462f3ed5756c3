"""Group commit in the host: one ledger commit for the requests of one event-loop turn,
a savepoint per request, answers written only after the commit."""

from __future__ import annotations

import socket
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from acquirer_client import messages as m
from acquirer_client.framing import FrameDecoder, frame
from hardware_sim.host import embedded_host
from hardware_sim.host.ledger import Ledger
from hardware_sim.host.testcards import luhn_complete, online_request

TERMINAL = m.TerminalIdentity("GROUP001", "MERCHANT000001", "123456")


def _row(ledger: Ledger, key: str) -> dict[str, object]:
    return {
        "dedupe_key": key,
        "kind": "financial",
        "mti": "0200",
        "terminal_id": "GROUP001",
        "stan": key[-6:],
        "status": "approved",
    }


def _committed(path: Path) -> int:
    with sqlite3.connect(path) as other:  # another connection sees only committed rows
        return int(other.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])


def test_a_group_commits_once_and_a_failed_request_rolls_back_alone(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = Ledger(str(path))
    with ledger.group():
        with ledger.transaction():
            ledger.record(**_row(ledger, "k:000001"))
        with pytest.raises(RuntimeError), ledger.transaction():
            ledger.record(**_row(ledger, "k:000002"))
            raise RuntimeError("this request fails half way")
        with ledger.transaction():
            ledger.record(**_row(ledger, "k:000003"))
        assert _committed(path) == 0  # nothing is durable (nor answered) before the commit
    assert _committed(path) == 2
    assert [r.stan for r in ledger.rows()] == ["000001", "000003"]
    ledger.close()


def test_a_transaction_outside_a_group_commits_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = Ledger(str(path))
    with ledger.transaction():
        ledger.record(**_row(ledger, "k:000009"))
    assert _committed(path) == 1
    ledger.close()


def _request(stan: int, amount: int) -> bytes:
    pan = luhn_complete(f"476173900{stan:06d}")
    doc = m.card_request(online_request(pan, amount_minor=amount), TERMINAL, stan, datetime.now())
    return frame(m.encode(doc))


def _read(sock: socket.socket, count: int) -> list[m.IsoDoc]:
    decoder, out = FrameDecoder(), []
    while len(out) < count:
        data = sock.recv(65536)
        if not data:
            break
        out += [m.decode(message) for message in decoder.feed(data)]
    return out


def test_pipelined_requests_on_one_connection_are_answered_in_order() -> None:
    with embedded_host(tls=False) as (sim, link):
        with socket.create_connection((link.host, link.port), timeout=5) as sock:
            sock.sendall(_request(1, 1000) + _request(2, 2051) + _request(3, 3000))
            answers = _read(sock, 3)
        assert [(a["11"], a["39"]) for a in answers] == [
            ("000001", "00"),
            ("000002", "51"),
            ("000003", "00"),
        ]
        assert sim.ledger.net_charged("GROUP001") == 4000
        assert sim.grouped == 3 and 1 <= sim.groups <= 3


def test_a_host_failure_on_one_request_closes_only_that_connection() -> None:
    with embedded_host(tls=False) as (sim, link):
        handle = sim.issuer.handle

        def failing(request: m.IsoDoc, checked: object = None) -> bytes:
            if request.get("4") == "000000000777":
                raise RuntimeError("simulated host bug")
            return handle(request, checked)  # type: ignore[arg-type]

        sim.issuer.handle = failing  # type: ignore[method-assign]
        with (
            socket.create_connection((link.host, link.port), timeout=5) as bad,
            socket.create_connection((link.host, link.port), timeout=5) as good,
        ):
            bad.sendall(_request(7, 777))
            good.sendall(_request(8, 800))
            assert _read(bad, 1) == []  # closed, no answer
            assert [a["39"] for a in _read(good, 1)] == ["00"]
        assert [r.stan for r in sim.ledger.rows()] == ["000008"]
