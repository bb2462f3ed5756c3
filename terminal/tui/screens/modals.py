"""Questions the kernel asks mid-payment: application choice (EMV Book 1 12.4), single
application confirmation, and PIN entry (demo: the cashier's keyboard, flagged insecure)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from emv.ports import ApplicationChoice, PinEntryStatus, PinRequest
from terminal.tui.cardholder import PinAnswer


class ApplicationModal(ModalScreen[int | None]):
    """Book 1 12.4 step 3: the cardholder picks one of the mutually supported applications."""

    NAME = "app-choice"  # what the cashier is looking at (tests, logs)

    BINDINGS = [Binding("escape", "cancel", "Cancel payment")]

    def __init__(self, choices: list[ApplicationChoice]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static("SELECT APPLICATION", classes="modal-title")
            yield Static(
                "The card has several applications: let the cardholder choose one "
                "(number, or arrows and Enter; Esc cancels the payment).",
                classes="modal-help",
            )
            yield OptionList(
                *[
                    Option(f"{i + 1}  {c.label or c.aid.hex().upper()}", id=f"app-{i}")
                    for i, c in enumerate(self.choices)
                ],
                id="app-list",
                markup=False,
            )

    def on_mount(self) -> None:
        options = self.query_one("#app-list", OptionList)
        options.highlighted = 0
        options.focus()

    def on_key(self, event: Key) -> None:
        if event.character and event.character.isdigit():
            index = int(event.character) - 1
            if 0 <= index < len(self.choices):
                event.stop()
                self.dismiss(index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool | None]):
    """Book 1 12.4 step 4: the cardholder confirms the only application."""

    NAME = "app-confirm"  # what the cashier is looking at (tests, logs)

    BINDINGS = [
        Binding("enter", "yes", "Use it"),
        Binding("escape", "no", "Cancel payment"),
    ]

    def __init__(self, choice: ApplicationChoice) -> None:
        super().__init__()
        self.choice = choice

    def compose(self) -> ComposeResult:
        label = self.choice.label or self.choice.aid.hex().upper()
        with Vertical(classes="modal-box"):
            yield Static("CONFIRM APPLICATION", classes="modal-title")
            yield Static(f"Pay with {label}?", id="confirm-label", markup=False)
            yield Static("Enter = yes, Esc = cancel the payment.", classes="modal-help")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class PinModal(ModalScreen[PinAnswer | None]):
    """PIN entry.  DEMO ONLY: a keyboard is not a PCI PTS PIN pad (the real pad is issue 7)."""

    NAME = "pin-entry"  # what the cashier is looking at (tests, logs)

    BINDINGS = [
        Binding("escape", "cancel", "Cancel payment"),
        Binding("f2", "bypass", "No PIN (bypass)"),
    ]

    def __init__(
        self,
        request: PinRequest,
        prompt: str,
        amount: str,
        *,
        demo: bool,
        test_pin_hint: str | None = None,
    ) -> None:
        super().__init__()
        self.request = request
        self.prompt = prompt
        self.amount = amount
        self.demo = demo
        self.test_pin_hint = test_pin_hint

    def compose(self) -> ComposeResult:
        kind = "online PIN" if self.request.online else "offline PIN"
        tries = self.request.pin_try_counter
        with Vertical(classes="modal-box"):
            if self.demo:
                yield Static("DEMO - insecure keyboard PIN entry", id="pin-warning")
                if self.test_pin_hint:
                    yield Static(
                        f"(simulated card: its TEST PIN is {self.test_pin_hint})",
                        id="pin-hint",
                        markup=False,
                    )
            yield Static(self.prompt, classes="modal-title", id="pin-prompt", markup=False)
            yield Static(
                f"{self.amount} - {kind}" + (f" - {tries} tries left" if tries else ""),
                id="pin-detail",
                markup=False,
            )
            yield Input(
                password=True, restrict=r"[0-9]*", max_length=12, id="pin", placeholder="PIN"
            )
            yield Static("", id="pin-error", markup=False)
            yield Static(
                "Cardholder types the PIN and presses Enter. F2 = no PIN, Esc = cancel.",
                classes="modal-help",
            )

    def on_mount(self) -> None:
        self.query_one("#pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        field = self.query_one("#pin", Input)
        digits = field.value
        if not 4 <= len(digits) <= 12:
            self.query_one("#pin-error", Static).update("A PIN has 4 to 12 digits; type it again.")
            field.value = ""
            return
        field.value = ""
        self.dismiss(PinAnswer(PinEntryStatus.ENTERED, digits))

    def action_bypass(self) -> None:
        self.query_one("#pin", Input).value = ""
        self.dismiss(PinAnswer(PinEntryStatus.BYPASSED))

    def action_cancel(self) -> None:
        self.query_one("#pin", Input).value = ""
        self.dismiss(PinAnswer(PinEntryStatus.CANCELLED))


class RetapModal(ModalScreen[bool | None]):
    """Contactless restart (Book B 3.5.1.2): the cardholder must present the card again,
    typically after confirming on the phone (on-device cardholder verification)."""

    NAME = "retap"  # what the cashier is looking at (tests, logs)

    BINDINGS = [Binding("enter", "tapped", "Card tapped again")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static("TAP AGAIN", classes="modal-title")
            yield Static(
                "The card or phone asks to be presented again (on a phone: the cardholder "
                "unlocks it first). Press Enter when it is held to the reader.",
                id="retap-help",
            )

    def action_tapped(self) -> None:
        self.dismiss(True)
