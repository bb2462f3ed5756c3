"""Today's transactions from the journal: time, status, amount, masked PAN, auth code, STAN.

A search box filters them (the last 4 digits of the card, a STAN, an amount or a status);
Enter on a row shows its receipt, where P reprints it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from terminal.journal import JournalEntry
from terminal.tui.screens.title_bar import TitleBar

if TYPE_CHECKING:
    from terminal.tui.app import PosApp


def _local(started_at: str) -> datetime | None:
    try:
        return datetime.fromisoformat(started_at).astimezone()
    except ValueError:
        return None


def todays_rows(entries: list[JournalEntry], today: date | None = None) -> list[tuple[str, ...]]:
    """One row per transaction started today (local time), newest first: time, status,
    amount, card, application, auth code (the journal screen adds the STAN)."""
    return [row[:6] for _, row in todays_entries(entries, today)]


def todays_entries(
    entries: list[JournalEntry], today: date | None = None
) -> list[tuple[JournalEntry, tuple[str, ...]]]:
    """(entry, row) for each transaction started today (local time), newest first."""
    from terminal.money import currency

    day = today or datetime.now().astimezone().date()
    rows: list[tuple[datetime, JournalEntry, tuple[str, ...]]] = []
    for entry in entries:
        when = _local(entry.started_at)
        if when is None or when.date() != day:
            continue
        data = entry.data
        try:
            amount = currency(str(data.get("currency", ""))).format(int(data.get("amount", 0)))
        except Exception:  # noqa: BLE001 - a strange row still shows, just unformatted
            amount = f"{data.get('amount', '?')} {data.get('currency', '')}"
        rows.append(
            (
                when,
                entry,
                (
                    when.strftime("%H:%M:%S"),
                    entry.status,
                    amount,
                    str(data.get("pan_masked", "") or "-"),
                    str(data.get("label", "") or "-"),
                    str(data.get("auth_code", "") or "-"),
                    str(data.get("stan", "") or "-"),
                ),
            )
        )
    # Newest first; the journal's own order breaks ties (events in the same millisecond).
    order = {id(entry): index for index, entry in enumerate(entries)}
    rows.sort(key=lambda r: (r[0], order[id(r[1])]), reverse=True)
    return [(entry, row) for _, entry, row in rows]


def matches(entry: JournalEntry, row: tuple[str, ...], query: str) -> bool:
    """The cashier's search: the card's last 4 digits, a STAN, an amount or a status.

    Every word must match.  Digits match the last digits of the masked PAN, the STAN (with or
    without leading zeros), the auth code, or the amount (``12.34``, ``12,34`` or ``1234``
    minor units); other words match the status (``approved``, ``declined``, ``reversed``...)
    or the application label.
    """
    data = entry.data
    pan = str(data.get("pan_masked", ""))
    stan = str(data.get("stan", ""))
    amount_text = row[2].split(" ")[0]
    minor = str(data.get("amount", ""))
    for word in query.lower().split():
        if word.isdigit():
            hit = (
                (len(word) <= 4 and pan.endswith(word))
                or (bool(stan) and stan.lstrip("0") == word.lstrip("0"))
                or word == minor
                or word == str(data.get("auth_code", ""))
            )
        elif word.replace(",", ".").replace(".", "", 1).isdigit():
            hit = amount_text == word.replace(",", ".")
        else:
            hit = word in entry.status.lower() or word in row[4].lower()
        if not hit:
            return False
    return True


class JournalScreen(Screen[None]):
    NAME = "journal"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("slash,f", "search", "Search"),
        Binding("p", "reprint", "Receipt / reprint"),
    ]
    DEFAULT_CSS = """
    #journal-search { margin: 0 0 1 0; }
    """

    COLUMNS = ("Time", "Status", "Amount", "Card", "Application", "Auth code", "STAN")

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[tuple[JournalEntry, tuple[str, ...]]] = []
        self.shown: list[JournalEntry] = []
        self.load_error = ""

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="journal-box"):
            yield Static("TODAY'S TRANSACTIONS", id="journal-title")
            yield Input(
                placeholder="Search: last 4 of the card, STAN, amount or status (F or /)",
                id="journal-search",
            )
            yield Static("", id="journal-summary", markup=False)
            yield DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#journal-table", DataTable)
        table.add_columns(*self.COLUMNS)
        self.action_reload()
        table.focus()

    @property
    def query_text(self) -> str:
        return self.query_one("#journal-search", Input).value.strip()

    def action_reload(self) -> None:
        app = cast("PosApp", self.app)
        try:
            self.entries = todays_entries(app.session.journal.entries())
            self.load_error = ""
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            self.entries = []
            self.load_error = f"The journal cannot be read ({type(exc).__name__}); call support."
        self._fill()

    def _fill(self) -> None:
        query = self.query_text
        shown = [(e, row) for e, row in self.entries if not query or matches(e, row, query)]
        self.shown = [e for e, _ in shown]
        table = self.query_one("#journal-table", DataTable)
        table.clear()
        for _, row in shown:
            table.add_row(*row)
        if self.load_error:
            summary = self.load_error
        elif query:
            summary = (
                f"{len(shown)} of {len(self.entries)} transaction(s) match '{query}'. "
                "Enter shows the receipt, Esc goes back."
            )
        else:
            summary = (
                f"{len(self.entries)} transaction(s) today. Enter shows the receipt, Esc goes back."
            )
        self.query_one("#journal-summary", Static).update(summary)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#journal-table", DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#journal-search", Input).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open_receipt(event.cursor_row)

    def action_reprint(self) -> None:
        self._open_receipt(self.query_one("#journal-table", DataTable).cursor_row)

    def _open_receipt(self, index: int) -> None:
        from terminal.tui.screens.receipt import ReceiptScreen, receipt_for_txn

        if not 0 <= index < len(self.shown):
            return
        app = cast("PosApp", self.app)
        receipt, why = receipt_for_txn(app.session, self.shown[index].txn_id)
        if receipt is None:
            self.query_one("#journal-summary", Static).update(why)
            return
        self.app.push_screen(ReceiptScreen(receipt, title="RECEIPT (REPRINT)"))

    def action_back(self) -> None:
        if self.query_one("#journal-search", Input).has_focus and self.query_text:
            self.query_one("#journal-search", Input).value = ""
            return
        self.app.pop_screen()
