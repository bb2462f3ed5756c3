"""The journal screen's search (last 4 of the card, STAN, amount, status) and reprint.

The journal is a real SQLite journal in a temporary POS_DATA_DIR, written with the same
events the payment service writes; the reprint goes through python-escpos to a file and is
read back by the printer simulator's parser.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from hardware_sim.printer import parse_file
from terminal.config import load_settings
from terminal.journal import Journal, JournalEntry
from terminal.tui.app import PosApp
from terminal.tui.screens.journal import matches
from terminal.tui.wiring import TerminalSession
from tests.tui_support import SIZE, on, text, wait_for


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("POS_PRINTER", raising=False)


def sale(journal: Journal, amount: int, outcome: str, pan: str, stan: str, **extra) -> str:
    txn = journal.new_transaction_id()
    journal.append(txn, "started", amount=amount, other_amount=0, currency="EUR",
                   type="purchase", interface="contact")  # fmt: skip
    journal.append(txn, "completed", outcome=outcome, pan_masked=pan, stan=stan,
                   label="VISA CREDIT", aid="A0000000031010", auth_code=extra.get("auth", ""),
                   cvm="PIN verified", tvr="0000008000", tsi="E800",
                   reason="" if outcome == "approved" else "declined by the card issuer")  # fmt: skip
    return txn


def seed(journal: Journal) -> dict[str, str]:
    return {
        "visa": sale(journal, 1234, "approved", "476173******0119", "000017", auth="000001"),
        "mc": sale(journal, 500, "declined", "541333******0011", "000018"),
        "other": sale(journal, 999, "approved", "476173******0127", "000019", auth="000002"),
    }


def shown_ids(app: PosApp) -> list[str]:
    return [e.txn_id for e in app.screen.shown]


@pytest.mark.asyncio
async def test_search_by_last_four_stan_amount_and_status_then_reprint(tmp_path):
    app = PosApp(TerminalSession(load_settings(None), demo=True))
    async with app.run_test(size=SIZE) as pilot:
        ids = seed(app.session.journal)
        await pilot.press("j")
        await wait_for(
            pilot, lambda: on(app) == "journal" and bool(app.screen.query("#journal-table"))
        )
        assert shown_ids(app) == [ids["other"], ids["mc"], ids["visa"]]
        assert app.screen.query_one(DataTable).get_row_at(2)[-1] == "000017"

        search = app.screen.query_one("#journal-search", Input)
        await pilot.press("slash")
        assert search.has_focus
        for query, expected in [
            ("0119", ["visa"]),
            ("18", ["mc"]),
            ("000019", ["other"]),
            ("12.34", ["visa"]),
            ("5,00", ["mc"]),
            ("declined", ["mc"]),
            ("approved", ["other", "visa"]),
            ("approved 0127", ["other"]),
            ("0000", []),
        ]:
            search.value = query
            await wait_for(pilot, lambda e=expected: shown_ids(app) == [ids[k] for k in e])
        assert "0 of 3 transaction(s) match '0000'" in text(app, "#journal-summary")

        await pilot.press("escape")  # first Esc clears the search
        await wait_for(pilot, lambda: len(shown_ids(app)) == 3)
        search.value = "0119"
        await wait_for(pilot, lambda: shown_ids(app) == [ids["visa"]])
        await pilot.press("enter")  # to the table
        await pilot.press("enter")  # open the receipt
        await wait_for(
            pilot, lambda: on(app) == "receipt" and bool(app.screen.query("#receipt-text"))
        )
        assert text(app, "#receipt-title") == "RECEIPT (REPRINT)"
        shown = text(app, "#receipt-text")
        assert "476173******0119" in shown and "12.34 EUR" in shown and "000017" in shown

        await pilot.press("p")
        await wait_for(pilot, lambda: "Receipt printed" in text(app, "#receipt-hint"))
        ticket = parse_file(tmp_path / "receipts" / f"{ids['visa']}.bin").finished[0]
        assert "476173******0119" in ticket.text and "APPROVED" in ticket.text
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: on(app) == "journal" and bool(app.screen.query("#journal-table"))
        )
        await pilot.press("escape")
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "sale")


@pytest.mark.asyncio
async def test_an_unfinished_transaction_has_no_receipt_to_reprint():
    app = PosApp(TerminalSession(load_settings(None), demo=True))
    async with app.run_test(size=SIZE) as pilot:
        journal = app.session.journal
        txn = journal.new_transaction_id()
        journal.append(txn, "started", amount=100, currency="EUR", type="purchase")
        await pilot.press("j")
        await wait_for(
            pilot, lambda: on(app) == "journal" and bool(app.screen.query("#journal-table"))
        )
        await pilot.press("p")
        assert on(app) == "journal"
        assert "has not completed (incomplete)" in text(app, "#journal-summary")


def test_matches_is_every_word_and_never_a_partial_stan():
    entry = JournalEntry(
        "t1", "2026-01-01T12:00:00+00:00",
        {"amount": 1234, "pan_masked": "476173******0119", "stan": "000123", "label": "VISA"},
        ["completed"],
    )  # fmt: skip
    entry.data["outcome"] = "approved"
    row = ("12:00:00", "approved", "12.34 EUR", "476173******0119", "VISA", "-", "000123")
    assert matches(entry, row, "123")  # STAN without zeros
    assert matches(entry, row, "1234")  # amount in minor units
    assert matches(entry, row, "119 visa")
    assert not matches(entry, row, "12")  # neither the last digits, the STAN nor the amount
    assert not matches(entry, row, "declined")
