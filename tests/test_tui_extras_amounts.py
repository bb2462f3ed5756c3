"""Tip and cashback on the amount screen: a second amount line toggled with T or C.

Cashback runs as transaction type cashback (9C 09) with Amount, Other (9F03) through the real
kernel and host; it is offered only when 9F40 byte 1 bit 5 (cashback) is set (EMV Book 4
Annex A3).  Tips are added to the amount authorised, when POS_TIPS=1 enables them.
"""

from __future__ import annotations

import pytest

from terminal.config import load_settings
from terminal.tui.app import PosApp
from terminal.tui.wiring import TerminalSession
from tests.tui_support import SIZE, choose_card, enter_pin, on, text, type_amount, wait_for


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("POS_TIPS", raising=False)


def make_app(config: str | None = None) -> PosApp:
    return PosApp(TerminalSession(load_settings(config), demo=True))


@pytest.mark.asyncio
async def test_cashback_line_runs_a_cashback_transaction_with_other_amount():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "1000")
        await pilot.press("c")
        await type_amount(pilot, "2000")
        assert text(app, "#amount-text") == "10.00 EUR"
        assert text(app, "#extra-line") == "▶ Cashback: 20.00 EUR   Total: 30.00 EUR"
        await pilot.press("up")  # back to the amount line
        await pilot.press("backspace")
        assert text(app, "#amount-text") == "▶ 1.00 EUR"
        assert text(app, "#extra-line") == "Cashback: 20.00 EUR   Total: 21.00 EUR"
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "card" and bool(app.screen.query("#card-amount")))
        assert text(app, "#card-amount") == "21.00 EUR"
        await choose_card(pilot, app, "visa_credit")
        await enter_pin(pilot, app, "1234")
        await wait_for(pilot, lambda: on(app) == "result" and bool(app.screen.query("#headline")))
        entries = app.session.journal.entries()
        data = entries[-1].data
        assert (data["type"], data["amount"], data["other_amount"]) == ("cashback", 100, 2000)
        assert text(app, "#result-amount") == "1.00 EUR + cashback 20.00 EUR = 21.00 EUR"


@pytest.mark.asyncio
async def test_pressing_c_again_removes_the_cashback_line():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "500")
        await pilot.press("c")
        await type_amount(pilot, "100")
        await pilot.press("c")
        assert text(app, "#extra-line") == ""
        assert text(app, "#amount-text") == "5.00 EUR"
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "card" and bool(app.screen.query("#card-amount")))
        assert app.screen.other_amount_minor == 0 and app.screen.amount_minor == 500


@pytest.mark.asyncio
async def test_tip_is_added_to_the_amount_when_tips_are_enabled(monkeypatch):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "1000")
        await pilot.press("t")
        assert text(app, "#sale-hint") == "Tips are not enabled in this terminal's configuration."
        assert text(app, "#extra-line") == ""
        monkeypatch.setenv("POS_TIPS", "1")
        await pilot.press("t")
        await type_amount(pilot, "150")
        assert text(app, "#extra-line") == "▶ Tip: 1.50 EUR   Total: 11.50 EUR"
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "card" and bool(app.screen.query("#card-amount")))
        assert text(app, "#card-amount") == "11.50 EUR"
        assert app.screen.amount_minor == 1150 and app.screen.other_amount_minor == 0


@pytest.mark.asyncio
async def test_no_cashback_when_9f40_does_not_offer_it(tmp_path):
    config = tmp_path / "pos.toml"
    config.write_text('[terminal]\nadditional_capabilities = "E000F0A001"\n')
    app = make_app(str(config))
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "1000")
        await pilot.press("c")
        assert "Cashback is not enabled" in text(app, "#sale-hint")
        assert text(app, "#extra-line") == ""


@pytest.mark.asyncio
async def test_amount_stops_at_what_tag_81_can_carry_cashback_included():
    """Amount, Authorised (Binary), tag 81, is 4 bytes: 42,949,672.95 EUR at most, total."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "4294967295")
        assert text(app, "#amount-text") == "42,949,672.95 EUR"
        await type_amount(pilot, "0")  # one digit more would not fit: refused with a hint
        assert text(app, "#amount-text") == "42,949,672.95 EUR"
        assert text(app, "#sale-hint") == "That is the largest amount the terminal can take."
        await pilot.press("backspace")  # 4,294,967.29 EUR
        await pilot.press("c")
        await type_amount(pilot, "3865470566")  # cashback up to the cap exactly
        await type_amount(pilot, "1")  # refused: the total would not fit
        assert text(app, "#extra-line") == (
            "▶ Cashback: 38,654,705.66 EUR   Total: 42,949,672.95 EUR"
        )
        assert text(app, "#sale-hint") == "That is the largest amount the terminal can take."
