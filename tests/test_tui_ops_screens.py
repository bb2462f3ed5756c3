"""The cashier app's operations screens, driven with the Textual pilot: refund with the
supervisor PIN, void from today's journal, pre-authorisation and completion, settlement,
device status.

Everything is real except the hardware: the contact card simulator in an in-process reader,
the embedded ISO 8583 host simulator over TLS loopback, the soft PIN pad (TEST-ONLY keys),
and the journal, batch and store-and-forward queue in the temporary POS_DATA_DIR.
"""

from __future__ import annotations

import dataclasses

import pytest

from terminal.config import load_settings
from terminal.journal import contains_pan
from terminal.operators import OperatorSettings, hash_pin
from terminal.runtime import data_dir
from terminal.tui.app import PosApp
from terminal.tui.wiring import TerminalSession
from tests.tui_support import SIZE, choose_card, on, tap_card, text, type_amount, wait_for

SUPERVISOR_PIN = "2468"  # TEST-ONLY: hashed into the settings below, never a real PIN
SALT = bytes(range(16))  # fixed so the hash is computed once per run (scrypt is slow-ish)


def make_app() -> PosApp:
    settings = dataclasses.replace(
        load_settings(None), operators=OperatorSettings(hash_pin(SUPERVISOR_PIN, SALT))
    )
    return PosApp(TerminalSession(settings, demo=True))


def journal_entries(app: PosApp) -> list:
    return app.session.journal.entries()


async def finish_card(pilot, app: PosApp, pin: str = "1234") -> None:
    """Answer a PIN prompt if the card's CVM list asks for one, then wait for the result."""
    await wait_for(pilot, lambda: on(app) in ("pin-entry", "result", "error"))
    if on(app) == "pin-entry":
        for ch in pin:
            await pilot.press(ch)
        await pilot.press("enter")
    await wait_for(pilot, lambda: on(app) in ("result", "error"))


async def sale(pilot, app: PosApp, digits: str) -> None:
    await wait_for(pilot, lambda: on(app) == "sale")
    await type_amount(pilot, digits)
    await pilot.press("enter")
    await choose_card(pilot, app, "visa_credit")
    await finish_card(pilot, app)
    assert text(app, "#headline") == "APPROVED", text(app, "#reason")
    await pilot.press("enter")
    await wait_for(pilot, lambda: on(app) == "sale")


async def supervisor(pilot, app: PosApp, pin: str) -> None:
    await wait_for(pilot, lambda: on(app) == "supervisor-pin")
    for ch in pin:
        await pilot.press(ch)
    await pilot.press("enter")


async def refund(pilot, app: PosApp, digits: str) -> None:
    await wait_for(pilot, lambda: on(app) == "sale")
    await pilot.press("r")
    await wait_for(pilot, lambda: on(app) == "op-amount")
    await type_amount(pilot, digits)
    await pilot.press("enter")
    await supervisor(pilot, app, SUPERVISOR_PIN)
    await choose_card(pilot, app, "visa_credit")
    await finish_card(pilot, app)


@pytest.mark.asyncio
async def test_refund_needs_the_supervisor_pin_wrong_refused_right_approved():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: on(app) == "sale")
        await pilot.press("r")
        await wait_for(pilot, lambda: on(app) == "op-amount")
        assert text(app, "#op-title") == "REFUND"
        await type_amount(pilot, "200")
        assert text(app, "#op-amount-text") == "2.00 EUR"
        await pilot.press("enter")
        # a wrong PIN is refused on the modal: nothing journaled, the field is cleared
        await supervisor(pilot, app, "1111")
        await wait_for(pilot, lambda: text(app, "#supervisor-error") != "")
        assert on(app) == "supervisor-pin"
        assert text(app, "#supervisor-error") == (
            "The supervisor PIN is wrong, so the refund was not started."
        )
        assert app.screen.query_one("#supervisor-pin").value == ""
        assert journal_entries(app) == []
        # the right PIN goes on to the sale's card screen, chip only
        for ch in SUPERVISOR_PIN:
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "card")
        assert text(app, "#card-title") == "REFUND: INSERT THE CARD"
        await tap_card(pilot, app, app.screen.sources[-1].name)  # a tap is refused
        assert on(app) == "card"
        assert "runs on the chip: insert the card" in text(app, "#card-detail")
        await choose_card(pilot, app, "visa_credit")
        await finish_card(pilot, app)
        assert text(app, "#headline") == "APPROVED", text(app, "#reason")
        assert text(app, "#result-amount") == "2.00 EUR"
        assert not contains_pan(app.export_screenshot())
        (entry,) = journal_entries(app)
        assert entry.data["type"] == "refund"
        assert entry.data["operator"] == "supervisor"
        assert entry.status == "approved"
        assert entry.data["pan_masked"] == "476173******0119"
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "sale")


@pytest.mark.asyncio
async def test_escape_on_the_supervisor_pin_cancels_the_refund():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: on(app) == "sale")
        await pilot.press("r")
        await wait_for(pilot, lambda: on(app) == "op-amount")
        await type_amount(pilot, "100")
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "supervisor-pin")
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "op-amount")
        assert text(app, "#op-hint") == "Refund cancelled: no supervisor PIN was given."
        assert journal_entries(app) == []


@pytest.mark.asyncio
async def test_void_picks_todays_approval_and_the_host_confirms():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sale(pilot, app, "500")
        await pilot.press("v")
        await wait_for(pilot, lambda: on(app) == "void")
        table = app.screen.query_one("#void-table")
        assert table.row_count == 1
        row = table.get_row_at(0)
        (sold,) = journal_entries(app)
        assert row[1:5] == ["purchase", "5.00 EUR", "476173******0119", sold.data["stan"]]
        await pilot.press("enter")
        await supervisor(pilot, app, SUPERVISOR_PIN)
        await wait_for(pilot, lambda: on(app) == "op-result")
        assert text(app, "#headline") == "VOIDED"
        assert text(app, "#reason") == (
            f"5.00 EUR (STAN {sold.data['stan']}) is voided and the host has confirmed it."
        )
        (entry,) = journal_entries(app)
        assert entry.status == "voided"
        assert entry.kinds[-2:] == ["reversal_acknowledged", "void_acknowledged"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "sale")
        # nothing is left to void
        await pilot.press("v")
        await wait_for(pilot, lambda: on(app) == "void")
        assert app.screen.query_one("#void-table").row_count == 0
        assert "No approval from today can be voided" in text(app, "#void-summary")


@pytest.mark.asyncio
async def test_preauthorisation_then_completion_for_less():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: on(app) == "sale")
        await pilot.press("p")
        await wait_for(pilot, lambda: on(app) == "preauth")
        assert "No open pre-authorisation" in text(app, "#preauth-summary")
        await pilot.press("n")
        await wait_for(pilot, lambda: on(app) == "op-amount")
        await type_amount(pilot, "5000")
        await pilot.press("enter")
        await choose_card(pilot, app, "visa_credit")
        await finish_card(pilot, app)
        assert text(app, "#headline") == "APPROVED", text(app, "#reason")
        (preauth,) = journal_entries(app)
        assert preauth.data["type"] == "preauth"
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "sale")
        await pilot.press("p")
        await wait_for(pilot, lambda: on(app) == "preauth")
        assert app.screen.query_one("#preauth-table").row_count == 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "op-amount")
        assert text(app, "#op-amount-text") == "50.00 EUR"  # the authorised amount
        await type_amount(pilot, "1")  # more than authorised: refused in one sentence
        await pilot.press("enter")
        await wait_for(pilot, lambda: text(app, "#op-hint") != "")
        assert text(app, "#op-hint") == (
            "The completion amount is more than the 5000 minor units authorised; run a new "
            "sale for the difference."
        )
        for _ in range(5):
            await pilot.press("backspace")
        await type_amount(pilot, "4200")
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "op-result")
        assert text(app, "#headline") == "COMPLETED"
        assert text(app, "#reason").startswith(
            "Pre-authorisation completed for 42.00 EUR; the advice is sent to the host"
        )
        entries = {e.data["type"]: e for e in journal_entries(app)}
        assert "preauth_completed" in entries["preauth"].kinds
        assert entries["completion"].data["amount"] == 4200
        assert "advice_sent" in entries["completion"].kinds


@pytest.mark.asyncio
async def test_settlement_balances_and_closes_the_batch():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sale(pilot, app, "1234")
        await refund(pilot, app, "200")
        assert text(app, "#headline") == "APPROVED", text(app, "#reason")
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "sale")
        await pilot.press("s")
        await wait_for(pilot, lambda: on(app) == "settlement")
        await wait_for(pilot, lambda: "to settle" in text(app, "#settlement-totals"))
        totals = text(app, "#settlement-totals")
        assert "Open batch 000001: 2 transaction(s) to settle" in totals
        assert "EUR Visa" in totals and "12.34 EUR" in totals and "2.00 EUR" in totals
        assert "EUR net 10.34 EUR" in totals
        await pilot.press("c")
        await wait_for(pilot, lambda: "Batch 000001" in text(app, "#settlement-result"))
        assert text(app, "#settlement-result") == (
            "Batch 000001 closed: the host agrees to the cent."
        )
        report = text(app, "#settlement-report")
        assert "SETTLEMENT REPORT" in report
        assert "EUR net" in report and "10.34 EUR" in report
        assert "host: in balance" in report
        assert "BATCH 000001 CLOSED" in report
        assert app.screen.report.closed and app.screen.report.next_batch == 2
        assert text(app, "#settlement-totals") == (
            "Batch 000001 is closed; batch 000002 is open for new sales."
        )
        assert not contains_pan(app.export_screenshot())
        # P prints the report (demo: an ESC/POS file in the data folder)
        await pilot.press("p")
        await wait_for(pilot, lambda: "printed" in text(app, "#settlement-result"))
        assert text(app, "#settlement-result") == "Settlement report printed on the file printer."
        printed = (data_dir() / "receipts" / "settlement-000001.bin").read_bytes()
        assert b"SETTLEMENT REPORT" in printed and b"BATCH 000001 CLOSED" in printed
        assert b"\x1dV" in printed  # ESC/POS paper cut (GS V)
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "sale")


@pytest.mark.asyncio
async def test_device_status_shows_the_host_link_green_and_tests_it_again():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: on(app) == "sale")
        await pilot.press("d")
        await wait_for(pilot, lambda: on(app) == "devices")
        await wait_for(pilot, lambda: "host" in app.screen.states)
        states = app.screen.states
        assert states["host"].ok, states["host"].reason
        assert states["host"].reason.startswith("the embedded host simulator answered the echo")
        assert app.screen.query_one("#dev-host").has_class("good")
        assert states["readers"].ok and states["pinpad"].ok and states["saf"].ok
        assert states["saf"].reason == "Empty: nothing waits for the host."
        assert not states["fingerprint"].ok  # none connected: red, with what to do
        assert "--fingerprint PORT" in states["fingerprint"].reason
        assert states["printer"].ok  # demo: receipts go to ESC/POS files
        assert states["printer"].reason.startswith("Demo: receipts are written as ESC/POS")
        first = states["host"]
        app.screen.states.clear()
        await pilot.press("t")
        await wait_for(pilot, lambda: "host" in app.screen.states)
        assert app.screen.states["host"].ok and app.screen.states["host"] is not first
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "sale")


@pytest.mark.asyncio
async def test_operation_keys_work_only_on_the_sale_screen():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: on(app) == "sale")
        await wait_for(pilot, lambda: bool(app.screen.query("#operation-keys")))
        assert text(app, "#operation-keys") == (
            "[b]r[/b] Refund  [b]v[/b] Void  [b]p[/b] Pre-auth  [b]s[/b] Settle  [b]d[/b] Devices"
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: on(app) == "op-amount")
        await pilot.press("d")  # not the device screen: the amount screen keeps the key
        assert on(app) == "op-amount"
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "sale")


@pytest.mark.asyncio
async def test_host_down_link_red_void_pending_and_settlement_blocked():
    from hardware_sim.host import HostConfig, HostSimulator

    sim = HostSimulator(HostConfig(host="127.0.0.1", port=0, tls=None))
    _, port = sim.start()
    address = f"127.0.0.1:{port}"
    settings = dataclasses.replace(
        load_settings(None), operators=OperatorSettings(hash_pin(SUPERVISOR_PIN, SALT))
    )
    app = PosApp(TerminalSession(settings, demo=True, host_address=address, plain_tcp=True))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await sale(pilot, app, "700")  # one approval in the batch, then the host goes away
            sim.stop()
            await pilot.press("d")
            await wait_for(pilot, lambda: on(app) == "devices")
            await wait_for(pilot, lambda: "host" in app.screen.states)
            host = app.screen.states["host"]
            assert not host.ok
            assert host.reason.startswith(f"{address} did not answer the echo (")
            assert host.reason.endswith(
                "check the network cable and the host address, then press T."
            )
            assert app.screen.query_one("#dev-host").has_class("bad")
            await pilot.press("escape")
            await wait_for(pilot, lambda: on(app) == "sale")
            # the void is recorded and its 0400 parked: VOID PENDING, retried later
            await pilot.press("v")
            await wait_for(pilot, lambda: on(app) == "void")
            await pilot.press("enter")
            await supervisor(pilot, app, SUPERVISOR_PIN)
            await wait_for(pilot, lambda: on(app) == "op-result")
            assert text(app, "#headline") == "VOID PENDING"
            assert text(app, "#reason").endswith(
                "the reversal is retried automatically - check the host link (key D)."
            )
            (entry,) = journal_entries(app)
            assert entry.status == "void pending"
            await pilot.press("enter")
            await wait_for(pilot, lambda: on(app) == "sale")
            await pilot.press("s")
            await wait_for(pilot, lambda: on(app) == "settlement")
            await wait_for(pilot, lambda: "to settle" in text(app, "#settlement-totals"))
            assert "Open batch 000001: 0 transaction(s) to settle" in text(
                app, "#settlement-totals"
            )
            await pilot.press("c")
            await wait_for(pilot, lambda: not app.screen.busy)
            assert text(app, "#settlement-result") == (
                "1 reversal(s) are not yet acknowledged by the host, so the totals would not "
                "match; check the host link and settle again."
            )
            assert app.screen.query_one("#settlement-result").has_class("bad")
            assert app.screen.report is None
    finally:
        sim.stop()


@pytest.mark.asyncio
async def test_demo_without_a_configured_supervisor_uses_the_shown_test_pin():
    app = PosApp(TerminalSession(load_settings(None), demo=True))  # no [operators] hash
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: on(app) == "sale")
        await pilot.press("r")
        await wait_for(pilot, lambda: on(app) == "op-amount")
        await type_amount(pilot, "100")
        await pilot.press("enter")
        await wait_for(pilot, lambda: on(app) == "supervisor-pin")
        assert text(app, "#supervisor-demo-hint") == "DEMO: the TEST supervisor PIN is 9999"
        await supervisor(pilot, app, "1234")
        await wait_for(pilot, lambda: text(app, "#supervisor-error") != "")
        assert "wrong" in text(app, "#supervisor-error")
        assert journal_entries(app) == []
        await supervisor(pilot, app, "9999")
        await wait_for(pilot, lambda: on(app) != "supervisor-pin")


@pytest.mark.asyncio
async def test_device_status_with_the_serial_pin_pad_and_fingerprint_sensor_green():
    from hardware_sim.fingerprint import SimulatedFingerprintSensor
    from hardware_sim.pinpad import SimulatedPinPad

    with (
        SimulatedPinPad(pin="1234", time_scale=0) as pad,
        SimulatedFingerprintSensor(finger="1") as sensor,
    ):
        session = TerminalSession(
            load_settings(None), demo=True, pinpad_port=pad.port, fingerprint_port=sensor.port
        )
        app = PosApp(session)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: on(app) == "sale")
            await pilot.press("d")
            await wait_for(pilot, lambda: on(app) == "devices")
            await wait_for(pilot, lambda: "pinpad" in app.screen.states)
            states = app.screen.states
            assert states["pinpad"].ok, states["pinpad"].reason
            assert ", next KSN " in states["pinpad"].reason
            assert states["fingerprint"].ok, states["fingerprint"].reason
            assert states["fingerprint"].reason.startswith("R30x sensor answered, ")
            assert states["host"].ok
