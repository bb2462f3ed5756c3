"""Pay by QR end to end: terminal (terminal.qrpay, pos qr pay), QR host, customer's wallet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware_sim.host.ledger import Ledger
from hardware_sim.host.qr import QrPaymentHost
from hardware_sim.wallet import SimWallet, WalletError
from terminal.cli import main
from terminal.config import build_settings
from terminal.journal import Journal, contains_pan
from terminal.qrpay import (
    QrHostLink,
    QrHostUnreachable,
    QrPaymentError,
    QrPayments,
    recover_qr_payments,
)
from terminal.receipts import receipt_from_journal, render_text
from tests.net_support import refusing_tcp_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def host() -> Iterator[QrPaymentHost]:
    with QrPaymentHost(ledger=Ledger()) as service:
        yield service


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def payments_for(host: QrPaymentHost, journal: Journal) -> QrPayments:
    return QrPayments(build_settings({}, "test"), journal, QrHostLink(*host.address))


def pos(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "terminal", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_paid_by_pos_sim_wallet_pay_in_a_subprocess(host: QrPaymentHost, journal: Journal) -> None:
    payments = payments_for(host, journal)
    payment = payments.create(1234, timeout=60)
    wallet = pos(
        "sim", "wallet", "pay", payment.reference, "--qr-host", "{}:{}".format(*host.address)
    )
    assert wallet.returncode == 0, wallet.stderr
    assert f"Paid 12.34 EUR to Sim Shop, Berlin (reference {payment.reference}" in wallet.stdout
    outcome = payments.wait(payment, poll=5)
    assert outcome.approved and outcome.status == "paid"
    assert outcome.wallet == "SIMWALLET" and len(outcome.auth_code) == 6
    entry = journal.entry(payment.txn_id)
    assert entry is not None and entry.status == "approved"
    assert entry.kinds == ["started", "qr_presented", "completed"]
    assert entry.data["interface"] == "qr" and entry.data["qr_reference"] == payment.reference
    assert entry.data["amount"] == 1234 and entry.data["auth_code"] == outcome.auth_code
    assert journal.verify()[0]
    # booked at the host like a financial card sale, so it settles with the batch
    assert host.ledger is not None
    assert host.ledger.unsettled_totals("POS00001", "978")["debits_amount"] == 1234
    text = render_text(receipt_from_journal(entry, build_settings({}, "t").emv))
    assert "QR code" in text and payment.reference in text and "12.34 EUR" in text
    assert f"Auth code{outcome.auth_code:>33}" in text
    assert not contains_pan(text + wallet.stdout)


def test_expired_code_cannot_be_paid_afterwards(host: QrPaymentHost, journal: Journal) -> None:
    payments = payments_for(host, journal)
    payment = payments.create(500, timeout=1)
    outcome = payments.wait(payment, poll=0.3)
    assert outcome.status == "expired" and not outcome.approved
    entry = journal.entry(payment.txn_id)
    assert entry is not None and entry.status == "aborted"
    assert entry.data["reason"] == "the QR code expired before the customer paid"
    text = render_text(receipt_from_journal(entry, build_settings({}, "t").emv), with_qr=False)
    assert "*** EXPIRED ***" in text and "the QR code expired before the customer\n" in text
    with pytest.raises(WalletError, match=f"QR code {payment.reference} is expired"):
        SimWallet(*host.address).pay(payment.reference)
    assert host.ledger is not None and host.ledger.rows() == []


def test_cancelled_code_cannot_be_paid(host: QrPaymentHost, journal: Journal) -> None:
    payments = payments_for(host, journal)
    payment = payments.create(750, timeout=60)
    cancel = threading.Event()
    cancel.set()
    outcome = payments.wait(payment, cancel=cancel)
    assert outcome.status == "cancelled"
    entry = journal.entry(payment.txn_id)
    assert entry is not None and entry.status == "aborted"
    assert entry.kinds == ["started", "qr_presented", "qr_cancel_requested", "completed"]
    with pytest.raises(WalletError, match="is cancelled; nothing was paid"):
        SimWallet(*host.address).pay(payment.reference)


def test_a_code_paid_just_before_the_cancel_is_a_completed_sale(
    host: QrPaymentHost, journal: Journal
) -> None:
    payments = payments_for(host, journal)
    payment = payments.create(990, timeout=60)
    SimWallet(*host.address, name="FASTPAY").pay(payment.reference)
    outcome = payments.cancel(payment)
    assert outcome.approved and outcome.wallet == "FASTPAY"
    entry = journal.entry(payment.txn_id)
    assert entry is not None and entry.status == "approved"


def test_wallet_refuses_a_second_payment_and_an_unknown_code(
    host: QrPaymentHost, journal: Journal
) -> None:
    payments = payments_for(host, journal)
    payment = payments.create(100, timeout=60)
    SimWallet(*host.address).pay(payment.reference)
    with pytest.raises(WalletError, match="is paid; nothing was paid"):
        SimWallet(*host.address).pay(payment.reference)
    with pytest.raises(WalletError, match="no QR payment with reference QRNOPE"):
        SimWallet(*host.address).pay("QRNOPE")
    assert host.ledger is not None and len(host.ledger.rows()) == 1


def test_host_refuses_a_wrong_amount_and_a_damaged_payload(host: QrPaymentHost) -> None:
    payments = payments_for(host, Journal(":memory:"))
    payment = payments.create(100, timeout=60)
    bad = host.pay(payment.reference, "1.01", "978", "X")
    assert bad["error"] == "the amount or currency paid is not the one in the QR code"
    tampered = payment.payload[:-1] + ("0" if payment.payload[-1] != "0" else "1")
    answer = host.create({"op": "create", "reference": "QRX", "payload": tampered,
                          "amount_minor": 100, "exponent": 2})  # fmt: skip
    assert "CRC mismatch" in answer["error"]


def test_crash_before_the_answer_is_recovered_from_the_host(
    host: QrPaymentHost, journal: Journal
) -> None:
    payments = payments_for(host, journal)
    paid = payments.create(1500, timeout=60)
    open_code = payments.create(2500, timeout=60)
    SimWallet(*host.address).pay(paid.reference)
    # the terminal "crashed": nobody waited; recovery asks the host
    done = {o.reference: o for o in recover_qr_payments(journal, QrHostLink(*host.address))}
    assert done[paid.reference].approved
    assert done[open_code.reference].status == "cancelled"
    statuses = {e.txn_id: e.status for e in journal.entries()}
    assert statuses == {paid.txn_id: "approved", open_code.txn_id: "aborted"}
    assert recover_qr_payments(journal, QrHostLink(*host.address)) == []


def test_unreachable_host_is_one_sentence(journal: Journal) -> None:
    with refusing_tcp_port() as port:
        link = QrHostLink("127.0.0.1", port, timeout=2)
        payments = QrPayments(build_settings({}, "t"), journal, link)
        with pytest.raises(QrHostUnreachable, match="cannot reach the QR payment host"):
            payments.create(100)
    with pytest.raises(QrPaymentError, match="above zero"):
        payments.create(0)


def _cli_env(tmp_path: Path) -> dict[str, str]:
    """The subprocess shares the test's POS_DATA_DIR (conftest), so in-process commands see
    the same journal."""
    return dict(os.environ)


def _start_pay(
    tmp_path: Path, host: QrPaymentHost, *extra: str
) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal", "qr", "pay", "12.34", "--json",
         "--qr-host", "{}:{}".format(*host.address), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env=_cli_env(tmp_path),
    )  # fmt: skip
    assert proc.stdout is not None
    presented = json.loads(proc.stdout.readline())
    assert presented["event"] == "presented"
    return proc, presented


def test_pos_qr_pay_paid_by_the_wallet_then_receipted(
    tmp_path: Path, host: QrPaymentHost, capsys: pytest.CaptureFixture[str]
) -> None:
    proc, presented = _start_pay(tmp_path, host, "--timeout", "60")
    address = "{}:{}".format(*host.address)
    assert (
        main(["sim", "wallet", "pay", presented["reference"], "--json", "--qr-host", address]) == 0
    )
    wallet = capsys.readouterr().out
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    completed = json.loads(out.strip().splitlines()[-1])
    assert completed["event"] == "completed" and completed["status"] == "paid"
    assert completed["auth_code"] == json.loads(wallet)["auth_code"]
    assert presented["payload"].startswith("000201010212")
    assert main(["receipt", completed["txn_id"]]) == 0
    receipt = capsys.readouterr().out
    assert "QR code" in receipt and presented["reference"] in receipt
    assert not contains_pan(out + err + wallet + receipt)


def test_pos_qr_pay_ctrl_c_cancels_the_code(tmp_path: Path, host: QrPaymentHost) -> None:
    proc, presented = _start_pay(tmp_path, host, "--timeout", "60")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    completed = json.loads(out.strip().splitlines()[-1])
    assert completed["status"] == "cancelled"
    assert host.status(presented["reference"])["status"] == "cancelled"


def test_pos_qr_pay_expires(
    tmp_path: Path, host: QrPaymentHost, capsys: pytest.CaptureFixture[str]
) -> None:
    proc, presented = _start_pay(tmp_path, host, "--timeout", "1")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert json.loads(out.strip().splitlines()[-1])["status"] == "expired"
    code = main(["sim", "wallet", "pay", presented["reference"], "--qr-host",
                 "{}:{}".format(*host.address)])  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err == (
        f"pos: wallet: the QR code {presented['reference']} is expired; nothing was paid\n"
    )


def test_cli_usage_errors_are_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr", "pay", "12.345"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than 2 decimals" in err
    assert main(["sim", "wallet", "pay", "QRX", "--qr-host", "nowhere"]) == 2
    assert "must be HOST:PORT" in capsys.readouterr().err
    assert main(["qr", "pay", "1", "--timeout", "0", "--qr-host", "127.0.0.1:1"]) == 2
    assert "--timeout must be between" in capsys.readouterr().err
