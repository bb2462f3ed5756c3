"""Drive the cashier's Textual app with the pilot: amount -> card -> (choice/PIN) -> result.

Everything is real except the hardware: the contact card simulator in an in-process reader,
the embedded ISO 8583 host simulator over TLS loopback, the soft PIN pad (TEST-ONLY keys),
and a journal in a temporary POS_DATA_DIR.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from terminal.config import load_settings
from terminal.tui.app import PosApp
from terminal.tui.wiring import TerminalSession

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))


def make_app(**session_kwargs) -> PosApp:
    return PosApp(TerminalSession(load_settings(None), demo=True, **session_kwargs))


def text(app: PosApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def wait_for(pilot, predicate, steps: int = 600) -> None:
    """Let the worker thread and the UI run until ``predicate()`` holds."""
    for _ in range(steps):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"screen never got there; now on {pilot.app.screen.id!r}")


async def type_amount(pilot, digits: str) -> None:
    for ch in digits:
        await pilot.press(ch)


async def enter_pin(pilot, app: PosApp, pin: str) -> None:
    await wait_for(pilot, lambda: app.screen.id == "pin-entry")
    assert "DEMO - insecure keyboard PIN entry" in text(app, "#pin-warning")
    for ch in pin:
        await pilot.press(ch)
    await pilot.press("enter")


async def choose_card(pilot, app: PosApp, profile: str) -> None:
    await wait_for(pilot, lambda: app.screen.id == "card")
    index = [s.name for s in app.screen.sources].index(profile)
    await pilot.press(str(index + 1) if index < 9 else "0")


@pytest.mark.asyncio
async def test_amount_is_typed_in_minor_units_with_live_display():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.id == "sale")
        await type_amount(pilot, "0012")
        assert text(app, "#amount-text") == "0.12 EUR"
        await type_amount(pilot, "34")
        assert text(app, "#amount-text") == "12.34 EUR"
        await pilot.press("backspace")
        assert text(app, "#amount-text") == "1.23 EUR"
        await pilot.press("escape")
        assert text(app, "#amount-text") == "0.00 EUR"
        await pilot.press("enter")
        assert app.screen.id == "sale"
        assert "above zero" in text(app, "#sale-hint")


@pytest.mark.asyncio
async def test_visa_credit_sale_is_approved_with_masked_pan_and_journaled():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "500")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await enter_pin(pilot, app, "1234")  # offline enciphered PIN (CVM 44 03)
        await wait_for(pilot, lambda: app.screen.id == "result")
        assert text(app, "#headline") == "APPROVED"
        assert text(app, "#result-amount") == "5.00 EUR"
        details = text(app, "#details")
        assert "476173******0119" in details
        assert "VISA CREDIT" in details
        assert "000001" in details  # the host simulator's first auth code
        assert "4761739001010119" not in details
        # the journal screen lists it
        await pilot.press("j")
        await wait_for(
            pilot,
            lambda: (
                app.screen.id is None
                or isinstance(app.screen.query(DataTable).first(None), DataTable)
            ),
        )
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert row[1] == "approved" and row[2] == "5.00 EUR" and row[3] == "476173******0119"
        await pilot.press("escape")
        await pilot.press("enter")  # new sale
        await wait_for(pilot, lambda: app.screen.id == "sale")
        assert text(app, "#amount-text") == "0.00 EUR"


@pytest.mark.asyncio
async def test_host_decline_is_shown_in_plain_words():
    # hardware_sim/host/rules.json: an amount ending in 51 is declined "insufficient funds".
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "351")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await enter_pin(pilot, app, "1234")
        await wait_for(pilot, lambda: app.screen.id == "result")
        assert text(app, "#headline") == "DECLINED"
        assert text(app, "#reason").startswith("Insufficient funds")
        assert "476173******0119" in text(app, "#details")
        assert "51" in text(app, "#details")
