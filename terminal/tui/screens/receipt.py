"""Print, email or skip the receipt (issue 6, sale step 8), and the receipt on screen.

The receipt itself is built by ``terminal.receipts`` (EMV Book 4 11.4 content); this module
only decides where it goes:

* print: the printer from ``session.printer`` (``pos run --printer SPEC``) or ``POS_PRINTER``;
  in demo mode without one, ``file:$POS_DATA_DIR/receipts/TXN.bin`` (the ESC/POS bytes).  The
  journal records ``receipt_print_requested`` before printing and ``receipt_printed`` after;
* email: this project sends no mail.  Without an address configured (``session.receipt_email``
  or ``POS_RECEIPT_EMAIL``) the cashier reads "email is not configured"; with one, the screen
  says plainly that no mail is sent;
* show: :func:`terminal.receipts.render_text` on screen.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from terminal.tui.screens.title_bar import TitleBar

if TYPE_CHECKING:
    from terminal.receipts import Receipt
    from terminal.tui.app import PosApp

EMAIL_NOT_CONFIGURED = (
    "Email is not configured on this terminal: print the receipt (P) or skip it (S)."
)
EMAIL_NOT_SENT = (
    "Email receipts to {address} are not sent: this terminal has no mail service. "
    "Print the receipt (P) instead."
)


def sentence(text: str) -> str:
    """One sentence for the cashier: capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def printer_spec(session: Any, txn_id: str) -> str | None:
    """Where receipts go: the configured printer, else a file in demo mode, else none."""
    spec = getattr(session, "printer", None) or os.environ.get("POS_PRINTER")
    if spec:
        return str(spec)
    if getattr(session, "demo", False):
        from terminal.runtime import data_dir

        folder = data_dir() / "receipts"
        folder.mkdir(parents=True, exist_ok=True)
        return f"file:{folder / (txn_id + '.bin')}"
    return None


def print_for(session: Any, receipt: Receipt) -> str:
    """Print ``receipt``; journal before and after.  Returns one sentence for the cashier."""
    from terminal.errors import UserFacingError
    from terminal.receipts import print_receipt

    spec = printer_spec(session, receipt.txn_id)
    if spec is None:
        return "No receipt printer is configured (pos run --printer SPEC); press R to show it."
    journal = session.journal
    try:
        journal.append(receipt.txn_id, "receipt_print_requested", receipt_copy=receipt.copy)
        kind = print_receipt(receipt, spec)
        journal.append(receipt.txn_id, "receipt_printed", receipt_copy=receipt.copy)
    except UserFacingError as exc:  # PrinterOutOfPaper, PrinterError, a bad printer spec
        return sentence(str(exc))
    except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
        return f"The receipt could not be printed ({type(exc).__name__}); call support."
    where = spec[5:] if spec.startswith("file:") else spec
    return f"Receipt printed ({receipt.copy} copy) on the {kind} printer: {where}."


def print_in_background(screen: Screen[Any], receipt: Receipt, hint_id: str) -> None:
    """Print off the UI thread (a serial printer can take seconds); the hint shows the end."""
    app = cast("PosApp", screen.app)
    hint = screen.query_one(hint_id, Static)
    hint.update("Printing the receipt ...")

    def work() -> None:
        text = print_for(app.session, receipt)
        app.invoke_later(hint.update, text)

    screen.run_worker(work, thread=True, group="receipt-print", exclusive=True)


def email_sentence(session: Any) -> str:
    address = getattr(session, "receipt_email", None) or os.environ.get("POS_RECEIPT_EMAIL")
    if not address:
        return EMAIL_NOT_CONFIGURED
    return EMAIL_NOT_SENT.format(address=address)


def txn_of_result(session: Any, stan: str) -> str:
    """The transaction a result screen shows, when the payment screen did not say: the one
    with that STAN, else the newest (payments run one at a time, the result comes last)."""
    try:
        entries = session.journal.entries()
    except Exception:  # noqa: BLE001 - the caller says there is no receipt
        return ""
    if stan:
        for entry in reversed(entries):
            if str(entry.data.get("stan", "")) == stan:
                return str(entry.txn_id)
    return str(entries[-1].txn_id) if entries else ""


def receipt_for_txn(session: Any, txn_id: str) -> tuple[Receipt | None, str]:
    """The receipt of a journaled transaction, or (None, the reason in one sentence)."""
    from terminal.receipts import receipt_from_journal

    try:
        entry = session.journal.entry(txn_id)
    except Exception as exc:  # noqa: BLE001
        return None, f"The journal cannot be read ({type(exc).__name__}); call support."
    if entry is None:
        return None, "That transaction is not in the journal."
    if "completed" not in entry.kinds:
        return None, (
            f"That transaction has not completed ({entry.status}); it has no receipt yet."
        )
    return receipt_from_journal(entry, session.settings.emv), ""


class ReceiptScreen(Screen[None]):
    """The plain-text receipt on screen, with print and email."""

    NAME = "receipt"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("p", "print", "Print"),
        Binding("e", "email", "Email"),
        Binding("escape", "back", "Back"),
        Binding("s", "back", "Skip"),
    ]
    DEFAULT_CSS = """
    #receipt-box { width: 100%; max-width: 96; height: 1fr; padding: 0 2; }
    #receipt-title { text-style: bold; color: $accent; }
    #receipt-scroll { height: 1fr; border: round $panel; }
    #receipt-text { width: 46; }
    #receipt-hint { color: $warning; }
    """

    def __init__(self, receipt: Receipt, *, title: str = "RECEIPT") -> None:
        super().__init__()
        self.receipt = receipt
        self.title_text = title

    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", self.app)

    def compose(self) -> ComposeResult:
        from terminal.receipts import render_text

        yield TitleBar()
        with Vertical(id="receipt-box"):
            yield Static(self.title_text, id="receipt-title")
            with VerticalScroll(id="receipt-scroll"):
                yield Static(render_text(self.receipt), id="receipt-text", markup=False)
            yield Static("", id="receipt-hint", markup=False)
            yield Static(
                "P prints, E emails, arrows scroll, Esc goes back.",
                id="receipt-help",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#receipt-scroll").focus()

    def action_print(self) -> None:
        print_in_background(self, self.receipt, "#receipt-hint")

    def action_email(self) -> None:
        self.query_one("#receipt-hint", Static).update(email_sentence(self.pos_app.session))

    def action_back(self) -> None:
        self.app.pop_screen()
