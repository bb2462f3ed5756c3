"""The end of a sale: a large APPROVED / DECLINED with the reason in plain words, or one
sentence saying what went wrong and what to do; then print, email or skip the receipt
(issue 6, sale step 8: P prints, E emails, R shows it, S or Enter skips)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from terminal.tui.plain_words import ResultView
from terminal.tui.screens.title_bar import TitleBar

if TYPE_CHECKING:
    from terminal.receipts import Receipt
    from terminal.tui.app import PosApp

RECEIPT_HELP = "Receipt: P print, E email, R show, S skip. Enter starts a new sale."


class ResultScreen(Screen[None]):
    NAME = "result"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("enter", "new_sale", "New sale"),
        Binding("p", "print_receipt", "Print"),
        Binding("e", "email_receipt", "Email"),
        Binding("r", "show_receipt", "Show receipt"),
        Binding("s", "new_sale", "Skip"),
        Binding("j", "journal", "Journal"),
    ]
    DEFAULT_CSS = """
    #receipt-hint { color: $warning; }
    """

    def __init__(self, view: ResultView, *, outcome: Any = None, txn_id: str = "") -> None:
        """``outcome`` (a card payment's PaymentOutcome) or ``txn_id`` (a journaled sale,
        e.g. a QR payment) is where the receipt comes from."""
        super().__init__()
        self.view = view
        self.outcome = outcome
        self.txn_id = txn_id or (getattr(outcome, "txn_id", "") if outcome is not None else "")

    def compose(self) -> ComposeResult:
        yield TitleBar()
        v = self.view
        kind = "approved" if v.approved else "declined"
        with Vertical(id="result-box"):
            yield Static(v.headline, id="headline", classes=kind)
            yield Static(self._amount_text(), id="result-amount")
            yield Static(v.sentence, id="reason", markup=False)
            details = [
                ("Card", v.pan_masked or "-"),
                ("Application", v.application or "-"),
                ("Auth code", v.auth_code or "-"),
                ("Cardholder verification", v.cvm or "-"),
                ("Host response", v.response_code or "-"),
                ("STAN", v.stan or "-"),
            ]
            yield Static(
                "\n".join(f"{k:<24}{val}" for k, val in details), id="details", markup=False
            )
            if v.signature_required:
                yield Static("SIGNATURE REQUIRED: have the cardholder sign.", id="signature")
            if v.reversal:
                yield Static(v.reversal, id="reversal", markup=False)
            yield Static("", id="receipt-hint", markup=False)
            yield Static(RECEIPT_HELP, id="result-help")
        yield Footer()

    def action_new_sale(self) -> None:
        self.app.pop_screen()

    def _amount_text(self) -> str:
        """The amount; with cashback (9F03), the goods, the cash and the total to hand over."""
        request = getattr(self.outcome, "request", None)
        other = getattr(request, "other_amount_minor", 0) if request is not None else 0
        if request is None or not other:
            return self.view.amount
        cur = request.currency
        total = cur.format(request.amount_minor + other)
        return f"{self.view.amount} + cashback {cur.format(other)} = {total}"

    def receipt(self) -> Receipt | None:
        """This sale's receipt: from the outcome just made, else from the journal."""
        app = cast("PosApp", self.app)
        if self.outcome is not None:
            from terminal.receipts import receipt_from_outcome

            return receipt_from_outcome(self.outcome, app.session.settings.emv)
        from terminal.tui.screens.receipt import receipt_for_txn, txn_of_result

        self.txn_id = self.txn_id or txn_of_result(app.session, self.view.stan)
        if not self.txn_id:
            self._hint("This result has no receipt: nothing was journaled.")
            return None

        receipt, why = receipt_for_txn(app.session, self.txn_id)
        if receipt is None:
            self._hint(why)
        return receipt

    def _hint(self, text: str) -> None:
        self.query_one("#receipt-hint", Static).update(text)

    def action_print_receipt(self) -> None:
        from terminal.tui.screens.receipt import print_in_background

        receipt = self.receipt()
        if receipt is not None:
            print_in_background(self, receipt, "#receipt-hint")

    def action_email_receipt(self) -> None:
        from terminal.tui.screens.receipt import email_sentence

        self._hint(email_sentence(cast("PosApp", self.app).session))

    def action_show_receipt(self) -> None:
        from terminal.tui.screens.receipt import ReceiptScreen

        receipt = self.receipt()
        if receipt is not None:
            self.app.push_screen(ReceiptScreen(receipt))

    def action_journal(self) -> None:
        from terminal.tui.screens.journal import JournalScreen

        self.app.push_screen(JournalScreen())


class ErrorScreen(Screen[None]):
    NAME = "error"  # what the cashier is looking at (tests, logs)
    BINDINGS = [Binding("enter", "new_sale", "New sale")]

    def __init__(self, sentence: str) -> None:
        super().__init__()
        self.sentence = sentence

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="result-box"):
            yield Static("NOT COMPLETED", id="headline", classes="declined")
            yield Static(self.sentence, id="reason", markup=False)
            yield Static("Press Enter to start again.", id="result-help")
        yield Footer()

    def action_new_sale(self) -> None:
        self.app.pop_screen()
