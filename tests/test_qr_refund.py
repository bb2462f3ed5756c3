"""QR refunds: a paid QR sale is refunded to the wallet with the supervisor PIN, like a card."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware_sim.host.ledger import Ledger
from hardware_sim.host.qr import QrPaymentHost
from hardware_sim.wallet import SimWallet
from terminal.config import build_settings
from terminal.journal import Journal
from terminal.operators import SUPERVISOR, Approval, NotAuthorised, hash_pin
from terminal.qrpay import QrHostLink, QrPaymentError, QrPayments

ROOT = Path(__file__).resolve().parents[1]
SUPERVISOR_OK = Approval(SUPERVISOR, "refund")


@pytest.fixture
def host() -> Iterator[QrPaymentHost]:
    with QrPaymentHost(ledger=Ledger()) as service:
        yield service


def paid_sale(host: QrPaymentHost, journal: Journal, amount: int) -> tuple[QrPayments, str]:
    payments = QrPayments(build_settings({}, "test"), journal, QrHostLink(*host.address))
    payment = payments.create(amount, timeout=60)
    SimWallet(*host.address).pay(payment.reference)
    assert payments.wait(payment).approved
    return payments, payment.reference


def test_full_and_partial_refunds_never_exceed_the_sale(
    host: QrPaymentHost, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    payments, reference = paid_sale(host, journal, 2000)
    assert host.ledger is not None and host.ledger.net_charged() == 2000
    part = payments.refund(reference, 500, SUPERVISOR_OK)
    assert part.status == "refunded" and part.amount_minor == 500
    assert host.ledger.net_charged() == 1500
    rest = payments.refund(reference, None, SUPERVISOR_OK)  # "all" = the sale's amount
    assert rest.status == "refused"  # 2000 would exceed the 1500 still refundable
    assert payments.refund(reference, 1500, SUPERVISOR_OK).status == "refunded"
    assert host.ledger.net_charged() == 0
    refunds = [e for e in journal.entries() if e.data.get("type") == "refund"]
    assert [e.status for e in refunds] == ["approved", "declined", "approved"]
    assert journal.verify()[0]
    journal.close()


def test_refund_needs_the_supervisor_and_a_paid_sale(host: QrPaymentHost, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    payments, reference = paid_sale(host, journal, 700)
    with pytest.raises(NotAuthorised):
        payments.refund(reference, 700, Approval("cashier", "refund"))
    with pytest.raises(QrPaymentError, match="no paid QR sale"):
        payments.refund("NOSUCHREF", 100, SUPERVISOR_OK)
    assert host.ledger is not None and host.ledger.net_charged() == 700
    journal.close()


def test_retried_refund_id_is_paid_once(host: QrPaymentHost) -> None:
    answer = host.handle({"op": "refund", "reference": "X", "amount_minor": 1, "refund_id": "r"})
    assert "no QR payment" in answer["error"]


def test_pos_qr_refund_from_the_command_line(host: QrPaymentHost, tmp_path: Path) -> None:
    config = tmp_path / "pos.toml"
    config.write_text(f'[operators]\nsupervisor_pin_hash = "{hash_pin("4321")}"\n')
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    _, reference = paid_sale(host, journal, 1234)
    journal.close()
    env = {"POS_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    where = "{}:{}".format(*host.address)
    base = [sys.executable, "-m", "terminal", "qr", "refund", reference, "--qr-host", where,
            "--config", str(config), "--json"]  # fmt: skip
    wrong = subprocess.run(
        [*base, "--supervisor-pin", "1111"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    done = subprocess.run(
        [*base, "--supervisor-pin", "4321"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "refunded"
    assert host.ledger is not None and host.ledger.net_charged() == 0


def test_qr_sales_and_refunds_close_with_the_terminal_batch(
    host: QrPaymentHost, tmp_path: Path
) -> None:
    from datetime import datetime

    from terminal.batch import Batch
    from terminal.config import load_settings
    from terminal.hostlink import open_authoriser
    from terminal.settlement import settle_batch

    journal = Journal(tmp_path / "journal.sqlite")
    payments, reference = paid_sale(host, journal, 3000)
    payments.refund(reference, 1000, SUPERVISOR_OK)
    batch = Batch(tmp_path / "batch.sqlite", bytes(32))
    settings = load_settings(None)
    with open_authoriser(settings, "embedded", plain_tcp=True) as client:
        report = settle_batch(journal, batch, client, datetime(2026, 11, 24, 18, 0))
        qr_rows = [s for s in report.schemes if s.scheme == "QR"]
        assert report.closed
        assert [(s.currency, s.sales_amount, s.refunds_amount) for s in qr_rows] == [
            ("EUR", 3000, 1000)
        ]
        assert "EUR QR" in report.text()
        again = settle_batch(journal, batch, client, datetime(2026, 11, 24, 18, 5))
        assert [s for s in again.schemes if s.scheme == "QR"] == []  # settled once only
    batch.close()
    journal.close()
