"""The cashier's Textual application (``pos run``; ``make demo`` is ``pos run --demo``).

Screens: sale (amount) -> insert/tap/swipe (card or reader) -> payment in progress
(kernel in a worker thread; modals for application choice and PIN) -> result; the journal
is one key away.  Heavy modules (the kernel, the host simulator, the card simulator) are
imported when the first payment starts, so the amount screen takes keys at once.
"""

from __future__ import annotations

import threading

from textual.app import App

from terminal.money import Currency
from terminal.tui.screens.sale import SaleScreen
from terminal.tui.wiring import TerminalSession


class PosApp(App[None]):
    CSS_PATH = "pos.tcss"
    TITLE = "POS terminal"

    def __init__(self, session: TerminalSession, *, banner: str = "") -> None:
        super().__init__()
        self.session = session
        self.currency: Currency = session.settings.currency
        self.banner = banner
        self.abort_event = threading.Event()
        mode = "DEMO - simulated card, host and PIN pad" if session.demo else "LIVE readers"
        self.sub_title = f"{mode} - {session.settings.emv.terminal_id}"

    def on_mount(self) -> None:
        self.push_screen(SaleScreen(self.currency, self.banner))

    def on_unmount(self) -> None:
        self.abort_event.set()
        self.session.close()
