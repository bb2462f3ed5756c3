"""'Insert, tap or swipe': which readers are live, and (demo) the simulated card to use."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import DescendantFocus, Key
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from terminal.tui.screens.title_bar import TitleBar
from terminal.tui.wiring import CardSource, ReaderStatus

if TYPE_CHECKING:
    from terminal.tui.app import PosApp


class CardScreen(Screen[None]):
    NAME = "card"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("escape", "back", "Back to amount"),
    ]

    def __init__(self, amount_minor: int, *, other_amount_minor: int = 0) -> None:
        super().__init__()
        self.amount_minor = amount_minor
        self.other_amount_minor = other_amount_minor  # cashback (9F03), from the sale screen
        self.sources: list[CardSource] = []

    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar()
        session = self.pos_app.session
        amount = self.pos_app.currency.format(self.amount_minor + self.other_amount_minor)
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
                    "DEMO: these lists are the card simulator. Press a number to insert a chip "
                    "card or a letter to tap a card or phone (or Tab, arrows and Enter).",
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
            chips = [i for i, src in enumerate(self.sources) if not src.contactless]
            taps = [i for i, src in enumerate(self.sources) if src.contactless]
            with Horizontal(id="card-lists"):
                for title, indexes, list_id in (
                    ("Insert (chip)", chips, "chip-list"),
                    ("Tap (contactless)", taps, "tap-list"),
                ):
                    if not indexes:
                        continue
                    options = OptionList(
                        *[
                            Option(f"{self._key(i)}  {self.sources[i].label}", id=f"src-{i}")
                            for i in indexes
                        ],
                        id=list_id,
                        markup=False,
                    )
                    options.border_title = title
                    yield options
            yield Static("", id="card-detail", markup=False)
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
        lists = list(self.query(OptionList).results(OptionList))
        for options in lists:
            options.highlighted = 0
        if lists:
            lists[0].focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.has_focus:
            self._describe(event.option.id)

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        widget = event.widget
        if isinstance(widget, OptionList) and widget.highlighted is not None:
            self._describe(widget.get_option_at_index(widget.highlighted).id)

    def _describe(self, option_id: str | None) -> None:
        index = self._index_of(option_id)
        if index is not None:
            source = self.sources[index]
            how = "tap" if source.contactless else "insert"
            detail = f"{source.label} ({how}): {source.description}"
            self.query_one("#card-detail", Static).update(detail)

    @staticmethod
    def _index_of(option_id: str | None) -> int | None:
        if option_id and option_id.startswith("src-"):
            return int(option_id[4:])
        return None

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
        index = self._index_of(event.option.id)
        if index is not None:
            self._start(index)

    def _start(self, index: int) -> None:
        from emv.kernel.context import TransactionType
        from terminal.tui.screens.payment import PaymentScreen

        cashback = self.other_amount_minor
        kind = TransactionType.CASHBACK if cashback else TransactionType.PURCHASE
        self.app.switch_screen(
            PaymentScreen(
                self.amount_minor,
                self.sources[index],
                transaction_type=kind,
                other_amount_minor=cashback,
            )
        )

    def action_back(self) -> None:
        self.app.pop_screen()
