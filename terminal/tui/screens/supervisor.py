"""The supervisor PIN modal: refunds and voids need a supervisor (least privilege).

The PIN is typed masked, checked at once against the salted scrypt hash in ``[operators]``
(:func:`terminal.operators.authorise`), and never kept: a wrong PIN is refused here, before
any card is read or anything is journaled, and the field is cleared for another try.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from terminal.errors import UserFacingError
from terminal.operators import Approval, authorise

if TYPE_CHECKING:
    from terminal.tui.app import PosApp


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


class SupervisorPinModal(ModalScreen[Approval | None]):
    """Dismisses with the :class:`Approval` for ``action``, or ``None`` when Esc is pressed."""

    NAME = "supervisor-pin"  # what the cashier is looking at (tests, logs)

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, action: str, what: str) -> None:
        super().__init__()
        self.action = action
        self.what = what  # e.g. "Refund 5.00 EUR"
        self.refusals = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static("SUPERVISOR PIN", classes="modal-title")
            yield Static(self.what, id="supervisor-what", markup=False)
            yield Input(
                password=True,
                restrict=r"[0-9]*",
                max_length=12,
                id="supervisor-pin",
                placeholder="supervisor PIN",
            )
            yield Static("", id="supervisor-error", markup=False)
            yield Static(
                "The supervisor types the PIN and presses Enter; Esc cancels.",
                classes="modal-help",
            )
            session = cast("PosApp", self.app).session
            if session.demo and not session.configured_supervisor:
                from terminal.tui.wiring import DEMO_SUPERVISOR_PIN

                yield Static(
                    f"DEMO: the TEST supervisor PIN is {DEMO_SUPERVISOR_PIN}",
                    id="supervisor-demo-hint",
                    classes="modal-help",
                )

    def on_mount(self) -> None:
        self.query_one("#supervisor-pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        field = self.query_one("#supervisor-pin", Input)
        pin = field.value
        field.value = ""  # the PIN is not kept on screen or in this object
        operators = cast("PosApp", self.app).session.settings.operators
        try:
            approval = authorise(operators, self.action, pin)
        except UserFacingError as exc:  # NotAuthorised, or ConfigError: no supervisor set up
            self.refusals += 1
            self.query_one("#supervisor-error", Static).update(_sentence(str(exc)))
            return
        self.dismiss(approval)

    def action_cancel(self) -> None:
        self.query_one("#supervisor-pin", Input).value = ""
        self.dismiss(None)
