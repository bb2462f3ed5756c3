"""The sale screen: the amount typed as digits in minor units, shown formatted live."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.events import Key
from textual.screen import Screen
from textual.widgets import Digits, Footer, Static

from terminal.money import Currency
from terminal.tui.screens.title_bar import TitleBar

MAX_DIGITS = 12  # ISO 8583 DE 4 / EMV 9F02: n 12


class SaleScreen(Screen[None]):
    NAME = "sale"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("enter", "confirm", "Confirm amount"),
        Binding("backspace", "delete", "Delete digit"),
        Binding("escape", "clear", "Clear"),
        Binding("j", "journal", "Journal"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, currency: Currency, banner: str = "") -> None:
        super().__init__()
        self.currency = currency
        self.banner = banner
        self.digits = ""

    @property
    def amount_minor(self) -> int:
        return int(self.digits or "0")

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="sale-box"):
            yield Static("NEW SALE", id="sale-title")
            if self.banner:
                yield Static(self.banner, id="banner", markup=False)
            yield Static(
                f"Type the amount with the number keys ({self._unit_hint()}), then press Enter.",
                id="sale-help",
            )
            with Center():
                yield Digits("0", id="amount-digits")
            yield Static("", id="amount-text")
            yield Static("", id="sale-hint", markup=False)
        yield Footer()

    def _unit_hint(self) -> str:
        if self.currency.exponent == 0:
            return f"whole {self.currency.alpha}"
        return f"in cents: 1234 = {self.currency.format(1234)}"

    def on_mount(self) -> None:
        self._refresh_amount()

    def on_screen_resume(self) -> None:
        self.digits = ""
        self.query_one("#sale-hint", Static).update("")
        self._refresh_amount()

    def _refresh_amount(self) -> None:
        formatted = self.currency.format(self.amount_minor)
        self.query_one("#amount-digits", Digits).update(formatted.rsplit(" ", 1)[0])
        self.query_one("#amount-text", Static).update(formatted)

    def on_key(self, event: Key) -> None:
        if event.character and event.character.isdigit():
            event.stop()
            if len(self.digits) >= MAX_DIGITS:
                self._hint("That is the largest amount the terminal can take.")
                return
            if self.digits or event.character != "0":
                self.digits += event.character
            self._hint("")
            self._refresh_amount()

    def _hint(self, text: str) -> None:
        self.query_one("#sale-hint", Static).update(text)

    def action_delete(self) -> None:
        self.digits = self.digits[:-1]
        self._refresh_amount()

    def action_clear(self) -> None:
        self.digits = ""
        self._hint("")
        self._refresh_amount()

    def action_confirm(self) -> None:
        if self.amount_minor == 0:
            self._hint("Type an amount above zero first.")
            return
        from terminal.tui.screens.card import CardScreen

        self.app.push_screen(CardScreen(self.amount_minor))

    def action_journal(self) -> None:
        from terminal.tui.screens.journal import JournalScreen

        self.app.push_screen(JournalScreen())
