"""``pos qr pay AMOUNT`` and ``pos qr recover``: dynamic EMV QR payments (merchant-presented).

``pos qr pay 12.34 [--timeout S] [--json] [--qr-host HOST:PORT|embedded]`` registers a dynamic
EMV QRCPS MPM code with the QR host, draws it, and waits until the customer's wallet pays
(``pos sim wallet pay REFERENCE`` plays the phone), the code expires, or the cashier cancels
with Ctrl-C.  ``--json`` prints one JSON object per line: ``presented`` then ``completed``.
The QR host address comes from ``--qr-host``, else ``POS_QR_HOST``, else ``embedded`` (a QR
host simulator inside this process, for demos).  Exit 0 paid, 1 expired or cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from terminal.config import load_settings
from terminal.errors import UsageError
from terminal.journal import Journal
from terminal.money import parse_amount
from terminal.qrpay import DEFAULT_TIMEOUT, QrHostLink, QrPayments, recover_qr_payments
from terminal.runtime import journal_path


def register(sub: Any) -> None:
    qr = sub.add_parser("qr", help="pay by QR code (EMV merchant-presented mode)")
    inner = qr.add_subparsers(dest="qr_command", metavar="ACTION")
    inner.required = True
    pay = inner.add_parser("pay", help="show a dynamic QR code and wait for the payment")
    pay.add_argument("amount", help="amount in major units, e.g. 12.34")
    pay.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                     help=f"seconds before the code expires (default {DEFAULT_TIMEOUT:.0f})")  # fmt: skip
    pay.add_argument("--currency", default=None, help="ISO 4217 code (default: configured)")
    pay.add_argument("--qr-host", default=None, metavar="HOST:PORT|embedded")
    pay.add_argument("--config", default=None)
    pay.add_argument("--json", action="store_true")
    pay.set_defaults(handler=run_pay)
    refund = inner.add_parser("refund", help="refund a paid QR sale (needs the supervisor PIN)")
    refund.add_argument("reference", help="the QR sale's reference (pos journal show)")
    refund.add_argument("amount", nargs="?", default=None, help="part to refund (default: all)")
    refund.add_argument("--supervisor-pin", default=None, help="the PIN, or '-' to read stdin")
    refund.add_argument("--qr-host", default=None, metavar="HOST:PORT")
    refund.add_argument("--config", default=None)
    refund.add_argument("--json", action="store_true")
    refund.set_defaults(handler=run_refund)
    recover = inner.add_parser("recover", help="settle QR sales left open by a crash")
    recover.add_argument("--qr-host", default=None, metavar="HOST:PORT")
    recover.add_argument("--config", default=None)
    recover.add_argument("--json", action="store_true")
    recover.set_defaults(handler=run_recover)


@contextlib.contextmanager
def qr_host(address: str | None) -> Iterator[QrHostLink]:
    address = address or os.environ.get("POS_QR_HOST") or "embedded"
    if address != "embedded":
        yield QrHostLink.parse(address)
        return
    from hardware_sim.host.qr import QrPaymentHost

    with QrPaymentHost() as service:
        host, port = service.address
        yield QrHostLink(host, port)


@contextlib.contextmanager
def _cancel_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM during the wait cancels the code instead of killing the sale."""
    cancel = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: cancel.set())
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _emit(args: argparse.Namespace, event: str, row: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps({"event": event} | row), flush=True)


def run_pay(args: argparse.Namespace) -> int:
    from terminal.money import currency
    from terminal.receipts import qr_text

    settings = load_settings(args.config)
    cur = currency(args.currency) if args.currency else settings.currency
    amount = parse_amount(args.amount, cur)
    if amount == 0:
        raise UsageError("a QR payment needs an amount above zero, e.g. 12.34")
    if not 0 < args.timeout <= 3600:
        raise UsageError("--timeout must be between 1 and 3600 seconds")
    journal = Journal(journal_path(settings))
    try:
        with qr_host(args.qr_host) as link, _cancel_on_signals() as cancel:
            payments = QrPayments(settings, journal, link)
            payment = payments.create(amount, cur, timeout=args.timeout)
            where = f"{link.host}:{link.port}"
            _emit(args, "presented", {
                "transaction_id": payment.txn_id, "reference": payment.reference,
                "payload": payment.payload, "amount": amount, "currency": cur.alpha,
                "expires_in": args.timeout, "qr_host": where,
            })  # fmt: skip
            if not args.json:
                print(f"Show this code to the customer: {cur.format(amount)}, "
                      f"reference {payment.reference}, expires in {args.timeout:.0f} s")  # fmt: skip
                print(qr_text(payment.payload))
                print(f"payload {payment.payload}")
                print(f"Waiting for the payment (customer: 'pos sim wallet pay "
                      f"{payment.reference} --qr-host {where}'); Ctrl-C cancels.", flush=True)  # fmt: skip
            outcome = payments.wait(payment, cancel=cancel)
    finally:
        journal.close()
    _emit(args, "completed", outcome.as_dict())
    if not args.json:
        if outcome.approved:
            print(f"PAID {cur.format(outcome.amount_minor)} with {outcome.wallet}, auth code "
                  f"{outcome.auth_code} (transaction {outcome.txn_id})")  # fmt: skip
        else:
            print(f"NOT PAID: the QR code was {outcome.status} (transaction {outcome.txn_id})")
    return 0 if outcome.approved else 1


def run_recover(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    address = args.qr_host or os.environ.get("POS_QR_HOST")
    if not address:
        raise UsageError("pos qr recover needs the QR host: --qr-host HOST:PORT or POS_QR_HOST")
    journal = Journal(journal_path(settings))
    try:
        done = recover_qr_payments(journal, QrHostLink.parse(address))
    finally:
        journal.close()
    if args.json:
        print(json.dumps([o.as_dict() for o in done]))
    elif not done:
        print("No open QR payments: nothing to recover.")
    else:
        paid = sum(o.approved for o in done)
        print(f"Recovered {len(done)} open QR payment(s): {paid} paid, {len(done) - paid} not.")
    return 0


def run_refund(args: argparse.Namespace) -> int:
    import sys

    from terminal.operators import authorise

    settings = load_settings(args.config)
    pin = args.supervisor_pin
    if pin == "-":
        pin = sys.stdin.readline().strip()
    approval = authorise(settings.operators, "refund", pin)
    address = args.qr_host or os.environ.get("POS_QR_HOST")
    if not address:
        raise UsageError("pos qr refund needs the QR host: --qr-host HOST:PORT or POS_QR_HOST")
    amount = parse_amount(args.amount, settings.currency) if args.amount else None
    journal = Journal(journal_path(settings))
    try:
        outcome = QrPayments(settings, journal, QrHostLink.parse(address)).refund(
            args.reference, amount, approval
        )
    finally:
        journal.close()
    if args.json:
        print(json.dumps(outcome.as_dict()))
    elif outcome.approved:
        print(f"REFUNDED {outcome.amount_minor} {outcome.currency} (transaction {outcome.txn_id})")
    else:
        print(f"NOT REFUNDED: the QR host refused (transaction {outcome.txn_id})")
    return 0 if outcome.approved else 1
