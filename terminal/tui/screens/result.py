"""The end of a sale: a large APPROVED / DECLINED with the reason in plain words, or one
sentence saying what went wrong and what to do."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from terminal.tui.plain_words import ResultView
from terminal.tui.screens.title_bar import TitleBar


class ResultScreen(Screen[None]):
    NAME = "result"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("enter", "new_sale", "New sale"),
        Binding("j", "journal", "Journal"),
    ]

    def __init__(self, view: ResultView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield TitleBar()
        v = self.view
        kind = "approved" if v.approved else "declined"
        with Vertical(id="result-box"):
            yield Static(v.headline, id="headline", classes=kind)
            yield Static(v.amount, id="result-amount")
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
            yield Static("Press Enter for a new sale.", id="result-help")
        yield Footer()

    def action_new_sale(self) -> None:
        self.app.pop_screen()

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
