"""The cashier app with serial peripherals on real ptys: the PIN pad simulator answers the
PIN prompt (no keyboard PIN), the R30x sensor simulator answers the biometric CVM."""

from __future__ import annotations

import pytest

from hardware_sim.fingerprint import SimulatedFingerprintSensor
from hardware_sim.pinpad import SimulatedPinPad
from terminal.config import load_settings
from terminal.tui.app import PosApp
from terminal.tui.wiring import TerminalSession
from tests.tui_support import (
    SIZE,
    choose_card,
    enter_pin,
    on,
    text,
    type_amount,
    wait_for,
)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("terminal.peripherals.cardholder.CAPTURE_TIMEOUT_S", 0.3)


@pytest.mark.asyncio
async def test_pin_is_entered_on_the_serial_pin_pad_not_the_keyboard():
    with SimulatedPinPad(pin="1234", time_scale=0) as pad:
        session = TerminalSession(load_settings(None), demo=True, pinpad_port=pad.port)
        app = PosApp(session)
        async with app.run_test(size=SIZE) as pilot:
            await type_amount(pilot, "900")
            await pilot.press("enter")
            await choose_card(pilot, app, "mc_debit")  # online PIN first in its CVM list
            await wait_for(pilot, lambda: on(app) == "result")
            assert text(app, "#headline") == "APPROVED"
            assert "PIN verified online" in text(app, "#details")
        assert pad.state.pin_requests == 1


@pytest.mark.asyncio
async def test_offline_fingerprint_on_the_sensor():
    with (
        SimulatedPinPad(pin="1234", time_scale=0) as pad,
        SimulatedFingerprintSensor(finger="1") as sensor,
    ):
        session = TerminalSession(
            load_settings(None), demo=True, pinpad_port=pad.port, fingerprint_port=sensor.port
        )
        app = PosApp(session)
        async with app.run_test(size=SIZE) as pilot:
            await type_amount(pilot, "1200")
            await pilot.press("enter")
            await choose_card(pilot, app, "bio_finger_offline")
            await wait_for(pilot, lambda: on(app) == "result")
            assert text(app, "#headline") == "APPROVED", text(app, "#reason")
        assert sensor.captures == 1 and pad.state.pin_requests == 0


@pytest.mark.asyncio
async def test_biometric_card_without_a_sensor_falls_back_to_the_next_cvm():
    app = PosApp(TerminalSession(load_settings(None), demo=True))
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "1200")
        await pilot.press("enter")
        await choose_card(pilot, app, "bio_finger_offline")
        # no sensor: the biometric CVM cannot be performed, the next one is online PIN
        await enter_pin(pilot, app, "1234")
        await wait_for(pilot, lambda: on(app) == "result")
        assert text(app, "#headline") == "APPROVED"
        assert "PIN verified online" in text(app, "#details")


@pytest.mark.asyncio
async def test_pin_pad_unplugged_mid_entry_is_one_sentence_and_the_sale_falls_back(
    monkeypatch,
):
    """Issue 6 errors: a PIN pad pulled out during PIN entry is named in one sentence on the
    payment screen; the CVM list then falls back (signature) and nothing is left half done."""
    from terminal.tui.screens.payment import PaymentScreen

    shown: list[str] = []
    original = PaymentScreen.device_prompt

    def record(self, message: str) -> None:  # type: ignore[no-untyped-def]
        shown.append(message)
        original(self, message)

    monkeypatch.setattr(PaymentScreen, "device_prompt", record)
    with SimulatedPinPad(pin="1234", script=["disconnect"], time_scale=0) as pad:
        session = TerminalSession(load_settings(None), demo=True, pinpad_port=pad.port)
        app = PosApp(session)
        async with app.run_test(size=SIZE) as pilot:
            await type_amount(pilot, "900")
            await pilot.press("enter")
            await choose_card(pilot, app, "mc_debit")
            await wait_for(pilot, lambda: on(app) == "result")
            assert text(app, "#headline") == "APPROVED"
            assert "Signature" in text(app, "#details")
    assert "Device problem: the PIN pad was disconnected; reconnect it and retry" in shown
