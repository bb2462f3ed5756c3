"""Pay by QR from the amount screen: the EMV MPM code drawn in the terminal, the reference, a
countdown, completion when the wallet pays, cancel with Esc, expiry, and no host configured.

The QR host simulator runs inside the app (demo mode), the customer's phone is
``hardware_sim.wallet.SimWallet`` talking to it over TCP, and the journal is real.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from hardware_sim.wallet import SimWallet
from terminal.config import load_settings
from terminal.tui.app import PosApp
from terminal.tui.screens.qr import NO_QR_HOST
from terminal.tui.wiring import TerminalSession
from tests.tui_support import SIZE, on, text, type_amount, wait_for


def showing(app: PosApp, name: str, widget: str) -> bool:
    """On that screen, and composed (a switched-to screen mounts its widgets a moment later)."""
    return on(app) == name and bool(app.screen.query(widget))


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    for name in ("POS_QR_HOST", "POS_QR_TIMEOUT", "POS_PRINTER", "POS_TIPS"):
        monkeypatch.delenv(name, raising=False)


def make_app(demo: bool = True) -> PosApp:
    return PosApp(TerminalSession(load_settings(None), demo=demo))


async def present_code(pilot, app: PosApp, digits: str, key: str = "x") -> str:
    await type_amount(pilot, digits)
    await pilot.press(key)
    await wait_for(pilot, lambda: on(app) == "qr")
    await wait_for(pilot, lambda: text(app, "#qr-reference").startswith("Reference QR"))
    return text(app, "#qr-reference").removeprefix("Reference ")


@pytest.mark.asyncio
async def test_qr_sale_completes_when_the_wallet_pays_and_is_receipted(tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reference = await present_code(pilot, app, "1234")
        screen = app.screen
        assert text(app, "#qr-amount") == "12.34 EUR"
        assert re.fullmatch(r"Expires in [12]:\d\d", text(app, "#qr-countdown"))  # 120 s
        drawn = text(app, "#qr-code")
        assert drawn.count("\n") > 15 and set(drawn) <= set("█▀▄ \n")
        assert f"pos sim wallet pay {reference} --qr-host 127.0.0.1:" in text(app, "#qr-wallet")

        wallet = SimWallet(*screen.qr_address)
        payload = await asyncio.to_thread(wallet.scan, reference)  # what the phone decodes
        assert (str(payload.amount), payload.currency_numeric) == ("12.34", "978")
        paid = await asyncio.to_thread(wallet.pay, reference)
        assert paid.status == "paid"

        await wait_for(pilot, lambda: showing(app, "result", "#headline"))
        assert text(app, "#headline") == "APPROVED"
        assert text(app, "#result-amount") == "12.34 EUR"
        assert paid.auth_code in text(app, "#details")
        entry = app.session.journal.entry(screen.payment.txn_id)
        assert entry.status == "approved"
        assert entry.data["interface"] == "qr" and entry.data["qr_reference"] == reference

        await pilot.press("p")
        await wait_for(pilot, lambda: "Receipt printed" in text(app, "#receipt-hint"))
        assert (tmp_path / "receipts" / f"{entry.txn_id}.bin").stat().st_size > 100
        await pilot.press("r")
        await wait_for(pilot, lambda: showing(app, "receipt", "#receipt-text"))
        shown = text(app, "#receipt-text")
        assert "QR code" in shown and reference in shown and "12.34 EUR" in shown


@pytest.mark.asyncio
async def test_escape_cancels_the_code_and_nothing_is_charged():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reference = await present_code(pilot, app, "700", key="f5")
        screen = app.screen
        await pilot.press("escape")
        await wait_for(pilot, lambda: showing(app, "result", "#headline"))
        assert text(app, "#headline") == "NOT COMPLETED"
        assert "cancelled; nothing was charged" in text(app, "#reason")
        entry = app.session.journal.entry(screen.payment.txn_id)
        assert entry.status == "aborted" and entry.data["qr_status"] == "cancelled"
        assert entry.data["qr_reference"] == reference


@pytest.mark.asyncio
async def test_the_code_expires_after_the_configured_time(monkeypatch):
    monkeypatch.setenv("POS_QR_TIMEOUT", "1")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "99")
        await pilot.press("x")  # the code may come and go within the second on a busy machine
        await wait_for(pilot, lambda: showing(app, "result", "#headline"))
        assert "expired before the customer paid" in text(app, "#reason")
        entry = app.session.journal.entries()[-1]
        assert (entry.data["interface"], entry.data["qr_status"]) == ("qr", "expired")


@pytest.mark.asyncio
async def test_no_amount_and_no_qr_host_are_one_sentence():
    app = make_app(demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        assert on(app) == "sale"
        assert "amount above zero" in text(app, "#sale-hint")
        await type_amount(pilot, "100")
        await pilot.press("x")
        await wait_for(pilot, lambda: showing(app, "error", "#reason"))
        assert text(app, "#reason") == NO_QR_HOST
