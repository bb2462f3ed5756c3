"""'Insert, tap or swipe': which readers are live, and (demo) the simulated card to use."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from terminal.tui.wiring import CardSource, ReaderStatus

if TYPE_CHECKING:
    from terminal.tui.app import PosApp


def _short(description: str, width: int = 62) -> str:
    """The profile's description cut to one line of the list."""
    text = description.split(":")[0] if len(description) > width else description
    return text if len(text) <= width else text[: width - 1] + "…"


class CardScreen(Screen[None]):
    NAME = "card"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("escape", "back", "Back to amount"),
    ]

    def __init__(self, amount_minor: int) -> None:
        super().__init__()
        self.amount_minor = amount_minor
        self.sources: list[CardSource] = []

    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        session = self.pos_app.session
        amount = self.pos_app.currency.format(self.amount_minor)
        try:
            self.sources = session.card_sources()
            status = session.reader_status()
        except Exception as exc:  # noqa: BLE001 - one sentence for the cashier
            self.sources = []
            status = [ReaderStatus("card readers", False, f"unavailable ({type(exc).__name__})")]
        with Vertical(id="card-box"):
            yield Static(f"{amount}", id="card-amount")
            yield Static("INSERT, TAP OR SWIPE", id="card-title")
            lines = [
                f"{'●' if r.live else '○'} {r.name}: {'live' if r.live else 'off'} - {r.detail}"
                for r in status
            ]
            yield Static("\n".join(lines), id="reader-status", markup=False)
            if session.demo:
                yield Static(
                    "DEMO: the list below is the card simulator. Press a number to insert a "
                    "chip card, a letter to tap a contactless card or phone (or arrows, Enter).",
                    id="card-help",
                )
            if not self.sources:
                yield Static(
                    "No card source can be opened; press Esc and call support.",
                    id="card-error",
                )
            elif not session.demo:
                chip = status[0]
                help_text = (
                    "Insert the card in the reader, then press Enter."
                    if chip.live
                    else f"No card reader is ready: {chip.detail}"
                )
                yield Static(help_text, id="card-help", markup=False)
            options = [
                Option(
                    f"{self._key(i)}  {'tap' if s.contactless else 'chip'}  {s.label:<16} "
                    f"{_short(s.description, 54)}",
                    id=f"src-{i}",
                )
                for i, s in enumerate(self.sources)
            ]
            yield OptionList(*options, id="card-list", markup=False)
        yield Footer()

    def _key(self, index: int) -> str:
        """Chip cards take the number keys 1-9, 0; contactless cards the letters a, b, c..."""
        source = self.sources[index]
        if source.contactless:
            position = [s for s in self.sources if s.contactless].index(source)
            return chr(ord("a") + position) if position < 26 else " "
        position = [s for s in self.sources if not s.contactless].index(source)
        return str(position + 1) if position < 9 else ("0" if position == 9 else " ")

    def on_mount(self) -> None:
        card_list = self.query_one("#card-list", OptionList)
        card_list.highlighted = 0 if self.sources else None
        card_list.focus()

    def on_key(self, event: Key) -> None:
        if not event.character:
            return
        for index in range(len(self.sources)):
            if self._key(index) == event.character:
                event.stop()
                self._start(index)
                return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._start(event.option_index)

    def _start(self, index: int) -> None:
        from terminal.tui.screens.payment import PaymentScreen

        self.app.switch_screen(PaymentScreen(self.amount_minor, self.sources[index]))

    def action_back(self) -> None:
        self.app.pop_screen()
