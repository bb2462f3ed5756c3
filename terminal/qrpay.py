"""Pay by QR code: the terminal shows a dynamic EMV QRCPS MPM code and waits for the host.

One QR sale, journaled like a card payment (``terminal.journal``), each event written before
the action it guards:

1. ``started`` (interface ``qr``) and ``qr_presented`` (the reference, the expiry) before the
   code is registered with the host and shown;
2. the terminal long-polls the host's ``status`` until the payment is ``paid``, the code
   expires or the cashier cancels;
3. ``qr_cancel_requested`` before a cancel is sent; the host's answer wins (a code the customer
   paid a moment before the cancel is a completed sale, never a lost one);
4. ``completed`` with ``outcome`` approved (paid) or aborted (expired / cancelled).

If the host cannot be reached when the code expires, the sale is left without ``completed``
(in doubt) and :func:`recover_qr_payments` settles it from the host's answer later
(``pos qr recover``).  The QR payload itself is never journaled, only its reference.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from base64 import b32encode
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

from emv import qr
from terminal.config import Settings
from terminal.errors import UsageError, UserFacingError
from terminal.journal import Journal
from terminal.money import Currency
from terminal.operators import SUPERVISOR, Approval, NotAuthorised

# TEST: the globally unique identifier of the simulated QR network (MPM 26/00, reverse domain).
MERCHANT_ACCOUNT_GUI = "com.example.simqr"
DEFAULT_TIMEOUT = 120.0


class QrHostUnreachable(UserFacingError):
    """The QR payment host did not answer."""


class QrPaymentError(UserFacingError):
    """The host refused the QR payment."""


@dataclass(frozen=True)
class QrPayment:
    txn_id: str
    reference: str
    payload: str
    amount_minor: int
    currency: Currency
    expires_in: float


@dataclass(frozen=True)
class QrOutcome:
    txn_id: str
    reference: str
    status: str  # paid, expired, cancelled
    amount_minor: int
    currency: str
    auth_code: str = ""
    wallet: str = ""

    @property
    def approved(self) -> bool:
        return self.status in ("paid", "refunded")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"approved": self.approved}


class QrHostLink:
    """JSON lines over TCP to the QR host (``hardware_sim.host.qr`` documents the messages)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    @classmethod
    def parse(cls, address: str) -> QrHostLink:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"QR host address '{address}' must be HOST:PORT")
        return cls(host, int(port))

    def call(self, request: dict[str, Any], *, wait: float = 0.0) -> dict[str, Any]:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                sock.settimeout(self.timeout + wait)
                sock.sendall(json.dumps(request).encode() + b"\n")
                line = sock.makefile("rb").readline(65536)
        except OSError as exc:
            raise QrHostUnreachable(
                f"cannot reach the QR payment host at {self.host}:{self.port} ({exc}); check "
                "the network link, then try again"
            ) from None
        try:
            answer = json.loads(line)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise QrHostUnreachable("the QR payment host sent an unreadable answer; try again")
        return answer


@cache
def _countries() -> dict[str, str]:
    raw = json.loads(resources.files("terminal.data").joinpath("countries.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def country_alpha2(numeric: int) -> str:
    try:
        return _countries()[f"{numeric:03d}"]
    except KeyError:
        raise UserFacingError(
            f"country code {numeric} (terminal.country_code) has no ISO 3166 alpha-2 entry in "
            "terminal/data/countries.json; add it there"
        ) from None


def new_reference() -> str:
    """A unique reference label (MPM 62/05): letters and digits, never a card-like number."""
    return "QR" + b32encode(secrets.token_bytes(10)).decode()[:14]


def build_payload(settings: Settings, amount_minor: int, cur: Currency, reference: str) -> str:
    """The dynamic MPM payload for one sale (EMV QRCPS MPM 4.6-4.7)."""
    emv = settings.emv
    name, _, city = emv.merchant_name_location.rpartition(",")
    if not name:
        name, city = city, "-"
    payload = qr.MerchantPresentedPayload(
        merchant_accounts={
            "26": [("00", MERCHANT_ACCOUNT_GUI), ("01", emv.merchant_id.strip() or "-")]
        },
        merchant_category_code=f"{emv.merchant_category_code:04d}",
        currency_numeric=f"{cur.numeric:03d}",
        amount=qr.format_amount(amount_minor, cur.exponent),
        country_code=country_alpha2(emv.country_code),
        merchant_name=name.strip()[:25] or "-",
        merchant_city=city.strip()[:15] or "-",
        point_of_initiation=qr.DYNAMIC,
        additional_data=[("05", reference), ("07", emv.terminal_id.strip() or "-")],
    )
    return qr.build(payload)


class QrPayments:
    """The terminal side of QR payments for one terminal."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        link: QrHostLink,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.link = link
        self.monotonic = monotonic

    def create(
        self, amount_minor: int, cur: Currency | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> QrPayment:
        cur = cur or self.settings.currency
        if amount_minor <= 0:
            raise QrPaymentError("a QR payment needs an amount above zero")
        if timeout <= 0:
            raise QrPaymentError("the QR code needs a time limit above zero seconds")
        reference = new_reference()
        payload = build_payload(self.settings, amount_minor, cur, reference)
        txn_id = self.journal.new_transaction_id()
        self.journal.append(
            txn_id,
            "started",
            amount=amount_minor,
            other_amount=0,
            currency=cur.alpha,
            type="purchase",
            interface="qr",
        )
        self.journal.append(txn_id, "qr_presented", qr_reference=reference, expires_in=timeout)
        answer = self.link.call(
            {
                "op": "create",
                "reference": reference,
                "payload": payload,
                "amount_minor": amount_minor,
                "exponent": cur.exponent,
                "terminal_id": self.settings.emv.terminal_id,
                "expires_in": timeout,
            }
        )
        if "error" in answer:
            self._complete(txn_id, reference, "refused", reason=str(answer["error"])[:200])
            raise QrPaymentError(f"the QR payment host refused the code: {answer['error']}")
        return QrPayment(txn_id, reference, payload, amount_minor, cur, timeout)

    def wait(
        self,
        payment: QrPayment,
        *,
        cancel: threading.Event | None = None,
        poll: float = 0.5,
        on_tick: Callable[[float], None] | None = None,
    ) -> QrOutcome:
        """Block until paid, expired or cancelled (``cancel`` set by the cashier)."""
        deadline = self.monotonic() + payment.expires_in
        unreachable: QrHostUnreachable | None = None
        while True:
            remaining = deadline - self.monotonic()
            if cancel is not None and cancel.is_set():
                return self.cancel(payment, "cancelled")
            if remaining <= 0:
                try:
                    return self.cancel(payment, "expired")
                except QrHostUnreachable:
                    self.journal.append(payment.txn_id, "qr_in_doubt")
                    raise QrHostUnreachable(
                        f"the QR payment host is unreachable, so QR payment {payment.reference} "
                        "is in doubt; run 'pos qr recover' once the link is back"
                    ) from unreachable
            if on_tick is not None:
                on_tick(remaining)
            try:
                answer = self.link.call(
                    {"op": "status", "reference": payment.reference, "wait": min(poll, remaining)},
                    wait=min(poll, remaining),
                )
                unreachable = None
            except QrHostUnreachable as exc:
                unreachable = exc
                (cancel or threading.Event()).wait(min(poll, max(remaining, 0.0)))
                continue
            status = answer.get("status")
            if status == "paid":
                return self._paid(payment, answer)
            if status in ("expired", "cancelled"):
                return self._complete(payment.txn_id, payment.reference, str(status), payment)

    def cancel(self, payment: QrPayment, why: str = "cancelled") -> QrOutcome:
        """Cancel at the host; if the customer already paid, the sale completes as paid."""
        self.journal.append(payment.txn_id, "qr_cancel_requested", qr_cancel_reason=why)
        answer = self.link.call({"op": "cancel", "reference": payment.reference})
        if answer.get("status") == "paid":
            return self._paid(payment, answer)
        status = answer.get("status")
        status = status if status in ("cancelled", "expired") else why
        return self._complete(payment.txn_id, payment.reference, status, payment)

    def refund(
        self, reference: str, amount_minor: int | None, approval: Approval | None
    ) -> QrOutcome:
        """Refund a paid QR sale (all of it, or ``amount_minor``) to the customer's wallet.

        Needs a supervisor approval, like a card refund.  The journal records the refund before
        the request leaves; a retry after a lost answer reuses the same refund id, so the QR
        host never pays it twice.
        """
        if not (approval and approval.role == SUPERVISOR and approval.action == "refund"):
            raise NotAuthorised("a refund needs the supervisor PIN.")
        sale = next(
            (
                e
                for e in self.journal.entries()
                if e.data.get("qr_reference") == reference and e.data.get("type") == "purchase"
            ),
            None,
        )
        if sale is None or sale.status != "approved":
            raise QrPaymentError(f"no paid QR sale with reference {reference} in the journal")
        amount = int(sale.data.get("amount", 0)) if amount_minor is None else amount_minor
        txn_id = self.journal.new_transaction_id()
        refund_id = txn_id
        self.journal.append(
            txn_id,
            "started",
            amount=amount,
            other_amount=0,
            currency=str(sale.data.get("currency", "")),
            type="refund",
            interface="qr",
            operator=approval.role,
            qr_reference=reference,
            qr_refund_id=refund_id,
        )
        answer = self.link.call(
            {"op": "refund", "reference": reference, "amount_minor": amount, "refund_id": refund_id}
        )
        if "error" in answer:
            reason = str(answer["error"])[:200]
            self.journal.append(
                txn_id, "completed", outcome="declined", reason=reason, qr_reference=reference,
                offline=False,
            )  # fmt: skip
            status = "refused"
        else:
            self.journal.append(
                txn_id, "completed", outcome="approved", reason="refunded to the customer's wallet",
                qr_reference=reference, label="QR refund", offline=False,
            )  # fmt: skip
            status = "refunded"
        cur = str(sale.data.get("currency", ""))
        return QrOutcome(txn_id, reference, status, amount, cur, "", "")

    def _paid(self, payment: QrPayment, answer: dict[str, Any]) -> QrOutcome:
        return _paid(self.journal, payment, answer)

    def _complete(
        self, txn_id: str, reference: str, status: str, payment: QrPayment | None = None,
        *, reason: str = "",
    ) -> QrOutcome:  # fmt: skip
        return _complete(self.journal, txn_id, reference, status, payment, reason=reason)


def _paid(journal: Journal, payment: QrPayment, answer: dict[str, Any]) -> QrOutcome:
    return _complete(
        journal,
        payment.txn_id,
        payment.reference,
        "paid",
        payment,
        auth_code=str(answer.get("auth_code", ""))[:6],
        wallet=str(answer.get("wallet", ""))[:20],
    )


def _complete(
    journal: Journal,
    txn_id: str,
    reference: str,
    status: str,
    payment: QrPayment | None = None,
    *,
    auth_code: str = "",
    wallet: str = "",
    reason: str = "",
) -> QrOutcome:
    reasons = {
        "paid": f"paid with {wallet or 'a wallet'}",
        "expired": "the QR code expired before the customer paid",
        "cancelled": "the cashier cancelled the QR code",
    }
    journal.append(
        txn_id,
        "completed",
        outcome="approved" if status == "paid" else "aborted",
        reason=reason or reasons.get(status, status),
        qr_status=status,
        qr_reference=reference,
        label=f"QR {wallet}".strip() if wallet else "QR",
        auth_code=auth_code,
        offline=False,
    )
    return QrOutcome(
        txn_id,
        reference,
        status,
        payment.amount_minor if payment else 0,
        payment.currency.alpha if payment else "",
        auth_code,
        wallet,
    )


def recover_qr_payments(journal: Journal, link: QrHostLink) -> list[QrOutcome]:
    """Complete every QR sale left without ``completed`` (crash, or host lost at expiry).

    The host's word decides: paid -> approved; still pending -> cancelled now (the code is no
    longer on any screen); expired or cancelled -> aborted.
    """
    from terminal.money import currency

    done: list[QrOutcome] = []
    for entry in journal.entries():
        data = entry.data
        if data.get("interface") != "qr" or "completed" in entry.kinds:
            continue
        reference = str(data.get("qr_reference", ""))
        if not reference:
            continue
        cur = currency(str(data.get("currency", "EUR")))
        payment = QrPayment(entry.txn_id, reference, "", int(data.get("amount", 0)), cur, 0.0)
        journal.append(entry.txn_id, "qr_cancel_requested", qr_cancel_reason="recovery")
        answer = link.call({"op": "cancel", "reference": reference})
        if answer.get("status") == "paid":
            done.append(_paid(journal, payment, answer))
        elif answer.get("status") in ("cancelled", "expired"):
            done.append(_complete(journal, entry.txn_id, reference, answer["status"], payment))
        else:
            reason = str(answer.get("error", "the host does not know this QR code"))[:200]
            done.append(
                _complete(journal, entry.txn_id, reference, "unknown", payment, reason=reason)
            )
    return done
