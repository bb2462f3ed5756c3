"""End of day on the cashier screen: the open batch's totals, then "close batch".

Totals per currency and card scheme come from the records that count
(:func:`terminal.settlement.settled_records`); C runs
:func:`terminal.settlement.settle_batch` (ISO 8583:1987 0500/0510 per currency, 0320 batch
upload when the host disagrees) and shows the host's result and the printable report.
"""

from __future__ import annotations

from typing import Any, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from terminal.errors import UserFacingError
from terminal.tui.screens.operations import one_sentence, run_on_host
from terminal.tui.screens.title_bar import TitleBar


def open_batch_text(journal: Any, batch: Any, client: Any = None) -> str:
    """The open batch, per currency and scheme, before it is closed."""
    from terminal.money import currency
    from terminal.settlement import scheme_totals, settled_records, totals_by_currency

    records = settled_records(journal, batch)
    lines = [f"Open batch {batch.number:06d}: {len(records)} transaction(s) to settle"]
    for s in scheme_totals(records):
        cur = currency(s.currency)
        lines.append(
            f"  {s.currency} {s.scheme:<12} sales {s.sales_count:>3} "
            f"{cur.format(s.sales_amount):>14}   refunds {s.refunds_count:>3} "
            f"{cur.format(s.refunds_amount):>14}"
        )
    for alpha, row in sorted(totals_by_currency(records).items()):
        cur = currency(alpha)
        net = row["debits_amount"] - row["credits_amount"]
        lines.append(f"  {alpha} net {cur.format(net)}")
    return "\n".join(lines)


def print_report(session: Any, report: Any) -> str:
    """Print the settlement report on the receipt printer; one sentence for the cashier."""
    from terminal.receipts.escpos_out import PrinterOutOfPaper, open_printer, paper_status
    from terminal.tui.screens.receipt import printer_spec

    spec = printer_spec(session, f"settlement-{report.batch_number:06d}")
    if spec is None:
        return (
            "No receipt printer is configured (pos run --printer SPEC); the report stays on "
            "this screen."
        )
    printer, kind = open_printer(spec)
    try:
        if paper_status(printer, kind) == 0:
            raise PrinterOutOfPaper(
                "the printer is out of paper: load a new roll, then press P again"
            )
        printer.text(report.text() + "\n")
        printer.cut()
    finally:
        printer.close()
    return f"Settlement report printed on the {kind} printer."


class SettlementScreen(Screen[None]):
    NAME = "settlement"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("c", "close_batch", "Close batch"),
        Binding("p", "print_report", "Print report"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.report: Any = None  # terminal.settlement.SettlementReport once closed

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="settlement-box"):
            yield Static("SETTLEMENT", id="settlement-title")
            yield Static("Reading the open batch ...", id="settlement-totals", markup=False)
            yield Static("", id="settlement-result", markup=False)
            with VerticalScroll(id="settlement-scroll"):
                yield Static("", id="settlement-report", markup=False)
            yield Static(
                "C closes the batch with the host, P prints the report, Esc goes back.",
                id="settlement-help",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.busy = True
        run_on_host(self, open_batch_text, self._show_totals, self._failed)

    def _show_totals(self, text: str) -> None:
        self.busy = False
        self.query_one("#settlement-totals", Static).update(text)

    def action_close_batch(self) -> None:
        from terminal.settlement import settle_batch

        if self.busy:
            return
        if self.report is not None and self.report.closed:
            self._result("The batch is already closed; press Esc to go back.", ok=True)
            return
        self.busy = True
        self._result("Closing the batch with the host ...", ok=True)
        run_on_host(
            self,
            lambda journal, batch, client: settle_batch(journal, batch, client, client.clock.now()),
            self._settled,
            self._failed,
        )

    def action_print_report(self) -> None:
        if self.busy:
            return
        if self.report is None:
            self._result("Close the batch first (C); then P prints its report.", ok=False)
            return
        self.busy = True
        session, report, app = cast(Any, self.app).session, self.report, self.app

        def worker() -> None:
            try:
                sentence, ok = print_report(session, report), True
            except UserFacingError as exc:
                sentence, ok = one_sentence(str(exc)), False
            except Exception as exc:  # noqa: BLE001 - escpos and OS errors: one sentence
                sentence = f"The printer failed ({type(exc).__name__}); check its cable and power."
                ok = False
            cast(Any, app).invoke_later(self._printed, sentence, ok)

        self.run_worker(worker, thread=True, exclusive=True, group="print")

    def _printed(self, sentence: str, ok: bool) -> None:
        self.busy = False
        self._result(sentence, ok=ok)

    def _settled(self, report: Any) -> None:
        self.busy = False
        self.report = report
        self.query_one("#settlement-report", Static).update(report.text())
        if report.closed and report.next_batch is not None:
            self.query_one("#settlement-totals", Static).update(
                f"Batch {report.batch_number:06d} is closed; batch {report.next_batch:06d} "
                "is open for new sales."
            )
        self._result(report.sentence(), ok=report.closed)

    def _failed(self, sentence: str) -> None:
        self.busy = False
        totals = self.query_one("#settlement-totals", Static)
        if str(totals.content).endswith("..."):
            totals.update("The open batch could not be read.")
        self._result(sentence, ok=False)

    def _result(self, text: str, *, ok: bool) -> None:
        result = self.query_one("#settlement-result", Static)
        result.update(text)
        result.set_class(ok, "good")
        result.set_class(not ok, "bad")

    def action_back(self) -> None:
        if not self.busy:
            cast(Any, self.app).pop_screen()
