"""The sale screen: the amount typed as digits in minor units, shown formatted live.

Extras (issue 6, sale step 2), when the configuration allows them:

* T: a tip line.  The tip is added to the amount authorised (9F02) of a purchase.
* C: a cashback line (EMV Book 3 6.5.4 / Book 4 A3: Additional Terminal Capabilities 9F40
  byte 1 bit 5 must say the terminal does cashback).  The sale runs as transaction type
  cashback (9C = 09) with the cashback in Amount, Other (9F03).
* X or F5: pay by QR code instead of a card (``screens/qr.py``).

Digits go to the line marked with an arrow (Up / Down switch lines); pressing T or C again
removes that line; Enter confirms the sale.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.events import Key
from textual.screen import Screen
from textual.widgets import Digits, Footer, Static

from terminal.money import ASCII_DIGITS, MAX_AMOUNT_MINOR, Currency
from terminal.tui.screens.title_bar import TitleBar

if TYPE_CHECKING:
    from terminal.tui.app import PosApp

CASHBACK_CAPABILITY = 0x10  # 9F40 byte 1 bit 5: "Cashback" (EMV Book 4 Annex A3)


def cashback_allowed(settings: object) -> bool:
    """EMV Book 4 Annex A3: Additional Terminal Capabilities byte 1 bit 5 = cashback."""
    emv = getattr(settings, "emv", None)
    capabilities = bytes(getattr(emv, "additional_capabilities", b"") or b"")
    return bool(capabilities) and bool(capabilities[0] & CASHBACK_CAPABILITY)


def tips_allowed(settings: object) -> bool:
    """Tips: the configuration's ``tips`` switch, or ``POS_TIPS=1`` in the environment."""
    return bool(getattr(settings, "tips", False)) or os.environ.get("POS_TIPS") == "1"


class SaleScreen(Screen[None]):
    NAME = "sale"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("enter", "confirm", "Confirm amount"),
        Binding("backspace", "delete", "Delete digit"),
        Binding("escape", "clear", "Clear"),
        Binding("t", "toggle_extra('tip')", "Tip"),
        Binding("c", "toggle_extra('cashback')", "Cashback"),
        Binding("up,down", "switch_line", "Switch line", show=False),
        Binding("x", "pay_by_qr", "Pay by QR"),
        Binding("f5", "pay_by_qr", "Pay by QR", show=False),
        Binding("j", "journal", "Journal"),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    #extra-line { text-align: center; width: 100%; }
    """

    def __init__(self, currency: Currency, banner: str = "") -> None:
        super().__init__()
        self.currency = currency
        self.banner = banner
        self.digits = ""
        self.extra = ""  # "", "tip" or "cashback": the second amount line
        self.extra_digits = ""
        self.editing_extra = False

    @property
    def amount_minor(self) -> int:
        return int(self.digits or "0")

    @property
    def extra_minor(self) -> int:
        return int(self.extra_digits or "0") if self.extra else 0

    @property
    def tip_minor(self) -> int:
        return self.extra_minor if self.extra == "tip" else 0

    @property
    def cashback_minor(self) -> int:
        return self.extra_minor if self.extra == "cashback" else 0

    @property
    def total_minor(self) -> int:
        """What the cardholder pays in all: amount + tip + cashback."""
        return self.amount_minor + self.extra_minor

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
            yield Static("", id="extra-line", markup=False)
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
        self.extra, self.extra_digits, self.editing_extra = "", "", False
        self.query_one("#sale-hint", Static).update("")
        self._refresh_amount()

    def _refresh_amount(self) -> None:
        formatted = self.currency.format(self.amount_minor)
        self.query_one("#amount-digits", Digits).update(formatted.rsplit(" ", 1)[0])
        mark = "▶ " if self.extra and not self.editing_extra else ""
        self.query_one("#amount-text", Static).update(f"{mark}{formatted}")
        line = ""
        if self.extra:
            mark = "▶ " if self.editing_extra else ""
            label = "Tip" if self.extra == "tip" else "Cashback"
            line = (
                f"{mark}{label}: {self.currency.format(self.extra_minor)}"
                f"   Total: {self.currency.format(self.total_minor)}"
            )
        self.query_one("#extra-line", Static).update(line)

    def on_key(self, event: Key) -> None:
        if event.character and event.character in ASCII_DIGITS:
            event.stop()
            digits = self.extra_digits if self.editing_extra else self.digits
            longer = digits + event.character if digits or event.character != "0" else digits
            added = int(longer or "0") - int(digits or "0")
            if self.total_minor + added > MAX_AMOUNT_MINOR:  # tag 81 holds the total
                self._hint("That is the largest amount the terminal can take.")
                return
            digits = longer
            if self.editing_extra:
                self.extra_digits = digits
            else:
                self.digits = digits
            self._hint("")
            self._refresh_amount()

    def action_toggle_extra(self, kind: str) -> None:
        """T / C: add (or remove) the tip or cashback line; digits then go to it."""
        if self.extra == kind:
            self.extra, self.extra_digits, self.editing_extra = "", "", False
            self._hint("")
            self._refresh_amount()
            return
        app = cast("PosApp", self.app)
        settings = app.session.settings
        if kind == "tip" and not tips_allowed(settings):
            self._hint("Tips are not enabled in this terminal's configuration.")
            return
        if kind == "cashback" and not cashback_allowed(settings):
            self._hint("Cashback is not enabled in this terminal's configuration (9F40).")
            return
        self.extra, self.extra_digits, self.editing_extra = kind, "", True
        label = "tip" if kind == "tip" else "cashback"
        self._hint(f"Type the {label} (Up/Down switch lines); {label[0].upper()} again removes it.")
        self._refresh_amount()

    def _hint(self, text: str) -> None:
        self.query_one("#sale-hint", Static).update(text)

    def action_switch_line(self) -> None:
        """Up / Down: type into the amount line or the tip / cashback line."""
        if self.extra:
            self.editing_extra = not self.editing_extra
            self._refresh_amount()

    def action_delete(self) -> None:
        if self.editing_extra:
            self.extra_digits = self.extra_digits[:-1]
        else:
            self.digits = self.digits[:-1]
        self._refresh_amount()

    def action_clear(self) -> None:
        if self.editing_extra:
            self.extra_digits = ""
        else:
            self.digits = ""
        self._hint("")
        self._refresh_amount()

    def action_confirm(self) -> None:
        if self.amount_minor == 0:
            self._hint("Type an amount above zero first.")
            return
        from terminal.tui.screens.card import CardScreen

        if self.cashback_minor:
            self.app.push_screen(
                CardScreen(self.amount_minor, other_amount_minor=self.cashback_minor)
            )
            return
        self.app.push_screen(CardScreen(self.amount_minor + self.tip_minor))

    def action_pay_by_qr(self) -> None:
        if self.amount_minor == 0:
            self._hint("Type an amount above zero first, then press X to pay by QR code.")
            return
        if self.cashback_minor:
            self._hint("A QR payment cannot give cashback; press C to remove it first.")
            return
        from terminal.tui.screens.qr import QrScreen

        self.app.push_screen(QrScreen(self.amount_minor + self.tip_minor))

    def action_journal(self) -> None:
        from terminal.tui.screens.journal import JournalScreen

        self.app.push_screen(JournalScreen())
