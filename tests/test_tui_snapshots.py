"""Snapshot tests of the cashier's key screens: Textual's SVG screenshot against a golden file.

Volatile text (clock times, the QR host's port, the QR countdown, Rich's content-hash id) is
normalised before the comparison; everything else on these screens is fixed by the test
(fixed amounts, a fixed receipt time, a fixed QR reference, no warm-up toasts), so the files
are the same on any machine.  ``POS_UPDATE_SNAPSHOTS=1 pytest tests/test_tui_snapshots.py``
rewrites the golden files in ``tests/snapshots/``; look at them before committing.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Footer

from terminal.config import load_settings
from terminal.money import currency
from terminal.receipts import Receipt
from terminal.tui.app import PosApp
from terminal.tui.plain_words import ResultView
from terminal.tui.screens.receipt import ReceiptScreen
from terminal.tui.screens.result import ErrorScreen, ResultScreen
from terminal.tui.wiring import TerminalSession
from tests.tui_support import SIZE, on, text, type_amount, wait_for

SNAPSHOTS = Path(__file__).parent / "snapshots"
VOLATILE = [
    (re.compile(r"terminal-\d+"), "terminal-ID"),  # Rich's id: a hash of the raw content
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "HH:MM:SS"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"Expires(&#160;|\s)in(&#160;|\s)\d+:\d\d"), "Expires in M:SS"),
]


def normalise(svg: str) -> str:
    for pattern, replacement in VOLATILE:
        svg = pattern.sub(replacement, svg)
    return svg


async def assert_snapshot(pilot, app: PosApp, name: str) -> None:
    # Textual's Footer is left out: it lists every binding of the app (other screens' keys
    # change it) and wraps to one or two lines depending on when its bindings were counted.
    for footer in app.screen.query(Footer):
        footer.display = False
    await pilot.pause()
    svg = normalise(app.export_screenshot(title="POS terminal", simplify=True))
    golden = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("POS_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        golden.write_text(svg, encoding="utf-8")
        return
    assert golden.exists(), f"no golden file {golden}; run with POS_UPDATE_SNAPSHOTS=1"
    expected = golden.read_text(encoding="utf-8")
    if svg != expected:
        failed = golden.with_suffix(".actual.svg")
        failed.write_text(svg, encoding="utf-8")
        pytest.fail(f"{name} differs from {golden} (the new rendering is in {failed})")


@pytest.fixture(autouse=True)
def _quiet(tmp_path, monkeypatch):
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    for name in ("POS_TIPS", "POS_QR_HOST", "POS_QR_TIMEOUT", "POS_PRINTER", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    # no warm-up: a toast from the host link must not land in a screenshot
    monkeypatch.setattr(PosApp, "_start_warm_up", lambda self: None)


def make_app() -> PosApp:
    return PosApp(TerminalSession(load_settings(None), demo=True))


VIEW = ResultView(
    headline="APPROVED",
    sentence="Approved online by the issuer.",
    amount="12.34 EUR",
    pan_masked="476173******0119",
    application="VISA CREDIT (A0000000031010)",
    auth_code="000001",
    cvm="PIN verified (offline enciphered)",
    stan="000042",
    response_code="00",
)
RECEIPT = Receipt(
    txn_id="t0123456789abcdef",
    merchant_name="Sim Shop, Berlin",
    merchant_id="MERCHANT0000001",
    terminal_id="POS00001",
    when=datetime(2026, 1, 2, 10, 11, 12, tzinfo=UTC),
    transaction_type="SALE",
    status="APPROVED",
    amount_minor=1234,
    currency=currency("EUR"),
    entry_mode="Chip",
    pan_masked="476173******0119",
    application_label="VISA CREDIT",
    aid="A0000000031010",
    cvm="PIN verified",
    tvr="0000008000",
    tsi="E800",
    auth_code="000001",
    stan="000042",
    reference="t0123456789abcdef",
)


@pytest.mark.asyncio
async def test_sale_screen_with_a_tip_line(monkeypatch):
    monkeypatch.setenv("POS_TIPS", "1")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "1234")
        await pilot.press("t")
        await type_amount(pilot, "200")
        assert text(app, "#extra-line") == "▶ Tip: 2.00 EUR   Total: 14.34 EUR"
        await assert_snapshot(pilot, app, "sale-with-tip")


@pytest.mark.asyncio
async def test_result_screens():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ResultScreen(VIEW))
        await wait_for(pilot, lambda: on(app) == "result" and bool(app.screen.query("#headline")))
        await pilot.pause()
        await assert_snapshot(pilot, app, "result-approved")
        app.switch_screen(
            ErrorScreen("The printer is out of paper: load a new roll, then reprint the receipt.")
        )
        await wait_for(pilot, lambda: on(app) == "error" and bool(app.screen.query("#reason")))
        await pilot.pause()
        await assert_snapshot(pilot, app, "error-paper-out")


@pytest.mark.asyncio
async def test_receipt_screen():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReceiptScreen(RECEIPT))
        await wait_for(
            pilot, lambda: on(app) == "receipt" and bool(app.screen.query("#receipt-text"))
        )
        await pilot.pause()
        await assert_snapshot(pilot, app, "receipt")


@pytest.mark.asyncio
async def test_journal_screen_with_a_search():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        journal = app.session.journal
        for amount, outcome, pan, stan in [
            (1234, "approved", "476173******0119", "000017"),
            (500, "declined", "541333******0011", "000018"),
        ]:
            txn = journal.new_transaction_id()
            journal.append(txn, "started", amount=amount, currency="EUR", type="purchase")
            journal.append(txn, "completed", outcome=outcome, pan_masked=pan, stan=stan,
                           label="VISA CREDIT", auth_code="000001")  # fmt: skip
        await pilot.press("j")
        await wait_for(
            pilot, lambda: on(app) == "journal" and bool(app.screen.query("#journal-table"))
        )
        app.screen.query_one("#journal-search").value = "0119"
        await wait_for(pilot, lambda: len(app.screen.shown) == 1)
        app.screen.query_one("#journal-table").focus()
        await pilot.pause()
        await assert_snapshot(pilot, app, "journal-search")


@pytest.mark.asyncio
async def test_qr_screen(monkeypatch):
    monkeypatch.setattr("terminal.qrpay.new_reference", lambda: "QRSNAPSHOT0000AA")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_amount(pilot, "1234")
        await pilot.press("x")
        await wait_for(pilot, lambda: on(app) == "qr" and bool(app.screen.query("#qr-reference")))
        await wait_for(pilot, lambda: "QRSNAPSHOT0000AA" in text(app, "#qr-wallet"))
        await pilot.pause()
        await assert_snapshot(pilot, app, "qr-code")
        await pilot.press("escape")
        await wait_for(pilot, lambda: on(app) == "result" and bool(app.screen.query("#headline")))
