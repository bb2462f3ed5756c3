"""Drive the cashier's Textual app with the pilot: amount -> card -> (choice/PIN) -> result.

Everything is real except the hardware: the contact card simulator in an in-process reader,
the embedded ISO 8583 host simulator over TLS loopback, the soft PIN pad (TEST-ONLY keys),
and a journal in a temporary POS_DATA_DIR.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from emv.kernel.result import mask_pan
from hardware_sim.card.profile import raw_profile
from terminal.config import load_settings
from terminal.journal import contains_pan
from terminal.tui.app import PosApp
from terminal.tui.wiring import TerminalSession
from tests.net_support import refusing_tcp_port
from tests.tui_support import (
    SIZE,
    choose_card,
    enter_pin,
    on,
    tap_card,
    text,
    type_amount,
    wait_for,
)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))


def make_app(**session_kwargs) -> PosApp:
    return PosApp(TerminalSession(load_settings(None), demo=True, **session_kwargs))


@pytest.mark.asyncio
async def test_amount_is_typed_in_minor_units_with_live_display():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: on(app) == "sale")
        await type_amount(pilot, "0012")
        assert text(app, "#amount-text") == "0.12 EUR"
        await type_amount(pilot, "34")
        assert text(app, "#amount-text") == "12.34 EUR"
        await pilot.press("backspace")
        assert text(app, "#amount-text") == "1.23 EUR"
        await pilot.press("escape")
        assert text(app, "#amount-text") == "0.00 EUR"
        await pilot.press("enter")
        assert on(app) == "sale"
        assert "above zero" in text(app, "#sale-hint")


@pytest.mark.asyncio
async def test_visa_credit_sale_is_approved_with_masked_pan_and_journaled():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "500")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await enter_pin(pilot, app, "1234")  # offline enciphered PIN (CVM 44 03)
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"
        assert text(app, "#result-amount") == "5.00 EUR"
        details = text(app, "#details")
        assert "476173******0119" in details
        assert "VISA CREDIT" in details
        assert "000001" in details  # the host simulator's first auth code
        assert "4761739001010119" not in details
        assert not contains_pan(app.export_screenshot())  # no full PAN anywhere on screen
        # the journal screen lists it
        await pilot.press("j")
        await wait_for(
            pilot,
            lambda: (
                on(app) is None or isinstance(app.screen.query(DataTable).first(None), DataTable)
            ),
        )
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert row[1] == "approved" and row[2] == "5.00 EUR" and row[3] == "476173******0119"
        assert not contains_pan(app.export_screenshot())
        await pilot.press("escape")
        await pilot.press("enter")  # new sale
        await wait_for(pilot, lambda: on(app) == "sale")
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
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "DECLINED"
        assert text(app, "#reason").startswith("Insufficient funds")
        assert "476173******0119" in text(app, "#details")
        assert "51" in text(app, "#details")


@pytest.mark.asyncio
async def test_two_application_card_lets_the_cardholder_choose_then_online_pin():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "250")
        await pilot.press("enter")
        await choose_card(pilot, app, "two_apps")
        await wait_for(pilot, lambda: on(app) == "app-choice")
        options = app.screen.query_one("#app-list")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels == ["1  VISA DEBIT", "2  VISA CREDIT"]  # priority order (87)
        await pilot.press("1")
        await enter_pin(pilot, app, "1357")  # VISA DEBIT: online PIN (42 03), the card's TEST PIN
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"
        details = text(app, "#details")
        assert "VISA DEBIT" in details
        assert "PIN verified online" in details
        debit = next(
            a for a in raw_profile("two_apps")["applications"] if a["label"] == "VISA DEBIT"
        )
        assert mask_pan(debit["pan"]) in details
        assert debit["pan"] not in details


@pytest.mark.asyncio
async def test_wrong_offline_pin_then_right_one():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "120")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await enter_pin(pilot, app, "9999")
        # the card answered 63C2: the kernel asks again, and the modal shows the tries left
        await wait_for(
            pilot, lambda: on(app) == "pin-entry" and "2 tries" in text(app, "#pin-detail")
        )
        await enter_pin(pilot, app, "1234")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"
        assert "PIN verified" in text(app, "#details")
        assert "INCORRECT_PIN" in app.last_cardholder.messages


@pytest.mark.asyncio
async def test_cancelled_pin_entry_ends_the_sale_with_one_sentence():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "120")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await wait_for(pilot, lambda: on(app) == "pin-entry")
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "NOT COMPLETED"
        assert text(app, "#reason") == (
            "The cardholder cancelled PIN entry. Try again, or ask for another card."
        )


@pytest.mark.asyncio
async def test_cardholder_messages_follow_the_card_language():
    from hardware_sim.card import load_card

    app = make_app(card_loader=lambda name: load_card(name, languages="frde"))
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "300")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await wait_for(pilot, lambda: on(app) == "pin-entry")
        assert text(app, "#pin-prompt") == "TAPEZ VOTRE CODE"
        payment = app.screen_stack[-2]
        display = payment.query_one("#cardholder-display", Static)
        assert display.border_title == "Cardholder display (fr)"
        assert str(display.content) == "TAPEZ VOTRE CODE"
        await enter_pin(pilot, app, "1234")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"


@pytest.mark.asyncio
async def test_card_removed_mid_transaction():
    from hardware_sim.card import load_card

    app = make_app(card_loader=lambda name: load_card(name, faults={"remove_at_apdu": 4}))
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "700")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "NOT COMPLETED"
        assert text(app, "#reason").startswith("The card was removed before the payment finished")
        await pilot.press("j")
        await wait_for(pilot, lambda: on(app) == "journal")
        row = app.screen.query_one(DataTable).get_row_at(0)
        assert row[1] == "aborted" and row[2] == "7.00 EUR"


@pytest.mark.asyncio
async def test_host_unreachable_says_what_to_do():
    with refusing_tcp_port() as port:
        app = make_app(host_address=f"127.0.0.1:{port}", plain_tcp=True)
        async with app.run_test(size=SIZE) as pilot:
            await type_amount(pilot, "800")
            await pilot.press("enter")
            await choose_card(pilot, app, "mc_debit")
            await enter_pin(pilot, app, "1234")
            await wait_for(pilot, lambda: on(app) == "result")
            assert text(app, "#headline") == "DECLINED"
            assert text(app, "#reason") == (
                "The bank could not be reached, so the payment was declined. "
                "Check the network connection to the host and try again."
            )


@pytest.mark.asyncio
async def test_contactless_tap_approved_offline_under_the_floor_limit():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "500")
        await pilot.press("enter")
        await tap_card(pilot, app, "visa_qvsdc")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"
        assert text(app, "#reason") == "Approved offline by the card."
        assert "476173******0010" in text(app, "#details")
        assert "CARD_READ_OK" in app.last_cardholder.messages


@pytest.mark.asyncio
async def test_phone_wallet_asks_for_a_second_tap_after_see_phone():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "6000")
        await pilot.press("enter")
        await tap_card(pilot, app, "mastercard_phone")
        await wait_for(pilot, lambda: on(app) == "retap")
        assert "SEE_PHONE" in app.last_cardholder.messages
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"
        assert "Verified on device" in text(app, "#details")


@pytest.mark.asyncio
async def test_contactless_online_pin_above_the_cvm_limit():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "6000")
        await pilot.press("enter")
        await tap_card(pilot, app, "visa_online_pin")
        await enter_pin(pilot, app, "1234")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"
        assert "PIN verified online" in text(app, "#details")


@pytest.mark.asyncio
async def test_an_unexpected_error_becomes_one_sentence_and_a_support_log(tmp_path, monkeypatch):
    from terminal.tui.screens.sale import SaleScreen

    def broken(self):
        raise RuntimeError("simulated bug with 4761739001010119 in it")

    monkeypatch.setattr(SaleScreen, "action_journal", broken)
    app = make_app()
    with pytest.raises(RuntimeError):  # the pilot re-raises what ended the app
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("j")
            await pilot.pause()
    assert app.fatal_error == (
        "the cashier screen stopped on an internal error (RuntimeError); nothing was charged "
        "twice - check the journal, then restart with 'pos run'"
    )
    # the traceback is kept for support, with any PAN masked
    assert app.crash_log == tmp_path / "pos-run-crash.log"
    log = app.crash_log.read_text()
    assert "RuntimeError: simulated bug with 476173******0119 in it" in log
    assert not contains_pan(log)


@pytest.mark.asyncio
async def test_quitting_during_pin_entry_cancels_and_journals_the_sale(tmp_path):
    from terminal.journal import Journal

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "450")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await wait_for(pilot, lambda: on(app) == "pin-entry")
        await app.action_quit()
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        [entry] = journal.entries()
        assert entry.status == "aborted"
        assert entry.data["reason"] == "the cardholder cancelled PIN entry"
        assert journal.verify()[0]
    finally:
        journal.close()
