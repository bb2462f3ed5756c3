"""After a result: print (ESC/POS to a file or a printer simulator), email, show or skip.

A real card sale (card simulator, embedded ISO 8583 host, soft PIN pad) ends on the result
screen; P prints through python-escpos to ``file:$POS_DATA_DIR/receipts/TXN.bin`` (demo) and
the printer simulator's parser reads the ticket back; a TCP printer simulator with an empty
roll gives the one-sentence paper-out error.
"""

from __future__ import annotations

import pytest

from hardware_sim.printer import EscPosPrinter, TcpPrinter, parse_file
from terminal.config import load_settings
from terminal.journal import contains_pan
from terminal.receipts import escpos_out
from terminal.tui.app import PosApp
from terminal.tui.screens.receipt import EMAIL_NOT_CONFIGURED
from terminal.tui.wiring import TerminalSession
from tests.tui_support import SIZE, choose_card, enter_pin, on, text, type_amount, wait_for


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("POS_PRINTER", raising=False)
    monkeypatch.delenv("POS_RECEIPT_EMAIL", raising=False)
    # Every simulated printer here answers its status requests; a late answer on a loaded
    # machine must not read as "cannot ask" (which prints anyway, past a paper-out).
    monkeypatch.setattr(escpos_out, "STATUS_TIMEOUT", 15.0)


def make_app() -> PosApp:
    return PosApp(TerminalSession(load_settings(None), demo=True))


async def card_sale(pilot, app: PosApp, digits: str = "500") -> None:
    await type_amount(pilot, digits)
    await pilot.press("enter")
    await choose_card(pilot, app, "visa_credit")
    await enter_pin(pilot, app, "1234")
    await wait_for(pilot, lambda: on(app) == "result" and bool(app.screen.query("#headline")))
    assert text(app, "#headline") == "APPROVED"


@pytest.mark.asyncio
async def test_print_email_show_and_skip_after_a_card_sale(tmp_path, monkeypatch):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await card_sale(pilot, app)
        assert "P print, E email, R show, S skip" in text(app, "#result-help")

        await pilot.press("p")
        await wait_for(pilot, lambda: "Receipt printed" in text(app, "#receipt-hint"))
        txn_id = app.screen.txn_id
        assert app.session.journal.entry(txn_id).data["pan_masked"] == "476173******0119"
        printed = tmp_path / "receipts" / f"{txn_id}.bin"
        assert f"file printer: {printed}" in text(app, "#receipt-hint")
        ticket = parse_file(printed).finished[0]
        assert "APPROVED" in ticket.text
        assert "476173******0119" in ticket.text
        assert "5.00 EUR" in ticket.text
        assert not contains_pan(ticket.text)
        kinds = app.session.journal.entry(txn_id).kinds
        assert kinds.index("receipt_print_requested") < kinds.index("receipt_printed")

        await pilot.press("e")
        assert text(app, "#receipt-hint") == EMAIL_NOT_CONFIGURED
        monkeypatch.setenv("POS_RECEIPT_EMAIL", "shop@example.com")
        await pilot.press("e")
        hint = text(app, "#receipt-hint")
        assert "shop@example.com are not sent" in hint and "no mail service" in hint

        await pilot.press("r")
        await wait_for(
            pilot, lambda: on(app) == "receipt" and bool(app.screen.query("#receipt-text"))
        )
        shown = text(app, "#receipt-text")
        assert "476173******0119" in shown and "PIN verified" in shown
        assert "CARDHOLDER COPY" in shown
        assert not contains_pan(app.export_screenshot())
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "result" and bool(app.screen.query("#headline")))

        await pilot.press("s")
        await wait_for(pilot, lambda: on(app) == "sale")


@pytest.mark.asyncio
async def test_printer_out_of_paper_is_one_sentence_and_nothing_is_marked_printed(monkeypatch):
    printer = TcpPrinter(EscPosPrinter(paper=False)).start()
    try:
        monkeypatch.setenv("POS_PRINTER", "tcp:{}:{}".format(*printer.address))
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await card_sale(pilot, app, "250")
            await pilot.press("p")
            await wait_for(pilot, lambda: "paper" in text(app, "#receipt-hint"))
            assert text(app, "#receipt-hint") == (
                "The printer is out of paper: load a new roll, then reprint the receipt."
            )
            kinds = app.session.journal.entry(app.screen.txn_id).kinds
            assert "receipt_print_requested" in kinds
            assert "receipt_printed" not in kinds
            assert on(app) == "result"
    finally:
        printer.stop()


def test_printer_choice_configured_then_environment_then_demo_file(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from terminal.tui.screens.receipt import printer_spec

    demo = SimpleNamespace(demo=True, printer=None)
    assert printer_spec(demo, "t1") == f"file:{tmp_path / 'receipts' / 't1.bin'}"
    monkeypatch.setenv("POS_PRINTER", "tcp:10.0.0.9")
    assert printer_spec(demo, "t1") == "tcp:10.0.0.9"
    assert printer_spec(SimpleNamespace(demo=True, printer="serial:/dev/ttyUSB0"), "t1") == (
        "serial:/dev/ttyUSB0"  # pos run --printer wins
    )
    monkeypatch.delenv("POS_PRINTER")
    assert printer_spec(SimpleNamespace(demo=False, printer=None), "t1") is None
