"""Today's transactions from the journal: time, status, amount, masked PAN, auth code."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

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
    """One row per transaction started today (local time), newest first."""
    from terminal.money import currency

    day = today or datetime.now().astimezone().date()
    rows: list[tuple[datetime, tuple[str, ...]]] = []
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
                (
                    when.strftime("%H:%M:%S"),
                    entry.status,
                    amount,
                    str(data.get("pan_masked", "") or "-"),
                    str(data.get("label", "") or "-"),
                    str(data.get("auth_code", "") or "-"),
                ),
            )
        )
    rows.sort(key=lambda r: r[0], reverse=True)
    return [row for _, row in rows]


class JournalScreen(Screen[None]):
    NAME = "journal"  # what the cashier is looking at (tests, logs)
    BINDINGS = [Binding("escape", "back", "Back"), Binding("r", "reload", "Reload")]

    COLUMNS = ("Time", "Status", "Amount", "Card", "Application", "Auth code")

    def __init__(self) -> None:
        super().__init__()

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="journal-box"):
            yield Static("TODAY'S TRANSACTIONS", id="journal-title")
            yield Static("", id="journal-summary", markup=False)
            yield DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#journal-table", DataTable)
        table.add_columns(*self.COLUMNS)
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        app = cast("PosApp", self.app)
        try:
            rows = todays_rows(app.session.journal.entries())
            summary = f"{len(rows)} transaction(s) today. Esc goes back."
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            rows = []
            summary = f"The journal cannot be read ({type(exc).__name__}); call support."
        table = self.query_one("#journal-table", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row)
        self.query_one("#journal-summary", Static).update(summary)

    def action_back(self) -> None:
        self.app.pop_screen()
