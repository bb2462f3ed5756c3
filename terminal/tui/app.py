"""The cashier's Textual application (``pos run``; ``make demo`` is ``pos run --demo``).

Screens: sale (amount) -> insert/tap/swipe (card or reader) -> payment in progress
(kernel in a worker thread; modals for application choice and PIN) -> result; the journal
is one key away.  Heavy modules (the kernel, the host simulator, the card simulator) are
imported when the first payment starts, so the amount screen takes keys at once.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from terminal.errors import UserFacingError
from terminal.money import Currency
from terminal.tui.screens.sale import SaleScreen
from terminal.tui.wiring import TerminalSession

if TYPE_CHECKING:
    from terminal.tui.cardholder import UiCardholder

WARM_UP_DELAY_S = 0.4
_DIGIT_RUN = re.compile(r"\d{13,19}")


def _mask_pans(text: str) -> str:
    """Never write a full PAN, even to a crash log: Luhn-valid digit runs are masked."""
    from emv.kernel.result import mask_pan
    from terminal.journal import luhn_valid

    return _DIGIT_RUN.sub(lambda m: mask_pan(m[0]) if luhn_valid(m[0]) else m[0], text)


class Invoke(Message):
    """Run ``fn(*args)`` on the UI thread; posted from worker threads (post_message is
    thread-safe and never blocks, so a worker can never deadlock against the UI)."""

    def __init__(self, fn: Callable[..., object], args: tuple[object, ...]) -> None:
        super().__init__()
        self.fn = fn
        self.args = args


class PosApp(App[None]):
    CSS_PATH = "pos.tcss"
    TITLE = "POS terminal"
    # Operations, reachable from the sale screen only (shown in its Footer).
    OPERATION_BINDINGS = [
        Binding("r", "refund", "Refund"),
        Binding("v", "void", "Void"),
        Binding("p", "preauth", "Pre-auth"),
        Binding("s", "settlement", "Settle"),
        Binding("d", "devices", "Devices"),
    ]
    BINDINGS = list(OPERATION_BINDINGS)
    OPERATIONS = frozenset(b.action for b in OPERATION_BINDINGS)

    def __init__(self, session: TerminalSession, *, banner: str = "") -> None:
        super().__init__()
        self.session = session
        self.currency: Currency = session.settings.currency
        self.banner = banner
        self.abort_event = threading.Event()
        self.fatal_error: str = ""
        self.last_cardholder: UiCardholder | None = None
        self.crash_log: Path | None = None
        mode = "DEMO - simulated card, host and PIN pad" if session.demo else "LIVE readers"
        self.sub_title = f"{mode} - {session.settings.emv.terminal_id}"

    def invoke_later(self, fn: Callable[..., object], *args: object) -> None:
        """Thread-safe, non-blocking: run ``fn(*args)`` on the UI thread soon."""
        if not self.abort_event.is_set():
            self.post_message(Invoke(fn, args))

    def on_invoke(self, message: Invoke) -> None:
        message.fn(*message.args)

    def on_mount(self) -> None:
        sale = SaleScreen(self.currency, self.banner)
        self.push_screen(sale)
        self.call_after_refresh(self._operation_keys, sale)
        # Open the host link and run start-up recovery while the cashier types the amount,
        # once the amount screen is up and taking keys (the imports compete for the GIL).
        self.set_timer(WARM_UP_DELAY_S, self._start_warm_up)

    def _start_warm_up(self) -> None:
        self.run_worker(self._warm_up, thread=True, name="warm-up", group="warm-up")

    def _warm_up(self) -> None:
        try:
            self.session.service()
        except Exception as exc:  # noqa: BLE001 - the sale screen will say it again in full
            self._notify_from_thread(f"The host link could not be opened ({exc}).", "error")
            return
        if self.session.recovery_sentence:
            self._notify_from_thread(self.session.recovery_sentence, "warning")

    def _notify_from_thread(
        self, text: str, severity: Literal["information", "warning", "error"]
    ) -> None:
        if self.abort_event.is_set():
            return
        self.invoke_later(lambda: self.notify(text, severity=severity, timeout=15))

    def _operation_keys(self, sale: SaleScreen) -> None:
        """The sale screen's Footer is full at 100 columns: one more line names the keys."""
        from textual.widgets import Static

        if not sale.is_attached:
            return
        keys = "  ".join(f"[b]{b.key}[/b] {b.description}" for b in self.OPERATION_BINDINGS)
        sale.mount(Static(keys, id="operation-keys"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.OPERATIONS:
            return isinstance(self.screen, SaleScreen)
        return True

    def action_refund(self) -> None:
        from terminal.tui.screens.operations import OperationAmountScreen

        self.push_screen(OperationAmountScreen("refund"))

    def action_void(self) -> None:
        from terminal.tui.screens.operations import VoidScreen

        self.push_screen(VoidScreen())

    def action_preauth(self) -> None:
        from terminal.tui.screens.operations import PreauthScreen

        self.push_screen(PreauthScreen())

    def action_settlement(self) -> None:
        from terminal.tui.screens.settlement import SettlementScreen

        self.push_screen(SettlementScreen())

    def action_devices(self) -> None:
        from terminal.tui.screens.devices import DevicesScreen

        self.push_screen(DevicesScreen())

    def on_unmount(self) -> None:
        self.abort_event.set()
        self.session.close()

    def _fatal_error(self) -> None:
        """An unexpected error: keep the traceback for support, show the cashier a sentence."""
        error = self._exception
        name = type(error).__name__ if error else "unknown error"
        self.fatal_error = (
            f"the cashier screen stopped on an internal error ({name}); nothing was charged "
            "twice - check the journal, then restart with 'pos run'"
        )
        try:
            from terminal.runtime import data_dir

            self.crash_log = data_dir() / "pos-run-crash.log"
            self.crash_log.parent.mkdir(parents=True, exist_ok=True)
            if error is not None:
                self.crash_log.write_text(_mask_pans("".join(traceback.format_exception(error))))
        except (OSError, UserFacingError):  # no usable data folder (DataDirError) either
            self.crash_log = None
        self._close_messages_no_wait()
