"""The QR-payment side of the host simulator (TEST infrastructure): dynamic EMV QRCPS MPM codes.

A separate tiny TCP service beside the ISO 8583 host (it shares the host's :class:`Ledger`
when given one, so paid QR sales settle with the card sales).  The wire format is one JSON
object per line each way (UTF-8, ``\\n``-terminated); a connection may carry many requests.

Requests (``op``) and what they do:

* ``create`` - the terminal registers a code: ``reference``, ``payload`` (the MPM string),
  ``amount_minor``, ``exponent``, ``terminal_id``, ``expires_in`` (seconds).  The payload's
  CRC, its dynamic point of initiation, its reference label (62/05) and its amount are checked.
* ``status`` - ``reference`` and optional ``wait`` (seconds, at most 30): answers at once when
  the payment is no longer pending, else when it changes or the wait ends (long poll).
* ``cancel`` - the cashier gives up; a payment that is already paid stays paid (the answer
  says so and the terminal completes the sale: money state stays consistent).
* ``lookup`` - the customer's phone reads the code's payload by reference.
* ``pay`` - the phone pays: ``reference``, ``amount`` (the 54 text it showed), ``currency``,
  ``wallet``.  Refused when expired, cancelled, already paid or for another amount.

Every answer carries ``status`` (pending, paid, expired, cancelled) or ``error`` (a sentence).
"""

from __future__ import annotations

import argparse
import json
import secrets
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from emv import qr
from hardware_sim.host.ledger import Ledger
from hardware_sim.signals import stop_on_signals, wait_for_stop

MAX_WAIT = 30.0
MAX_LINE = 8192


@dataclass
class _Payment:
    reference: str
    payload: str
    amount_text: str
    amount_minor: int
    currency: str
    terminal_id: str
    expires_at: float
    status: str = "pending"
    auth_code: str = ""
    wallet: str = ""
    refunded_minor: int = 0
    refunds: dict[str, int] | None = None  # refund id -> amount (retries are idempotent)


class QrPaymentHost:
    """``QrPaymentHost(ledger=...).start() -> (host, port)``; ``stop()``; or use ``with``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ledger: Ledger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self._payments: dict[str, _Payment] = {}
        self._changed = threading.Condition()
        self._server = _Server((host, port), _Handler)
        self._server.qr_host = self
        self.address: tuple[str, int] = self._server.server_address[:2]  # type: ignore[assignment]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> tuple[str, int]:
        self._thread.start()
        return self.address

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> QrPaymentHost:
        if not self._thread.is_alive():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ operations

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        reference = str(request.get("reference", ""))
        try:
            if op == "create":
                return self.create(request)
            if op == "status":
                return self.status(reference, float(request.get("wait", 0) or 0))
            if op == "cancel":
                return self.cancel(reference)
            if op == "lookup":
                return self.lookup(reference)
            if op == "refund":
                return self.refund(
                    reference, int(request["amount_minor"]), str(request["refund_id"])[:32]
                )
            if op == "pay":
                return self.pay(
                    reference,
                    str(request.get("amount", "")),
                    str(request.get("currency", "")),
                    str(request.get("wallet", "SIMWALLET"))[:20],
                )
        except KeyError as exc:
            return {"error": f"the {op} request lacks {exc}"}
        except (TypeError, ValueError) as exc:
            return {"error": f"malformed {op} request: {exc}"}
        return {"error": f"unknown operation '{op}'"}

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        reference = str(request["reference"])
        payload_text = str(request["payload"])
        try:
            payload = qr.parse(payload_text)
        except qr.QrPayloadError as exc:
            return {"error": f"the QR payload is not valid EMV MPM: {exc}"}
        if not payload.dynamic or payload.amount is None:
            return {"error": "a QR payment needs a dynamic code (01 = 12) with an amount (54)"}
        if payload.reference_label != reference:
            return {"error": "the payload's reference label (62/05) is not the reference sent"}
        exponent = int(request.get("exponent", 2))
        amount_minor = int(request["amount_minor"])
        if qr.amount_to_minor(payload.amount, exponent) != amount_minor:
            return {"error": "the payload's amount (54) does not match amount_minor"}
        expires_in = float(request.get("expires_in", 120))
        with self._changed:
            known = self._payments.get(reference)
            if known is not None:
                if known.payload != payload_text:
                    return {"error": f"reference {reference} is already used by another code"}
                return self._view(known)  # a retried create: same answer
            payment = _Payment(
                reference,
                payload_text,
                payload.amount,
                amount_minor,
                payload.currency_numeric,
                str(request.get("terminal_id", ""))[:8],
                self.clock() + max(1.0, expires_in),
            )
            self._payments[reference] = payment
            return self._view(payment)

    def status(self, reference: str, wait: float = 0.0) -> dict[str, Any]:
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
        with self._changed:
            while True:
                payment = self._payments.get(reference)
                if payment is None:
                    return {"error": f"no QR payment with reference {reference}"}
                self._expire(payment)
                remaining = deadline - time.monotonic()
                if payment.status != "pending" or remaining <= 0:
                    return self._view(payment)
                expiry = payment.expires_at - self.clock()
                self._changed.wait(max(0.01, min(remaining, expiry + 0.01)))

    def cancel(self, reference: str) -> dict[str, Any]:
        with self._changed:
            payment = self._payments.get(reference)
            if payment is None:
                return {"error": f"no QR payment with reference {reference}"}
            self._expire(payment)
            if payment.status == "pending":
                payment.status = "cancelled"
                self._changed.notify_all()
            return self._view(payment)

    def lookup(self, reference: str) -> dict[str, Any]:
        with self._changed:
            payment = self._payments.get(reference)
            if payment is None:
                return {"error": f"no QR payment with reference {reference}"}
            self._expire(payment)
            return self._view(payment) | {"payload": payment.payload}

    def pay(self, reference: str, amount: str, currency: str, wallet: str) -> dict[str, Any]:
        with self._changed:
            payment = self._payments.get(reference)
            if payment is None:
                return {"error": f"no QR payment with reference {reference}"}
            self._expire(payment)
            if payment.status != "pending":
                return self._view(payment) | {
                    "error": f"the QR code {reference} is {payment.status}; nothing was paid"
                }
            if amount != payment.amount_text or currency != payment.currency:
                return self._view(payment) | {
                    "error": "the amount or currency paid is not the one in the QR code"
                }
            payment.status = "paid"
            payment.wallet = wallet
            payment.auth_code = f"{secrets.randbelow(10**6):06d}"
            self._book(payment)
            self._changed.notify_all()
            return self._view(payment)

    def refund(self, reference: str, amount_minor: int, refund_id: str) -> dict[str, Any]:
        """Give back part or all of a paid QR sale to the wallet; a retried refund id is
        answered again, never paid twice."""
        with self._changed:
            payment = self._payments.get(reference)
            if payment is None:
                return {"error": f"no QR payment with reference {reference}"}
            refunds = payment.refunds if payment.refunds is not None else {}
            if refund_id in refunds:
                return self._view(payment) | {
                    "refund_id": refund_id,
                    "refunded": refunds[refund_id],
                }
            if payment.status != "paid":
                return self._view(payment) | {
                    "error": f"the QR payment {reference} is {payment.status}; only paid ones "
                    "can be refunded"
                }
            if amount_minor <= 0 or payment.refunded_minor + amount_minor > payment.amount_minor:
                left = payment.amount_minor - payment.refunded_minor
                return self._view(payment) | {
                    "error": f"a refund of {amount_minor} exceeds the {left} still refundable"
                }
            refunds[refund_id] = amount_minor
            payment.refunds = refunds
            payment.refunded_minor += amount_minor
            self._book_refund(payment, refund_id, amount_minor)
            return self._view(payment) | {"refund_id": refund_id, "refunded": amount_minor}

    # ------------------------------------------------------------------ helpers

    def _expire(self, payment: _Payment) -> None:
        if payment.status == "pending" and self.clock() >= payment.expires_at:
            payment.status = "expired"
            self._changed.notify_all()

    def _book(self, payment: _Payment) -> None:
        """A paid QR sale is a financial transaction of the terminal's batch (settlement)."""
        if self.ledger is None:
            return
        self.ledger.record(
            dedupe_key=f"qr:{payment.reference}",
            kind="financial",
            mti="QR",
            terminal_id=payment.terminal_id,
            stan=payment.reference[-6:],
            pan_masked=f"QR {payment.wallet}",
            amount_minor=payment.amount_minor,
            signed_minor=payment.amount_minor,
            currency=payment.currency,
            response_code="00",
            auth_code=payment.auth_code,
            rrn=payment.reference[-12:],
            status="approved",
        )

    def _book_refund(self, payment: _Payment, refund_id: str, amount_minor: int) -> None:
        if self.ledger is None:
            return
        self.ledger.record(
            dedupe_key=f"qr-refund:{payment.reference}:{refund_id}",
            kind="financial",
            mti="QR",
            terminal_id=payment.terminal_id,
            stan=refund_id[-6:],
            pan_masked=f"QR {payment.wallet}",
            amount_minor=amount_minor,
            signed_minor=-amount_minor,
            currency=payment.currency,
            response_code="00",
            auth_code=payment.auth_code,
            rrn=payment.reference[-12:],
            status="approved",
        )

    def _view(self, payment: _Payment) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": payment.reference,
            "status": payment.status,
            "amount": payment.amount_text,
            "currency": payment.currency,
            "expires_in": round(max(0.0, payment.expires_at - self.clock()), 3),
        }
        if payment.status == "paid":
            out |= {"auth_code": payment.auth_code, "wallet": payment.wallet}
            out["refunded_minor"] = payment.refunded_minor
        return out


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    qr_host: QrPaymentHost


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            try:
                line = self.rfile.readline(MAX_LINE)
            except OSError:
                return
            if not line:
                return
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
                answer = self.server.qr_host.handle(request)
            except (ValueError, UnicodeDecodeError):
                answer = {"error": "the request is not one JSON object per line"}
            try:
                self.wfile.write(json.dumps(answer).encode() + b"\n")
            except OSError:
                return


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hardware_sim.host.qr --listen HOST:PORT [--ledger FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m hardware_sim.host.qr")
    parser.add_argument("--listen", default="127.0.0.1:8584", help="HOST:PORT (port 0 = any)")
    parser.add_argument("--ledger", default=None, help="share the card host's SQLite ledger")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        print(f"qr host: --listen wants HOST:PORT, not '{args.listen}'.", file=sys.stderr)
        return 2
    try:
        service = QrPaymentHost(
            host, int(port), ledger=Ledger(args.ledger) if args.ledger else None
        )
    except OSError as exc:
        print(f"qr host: cannot listen on {args.listen} ({exc.strerror}).", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    bound = service.start()
    print(f"qr host listening on {bound[0]}:{bound[1]}", flush=True)
    wait_for_stop(stop)
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
