"""After-sale operations on the cashier screen: refund, void, pre-authorisation, completion.

The money logic is the headless one (``docs/operations.md``), called as is:

* refund - amount -> supervisor PIN -> the sale's card screen and payment worker with
  transaction type 20 (EMV Book 3 9.3; ISO 8583 DE 3 ``200000``) and the supervisor approval;
* void - today's approvals from the journal -> pick -> supervisor PIN ->
  :func:`terminal.transactions.void` (0400, journal first);
* pre-authorisation - amount -> card (``kind="preauth"``, ISO 8583 0100);
* completion - an open pre-authorisation -> amount (at most the authorised one) ->
  :func:`terminal.transactions.complete` (0220 advice).

Host work runs in a worker thread holding the session's payment lock, so it never overlaps a
card payment on the one acquirer client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.events import Key
from textual.screen import Screen
from textual.widgets import DataTable, Digits, Footer, Static

from emv.kernel.context import TransactionType
from terminal.journal import JournalEntry
from terminal.money import ASCII_DIGITS, MAX_AMOUNT_MINOR
from terminal.operators import Approval
from terminal.transactions import VOIDABLE_TYPES
from terminal.tui.screens.card import CardScreen
from terminal.tui.screens.supervisor import SupervisorPinModal
from terminal.tui.screens.title_bar import TitleBar

if TYPE_CHECKING:
    from terminal.tui.app import PosApp

NO_HOST = "This needs the acquirer host, and none is configured; set [host] address and restart."


def one_sentence(text: str) -> str:
    text = " ".join(text.split())
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def run_on_host(
    screen: Screen[Any],
    work: Callable[[Any, Any, Any], Any],
    done: Callable[[Any], None],
    failed: Callable[[str], None],
) -> None:
    """Run ``work(journal, batch, client)`` off the UI thread; ``done``/``failed`` on it."""
    app = cast("PosApp", screen.app)

    def worker() -> None:
        from emv.ports import OnlineUnavailable
        from terminal.errors import UserFacingError

        try:
            with app.session.payment_busy:
                service = app.session.service()
                client = service.authoriser
                if client is None:
                    raise UserFacingError(NO_HOST)
                result = work(app.session.journal, service.batch, client)
        except OnlineUnavailable as exc:
            sentence = (
                f"The host could not be reached ({exc}); check the network and try again "
                "(anything already queued is retried automatically)."
            )
            app.invoke_later(failed, sentence)
            return
        except UserFacingError as exc:
            app.invoke_later(failed, one_sentence(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - one sentence for the cashier, not a traceback
            sentence = (
                f"The terminal hit an internal error ({type(exc).__name__}); check the journal "
                "(key J) and call support."
            )
            app.invoke_later(failed, sentence)
            return
        app.invoke_later(done, result)

    screen.run_worker(worker, thread=True, exclusive=True, group="operation")


def _amount(entry: JournalEntry) -> str:
    from terminal.money import currency

    data = entry.data
    try:
        return currency(str(data.get("currency", ""))).format(int(data.get("amount", 0)))
    except Exception:  # noqa: BLE001 - a strange row still shows, just unformatted
        return f"{data.get('amount', '?')} {data.get('currency', '')}"


def _time(entry: JournalEntry) -> str:
    try:
        return datetime.fromisoformat(entry.started_at).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return "-"


def voidable_today(entries: list[JournalEntry], today: str | None = None) -> list[JournalEntry]:
    """Today's (UTC date, as :func:`terminal.transactions.find_by_stan`) approvals that a
    void would accept, newest first."""
    day = today or datetime.now(UTC).date().isoformat()
    out = [
        e
        for e in entries
        if e.started_at.startswith(day)
        and e.status == "approved"
        and e.data.get("type") in VOIDABLE_TYPES
        and str(e.data.get("stan", "")).isdigit()
        and "void_requested" not in e.kinds
        and "preauth_completed" not in e.kinds
    ]
    return sorted(out, key=lambda e: e.started_at, reverse=True)


def open_preauths(entries: list[JournalEntry]) -> list[JournalEntry]:
    """Approved pre-authorisations not yet completed or voided, newest first."""
    out = [
        e
        for e in entries
        if e.data.get("type") == "preauth"
        and e.status == "approved"
        and "preauth_completed" not in e.kinds
        and "void_requested" not in e.kinds
    ]
    return sorted(out, key=lambda e: e.started_at, reverse=True)


# -- result -------------------------------------------------------------------------------
class OperationResultScreen(Screen[None]):
    """The end of a void or completion: a large headline and one sentence."""

    NAME = "op-result"  # what the cashier is looking at (tests, logs)
    BINDINGS = [Binding("enter", "done", "Back to sale")]

    def __init__(self, headline: str, sentence: str, *, ok: bool, details: str = "") -> None:
        super().__init__()
        self.headline = headline
        self.sentence = sentence
        self.ok = ok
        self.details = details

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="op-result-box"):
            yield Static(
                self.headline, id="headline", classes="approved" if self.ok else "declined"
            )
            yield Static(self.sentence, id="reason", markup=False)
            if self.details:
                yield Static(self.details, id="details", markup=False)
            yield Static("Press Enter to go back to the sale screen.", id="result-help")
        yield Footer()

    def action_done(self) -> None:
        self.app.pop_screen()


# -- amount entry -------------------------------------------------------------------------
class OperationAmountScreen(Screen[None]):
    """Amount in minor units (as the sale screen) for a refund, pre-auth or completion."""

    NAME = "op-amount"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("enter", "confirm", "Confirm amount"),
        Binding("backspace", "delete", "Delete digit"),
        Binding("escape", "back", "Back"),
    ]
    TITLES = {"refund": "REFUND", "preauth": "PRE-AUTHORISATION", "completion": "COMPLETION"}

    def __init__(self, operation: str, *, preauth: JournalEntry | None = None) -> None:
        super().__init__()
        self.operation = operation
        self.preauth = preauth
        self.digits = str(int(preauth.data.get("amount", 0))) if preauth else ""
        self.busy = False

    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", self.app)

    @property
    def amount_minor(self) -> int:
        return int(self.digits or "0")

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="op-box"):
            yield Static(self.TITLES[self.operation], id="op-title")
            help_text = {
                "refund": "Type the amount to give back (in minor units), then Enter. "
                "A supervisor PIN is needed next.",
                "preauth": "Type the amount to reserve on the card (in minor units), then Enter.",
                "completion": "The authorised amount is filled in; change it if the final "
                "amount is lower (it cannot be higher), then Enter.",
            }[self.operation]
            yield Static(help_text, id="op-help")
            if self.preauth is not None:
                yield Static(
                    f"Pre-authorisation {_amount(self.preauth)}, card "
                    f"{self.preauth.data.get('pan_masked', '-')}, auth code "
                    f"{self.preauth.data.get('auth_code', '-')}",
                    id="op-preauth",
                    markup=False,
                )
            with Center():
                yield Digits("0", id="op-digits")
            yield Static("", id="op-amount-text")
            yield Static("", id="op-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        formatted = self.pos_app.currency.format(self.amount_minor)
        self.query_one("#op-digits", Digits).update(formatted.rsplit(" ", 1)[0])
        self.query_one("#op-amount-text", Static).update(formatted)

    def _hint(self, text: str) -> None:
        self.query_one("#op-hint", Static).update(text)

    def on_key(self, event: Key) -> None:
        if event.character and event.character in ASCII_DIGITS and not self.busy:
            event.stop()
            if int(self.digits + event.character) > MAX_AMOUNT_MINOR:
                self._hint("That is the largest amount the terminal can take.")
                return
            if self.digits or event.character != "0":
                self.digits += event.character
            self._hint("")
            self._refresh()

    def action_delete(self) -> None:
        if not self.busy:
            self.digits = self.digits[:-1]
            self._refresh()

    def action_back(self) -> None:
        if not self.busy:
            self.app.pop_screen()

    def action_confirm(self) -> None:
        if self.busy:
            return
        if self.amount_minor == 0:
            self._hint("Type an amount above zero first.")
            return
        amount = self.pos_app.currency.format(self.amount_minor)
        if self.operation == "refund":
            self.app.push_screen(
                SupervisorPinModal("refund", f"Refund {amount} to a card"), self._refund_approved
            )
        elif self.operation == "preauth":
            self.app.switch_screen(
                OperationCardScreen(
                    self.amount_minor, kind="preauth", heading="PRE-AUTHORISATION", approval=None
                )
            )
        else:
            self._complete()

    def _refund_approved(self, approval: Approval | None) -> None:
        if approval is None:
            self._hint("Refund cancelled: no supervisor PIN was given.")
            return
        self.app.switch_screen(
            OperationCardScreen(
                self.amount_minor,
                transaction_type=TransactionType.REFUND,
                kind="",
                heading="REFUND",
                approval=approval,
            )
        )

    def _complete(self) -> None:
        from terminal.transactions import complete

        assert self.preauth is not None  # noqa: S101 - completion screens always have one
        preauth_id, amount = self.preauth.txn_id, self.amount_minor
        self.busy = True
        self._hint("")
        self.query_one("#op-help", Static).update("Sending the completion to the host ...")
        run_on_host(
            self,
            lambda journal, batch, client: complete(journal, batch, client, preauth_id, amount),
            self._completed,
            self._failed,
        )

    def _completed(self, done: Any) -> None:
        from terminal.money import currency

        amount = currency(done.currency).format(done.amount_minor) if done.currency else ""
        state = "sent to the host" if done.advice == "sent" else "queued for the host"
        sentence = (
            f"Pre-authorisation completed for {amount}; the advice is {state} (STAN {done.stan})."
        )
        self.app.switch_screen(OperationResultScreen("COMPLETED", sentence, ok=True))

    def _failed(self, sentence: str) -> None:
        self.busy = False
        self.query_one("#op-help", Static).update("Nothing was completed.")
        self._hint(sentence)


class OperationCardScreen(CardScreen):
    """The sale's card screen, for a refund or pre-authorisation: chip cards only (the
    contact kernel runs these; ``pos refund`` and ``pos preauth`` refuse contactless too)."""

    def __init__(
        self,
        amount_minor: int,
        *,
        transaction_type: TransactionType = TransactionType.PURCHASE,
        kind: str,
        heading: str,
        approval: Approval | None,
    ) -> None:
        super().__init__(amount_minor)
        self.transaction_type = transaction_type
        self.kind = kind
        self.heading = heading
        self.approval = approval

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#card-title", Static).update(f"{self.heading}: INSERT THE CARD")

    def _start(self, index: int) -> None:
        from terminal.tui.screens.payment import PaymentScreen

        source = self.sources[index]
        if source.contactless:
            self.query_one("#card-detail", Static).update(
                f"A {self.heading.lower()} runs on the chip: insert the card (number keys), "
                "do not tap it."
            )
            return
        self.app.switch_screen(
            PaymentScreen(
                self.amount_minor,
                source,
                transaction_type=self.transaction_type,
                kind=self.kind,
                approval=self.approval,
                heading=self.heading,
            )
        )


# -- void -----------------------------------------------------------------------------------
class VoidScreen(Screen[None]):
    """Today's approvals; Enter on one asks the supervisor PIN, then sends the void."""

    NAME = "void"  # what the cashier is looking at (tests, logs)
    BINDINGS = [Binding("escape", "back", "Back")]
    COLUMNS = ("Time", "Type", "Amount", "Card", "STAN", "Auth code")

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[JournalEntry] = []
        self.busy = False

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="void-box"):
            yield Static("VOID A TRANSACTION", id="void-title")
            yield Static("", id="void-summary", markup=False)
            yield DataTable(id="void-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="void-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#void-table", DataTable)
        table.add_columns(*self.COLUMNS)
        try:
            self.entries = voidable_today(cast("PosApp", self.app).session.journal.entries())
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            self._summary(f"The journal cannot be read ({type(exc).__name__}); call support.")
            return
        for entry in self.entries:
            data = entry.data
            table.add_row(
                _time(entry),
                str(data.get("type", "")),
                _amount(entry),
                str(data.get("pan_masked", "") or "-"),
                str(data.get("stan", "")),
                str(data.get("auth_code", "") or "-"),
            )
        if self.entries:
            self._summary("Pick the approval to void (arrows), press Enter; Esc goes back.")
        else:
            self._summary("No approval from today can be voided; press Esc to go back.")
        table.focus()

    def _summary(self, text: str) -> None:
        self.query_one("#void-summary", Static).update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.busy or not 0 <= event.cursor_row < len(self.entries):
            return
        entry = self.entries[event.cursor_row]
        what = f"Void {_amount(entry)}, STAN {entry.data.get('stan')}"
        self.app.push_screen(
            SupervisorPinModal("void", what), lambda approval: self._approved(entry, approval)
        )

    def _approved(self, entry: JournalEntry, approval: Approval | None) -> None:
        from terminal.transactions import void

        if approval is None:
            self.query_one("#void-hint", Static).update("Nothing was voided (no supervisor PIN).")
            return
        self.busy = True
        stan = str(entry.data.get("stan"))
        self.query_one("#void-hint", Static).update(f"Voiding STAN {stan} with the host ...")
        run_on_host(
            self,
            lambda journal, batch, client: void(journal, batch, client, stan, approval),
            self._voided,
            self._failed,
        )

    def _voided(self, done: Any) -> None:
        from terminal.money import currency

        amount = currency(done.currency).format(done.amount_minor) if done.currency else ""
        if done.status == "voided":
            screen = OperationResultScreen(
                "VOIDED",
                f"{amount} (STAN {done.stan}) is voided and the host has confirmed it.",
                ok=True,
            )
        else:
            screen = OperationResultScreen(
                "VOID PENDING",
                f"{amount} (STAN {done.stan}) is voided here, but the host has not answered yet; "
                "the reversal is retried automatically - check the host link (key D).",
                ok=False,
            )
        self.app.switch_screen(screen)

    def _failed(self, sentence: str) -> None:
        self.busy = False
        self.query_one("#void-hint", Static).update(sentence)

    def action_back(self) -> None:
        if not self.busy:
            self.app.pop_screen()


# -- pre-authorisations ---------------------------------------------------------------------
class PreauthScreen(Screen[None]):
    """Open pre-authorisations: N starts a new one, Enter completes the highlighted one."""

    NAME = "preauth"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("n", "new", "New pre-authorisation"),
        Binding("escape", "back", "Back"),
    ]
    COLUMNS = ("Time", "Amount", "Card", "Auth code", "Transaction")

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[JournalEntry] = []

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="preauth-box"):
            yield Static("PRE-AUTHORISATIONS", id="preauth-title")
            yield Static("", id="preauth-summary", markup=False)
            yield DataTable(id="preauth-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#preauth-table", DataTable)
        table.add_columns(*self.COLUMNS)
        summary = self.query_one("#preauth-summary", Static)
        try:
            self.entries = open_preauths(cast("PosApp", self.app).session.journal.entries())
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            summary.update(f"The journal cannot be read ({type(exc).__name__}); call support.")
            return
        for entry in self.entries:
            table.add_row(
                _time(entry),
                _amount(entry),
                str(entry.data.get("pan_masked", "") or "-"),
                str(entry.data.get("auth_code", "") or "-"),
                entry.txn_id,
            )
        if self.entries:
            summary.update(
                f"{len(self.entries)} open. Enter completes the highlighted one; "
                "N starts a new pre-authorisation; Esc goes back."
            )
        else:
            summary.update("No open pre-authorisation. Press N to start one, Esc to go back.")
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.entries):
            entry = self.entries[event.cursor_row]
            self.app.switch_screen(OperationAmountScreen("completion", preauth=entry))

    def action_new(self) -> None:
        self.app.switch_screen(OperationAmountScreen("preauth"))

    def action_back(self) -> None:
        self.app.pop_screen()
