"""Pay by QR code: a dynamic EMV QRCPS merchant-presented code (MPM v1.1), drawn in the
terminal, with its reference and a countdown to expiry.

The sale itself is :class:`terminal.qrpay.QrPayments` (journaled like a card sale, each event
before the action it guards); this screen runs ``create`` and ``wait`` in a worker thread and
shows the result screen when the host reports the payment, the code expires or the cashier
cancels (Esc).  The QR host is ``POS_QR_HOST`` (HOST:PORT); in demo mode without it, a QR
host simulator starts inside the app for this sale, and the screen shows the
``pos sim wallet pay`` command that plays the customer's phone.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from terminal.tui.screens.receipt import sentence
from terminal.tui.screens.title_bar import TitleBar

if TYPE_CHECKING:
    from terminal.qrpay import QrHostLink, QrOutcome, QrPayment
    from terminal.tui.app import PosApp
    from terminal.tui.plain_words import ResultView

NO_QR_HOST = (
    "No QR payment host is configured: set POS_QR_HOST to HOST:PORT, or take a card instead."
)


def qr_timeout(session: object) -> float:
    """Seconds before the code expires: ``session.qr_timeout``, ``POS_QR_TIMEOUT``, or 120."""
    from terminal.qrpay import DEFAULT_TIMEOUT

    value = getattr(session, "qr_timeout", None) or os.environ.get("POS_QR_TIMEOUT")
    try:
        seconds = float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT
    return seconds if 0 < seconds <= 3600 else DEFAULT_TIMEOUT


@contextlib.contextmanager
def qr_host_link(session: object) -> Iterator[QrHostLink]:
    """The configured QR host, or (demo) a QR host simulator for the length of one sale."""
    from terminal.errors import UserFacingError
    from terminal.qrpay import QrHostLink

    address = getattr(session, "qr_host", None) or os.environ.get("POS_QR_HOST")
    if address and address != "embedded":
        yield QrHostLink.parse(str(address))
        return
    if not getattr(session, "demo", False) and address != "embedded":
        raise UserFacingError(NO_QR_HOST)
    from hardware_sim.host.qr import QrPaymentHost

    with QrPaymentHost() as service:
        host, port = service.address
        yield QrHostLink(host, port)


def qr_result_view(outcome: QrOutcome, amount: str) -> ResultView:
    """The result screen for a QR sale, in the same plain words as a card sale."""
    from terminal.tui.plain_words import APPROVED, NOT_COMPLETED, ResultView

    if outcome.approved:
        return ResultView(
            headline=APPROVED,
            sentence=f"Paid by QR code with {outcome.wallet or 'a wallet'}.",
            amount=amount,
            application=f"QR {outcome.wallet}".strip(),
            auth_code=outcome.auth_code,
            cvm="Verified on the customer's phone",
        )
    sentence = {
        "expired": "The QR code expired before the customer paid; nothing was charged. "
        "Start the sale again.",
        "cancelled": "The QR code was cancelled; nothing was charged.",
    }.get(outcome.status, f"The QR payment did not complete ({outcome.status}).")
    return ResultView(headline=NOT_COMPLETED, sentence=sentence, amount=amount, application="QR")


class QrScreen(Screen[None]):
    NAME = "qr"  # what the cashier is looking at (tests, logs)
    BINDINGS = [Binding("escape", "cancel", "Cancel QR code")]
    DEFAULT_CSS = """
    #qr-box { width: 100%; height: 1fr; padding: 0 1; }
    #qr-code { width: auto; height: auto; margin-right: 2; }
    #qr-info { width: 1fr; height: auto; }
    #qr-title { text-style: bold; color: $accent; }
    #qr-amount { text-style: bold; margin: 1 0; }
    #qr-countdown { text-style: bold; color: $warning; margin: 1 0; }
    #qr-help { color: $text-muted; }
    """

    def __init__(self, amount_minor: int) -> None:
        super().__init__()
        self.amount_minor = amount_minor
        self.cancel_event = threading.Event()
        self.payment: QrPayment | None = None
        self.qr_address: tuple[str, int] | None = None  # where the wallet pays (tests)

    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar()
        amount = self.pos_app.currency.format(self.amount_minor)
        with Horizontal(id="qr-box"):
            yield Static("", id="qr-code", markup=False)
            with Vertical(id="qr-info"):
                yield Static("PAY BY QR CODE", id="qr-title")
                yield Static(amount, id="qr-amount")
                yield Static("Preparing the QR code ...", id="qr-reference", markup=False)
                yield Static("", id="qr-countdown", markup=False)
                yield Static("", id="qr-wallet", markup=False)
                yield Static(
                    "The customer scans the code with a payment app. Esc cancels.",
                    id="qr-help",
                )
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._pay, thread=True, exclusive=True, name="qr", group="qr")

    # -- worker thread --------------------------------------------------------------------
    def _pay(self) -> None:
        from terminal.errors import UserFacingError
        from terminal.qrpay import QrPayments

        app = self.pos_app
        session = app.session
        amount = app.currency.format(self.amount_minor)
        cancel = self.cancel_event
        try:
            # Held like a card payment's, so closing the app waits until the sale is journaled.
            with session.payment_busy, qr_host_link(session) as link:
                self.qr_address = (link.host, link.port)
                payments = QrPayments(session.settings, session.journal, link)
                payment = payments.create(
                    self.amount_minor, app.currency, timeout=qr_timeout(session)
                )
                self.payment = payment
                app.invoke_later(self._show_code, payment, f"{link.host}:{link.port}")
                stop = _EitherEvent(cancel, app.abort_event)
                outcome = payments.wait(
                    payment,
                    cancel=stop,
                    on_tick=lambda left: app.invoke_later(self._tick, left),
                )
        except UserFacingError as exc:
            app.invoke_later(self._show_error, sentence(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            app.invoke_later(
                self._show_error,
                f"The QR payment stopped on an internal error ({type(exc).__name__}); "
                "check the journal (key J) before trying again.",
            )
            return
        app.invoke_later(self._show_result, qr_result_view(outcome, amount), outcome.txn_id)

    # -- UI thread ------------------------------------------------------------------------
    def _show_code(self, payment: QrPayment, where: str) -> None:
        from terminal.receipts import qr_text

        self.query_one("#qr-code", Static).update(qr_text(payment.payload))
        self.query_one("#qr-reference", Static).update(f"Reference {payment.reference}")
        self._tick(payment.expires_in)
        if self.pos_app.session.demo:
            self.query_one("#qr-wallet", Static).update(
                f"DEMO: the customer's phone is 'pos sim wallet pay {payment.reference} "
                f"--qr-host {where}'."
            )

    def _tick(self, remaining: float) -> None:
        if self.cancel_event.is_set():
            return
        seconds = max(0, math.ceil(remaining))
        self.query_one("#qr-countdown", Static).update(
            f"Expires in {seconds // 60}:{seconds % 60:02d}"
        )

    def _show_result(self, view: ResultView, txn_id: str) -> None:
        from terminal.tui.screens.result import ResultScreen

        if self.is_current:
            self.app.switch_screen(ResultScreen(view, txn_id=txn_id))

    def _show_error(self, sentence: str) -> None:
        from terminal.tui.screens.result import ErrorScreen

        if self.is_current:
            self.app.switch_screen(ErrorScreen(sentence))

    def action_cancel(self) -> None:
        """Esc: cancel at the host; a code paid a moment before still completes as paid."""
        self.cancel_event.set()
        self.query_one("#qr-countdown", Static).update("Cancelling the QR code ...")


class _EitherEvent(threading.Event):
    """Set when either of two events is set (the cashier's cancel, or the app closing)."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        super().__init__()
        self._events = (first, second)

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)

    def wait(self, timeout: float | None = None) -> bool:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._events[0].wait(0.05 if left is None else min(0.05, left))
        return True
