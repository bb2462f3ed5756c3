"""``python -m hardware_sim.host``: starts, serves over TLS, stops on SIGTERM, clear usage errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from acquirer_client import messages as m
from acquirer_client.client import AcquirerClient, counter_stan_source
from acquirer_client.link import Connection, LinkConfig
from hardware_sim.host import test_tls
from hardware_sim.host.ledger import Ledger
from hardware_sim.host.testcards import online_request
from tests.process_support import finish


def test_host_process_serves_tls_and_stops() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hardware_sim.host", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        link = LinkConfig("127.0.0.1", port, tls=test_tls()[1])
        terminal = m.TerminalIdentity("TERM0001", "MERCHANT000001")
        with AcquirerClient(link, terminal, counter_stan_source()) as client:
            assert client.authorise(online_request(amount_minor=1234)).approved
            assert client.echo()["39"] == "00"
    finally:
        finish(proc)
    assert proc.returncode == 0


def test_bad_listen_is_one_sentence() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hardware_sim.host", "--listen", "nonsense"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "host: --listen wants HOST:PORT, not 'nonsense'."


def test_prefork_workers_share_one_ledger(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hardware_sim.host",
            "--listen",
            "127.0.0.1:0",
            "--plain",
            "--workers",
            "2",
            "--ledger",
            str(ledger_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        terminal = m.TerminalIdentity("TERM0001", "MERCHANT000001")
        when = datetime(2026, 11, 24, 9, 0, 0)
        request = m.encode(m.card_request(online_request(amount_minor=700), terminal, 5, when))
        answers = []
        for _ in range(6):  # separate connections land on either worker
            link = LinkConfig("127.0.0.1", port, plain_tcp=True, keep_alive=False)
            answers.append(Connection(link).exchange(request))
        assert len(set(answers)) == 1  # every retry replayed the one stored answer
    finally:
        finish(proc)
    assert proc.returncode == 0
    ledger = Ledger(str(ledger_path))
    assert [(r.kind, r.status) for r in ledger.rows()] == [("financial", "approved")]
    assert ledger.net_charged() == 700
    ledger.close()
