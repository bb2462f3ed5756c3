"""No full PAN anywhere the tests can see (issue 6, "Done means"; PCI DSS 3.3/3.4).

One terminal data directory goes through a day's work: contact sales (offline enciphered
PIN, online PIN), contactless taps (online, online PIN), a host decline, a card decline,
an offline approval whose sealed 0220 advice waits in the store-and-forward file, cards
pulled mid-way and after the host approved, ``pos journal list/show/verify``,
``pos card info``, ``pos decode tlv`` of a record holding a PAN and ``pos recover``.  Every
``pos`` run is a subprocess with logging at DEBUG on stderr; the in-process sales log into
a DEBUG handler.  Receipts are rendered (screen text) and printed through python-escpos to
a file.  The cashier's Textual screen is scanned through the pilot.

Then every byte is scanned: stdout, stderr, logs, receipts, screens and every file in the
data directory (journal, its WAL, the SAF store, the STAN file, keys) for

* a Luhn-valid 13-19 digit number (:func:`terminal.journal.contains_pan` on text; on raw
  bytes, an all-digit alphanumeric token, so SHA-256 hex in the hash chain is not taken for
  a PAN), and
* any PAN of the simulator's test cards as ASCII in any case, and as packed BCD (the hex of
  the bytes), so a PAN inside an APDU dump, a track 2 image or a binary blob is found too.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from terminal.journal import contains_pan, luhn_valid
from tests.net_support import refusing_tcp_port

pytestmark = pytest.mark.slow  # ~17 pos subprocesses and a Textual pilot: 15-30 s

HARDWARE_SIM = Path(__file__).resolve().parent.parent / "hardware_sim"
# Standalone numbers; digit stretches inside hex (cryptograms, RSA blocks) are not PANs, and
# test-card PANs inside hex dumps are caught by the TEST_PANS search below.
_DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{13,19}(?![0-9A-Za-z])")
_TOKEN = re.compile(rb"[0-9A-Za-z]+")

DEBUG_POS = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,\n"
    "                    format='%(levelname)s %(name)s: %(message)s')\n"
    "from terminal.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _test_pans() -> frozenset[str]:
    """Every Luhn-valid 13-19 digit number in the simulator's TEST-ONLY card data."""
    pans: set[str] = set()
    for path in [*HARDWARE_SIM.rglob("*.json"), HARDWARE_SIM / "host" / "testcards.py"]:
        pans.update(m for m in _DIGITS.findall(path.read_text("utf-8")) if luhn_valid(m))
    return frozenset(pans)


TEST_PANS = _test_pans()


def leaks(data: bytes | str) -> list[str]:
    """PAN-like findings in ``data`` (empty when clean)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    found: list[str] = []
    text = raw.decode("latin-1")
    if isinstance(data, str) and contains_pan(data):  # standalone PAN-like numbers
        found += [m for m in _DIGITS.findall(data) if luhn_valid(m)]
    for token in _TOKEN.findall(raw):
        if token.isdigit() and 13 <= len(token) <= 19 and luhn_valid(token.decode()):
            found.append(token.decode())
    upper, packed = text.upper(), raw.hex().upper()
    found += [f"{pan} (ascii)" for pan in TEST_PANS if pan in upper]
    found += [f"{pan} (bcd)" for pan in TEST_PANS if pan in packed]
    return sorted(set(found))


def test_the_scanner_finds_a_pan_in_every_form() -> None:
    pan = "4761739001010119"
    assert pan in TEST_PANS and "5413330089010434" in TEST_PANS
    assert leaks(f'{{"pan": "{pan}"}}')
    assert leaks(b"\x00\x01" + pan.encode() + b"\xff")  # ASCII inside a binary file
    assert leaks(bytes.fromhex("5A08" + pan))  # packed BCD inside an APDU
    assert leaks("57134761739001010119d3012201")  # a hex dump of track 2, lower case
    assert leaks("B4761739001010119^SIMULATED/CARD^")  # track 1
    assert leaks("4111111111111111")  # any Luhn-valid number, not only test cards
    assert not leaks("476173******0119 STAN 000001 RRN 263280000001")
    assert not leaks("9f2e1c0d4b6a7c8e1234567890123456789012abcdef")  # hash-chain hex


@dataclass
class Day:
    """Everything a day's work left where someone could read it."""

    data_dir: Path
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> out, err
    logs: str = ""
    receipts: dict[str, bytes] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.data_dir)): p.read_bytes()
            for p in sorted(self.data_dir.rglob("*"))
            if p.is_file()
        }


class Runner:
    def __init__(self, day: Day) -> None:
        self.day = day
        self.env = dict(os.environ, POS_DATA_DIR=str(day.data_dir))
        self.env.pop("POS_CRASH_AFTER", None)

    def __call__(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-c", DEBUG_POS, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.day.outputs[name] = (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def in_process(self, name: str, *args: str) -> int:
        """The same command through :func:`terminal.cli.main` in this process (cheaper for
        the many read-only ``journal show`` calls), stdout, stderr and DEBUG logs captured."""
        from contextlib import redirect_stderr, redirect_stdout

        from terminal.cli import main

        out, err = io.StringIO(), io.StringIO()
        handler = logging.StreamHandler(err)
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = main(list(args))
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
        self.day.outputs[name] = (out.getvalue(), err.getvalue())
        return code


SALES = [
    ("contact offline PIN", ["pay", "12.34"]),
    ("contact json", ["pay", "12.35", "--json"]),
    ("online PIN", ["pay", "23.45", "--card", "mc_debit", "--json"]),
    ("contactless online", ["pay", "40.00", "--interface", "contactless", "--json"]),
    ("contactless offline", ["pay", "5.00", "--interface", "contactless"]),
    (
        "contactless online PIN",
        ["pay", "80.00", "--interface", "contactless", "--card", "visa_online_pin", "--json"],
    ),
    ("host decline", ["pay", "12.05", "--json"]),
    ("card decline", ["pay", "5.00", "--card", "expired_card", "--json"]),
    ("PIN blocked", ["pay", "5.00", "--card", "pin_blocked"]),
]

RECORD_WITH_PAN = (
    "70 29 5A 08 4761739001010119 5F34 01 01"
    " 57 13 4761739001010119D30122010000000000000F 5F24 03 301231"
)


def _in_process_sales(day: Day) -> None:
    """Cards pulled mid-way and after the host approved, with every logger at DEBUG."""
    from hardware_sim.card import load_card
    from hardware_sim.reader import InProcessReader
    from terminal.cardholder import ScriptedCardholder
    from terminal.config import load_settings
    from terminal.hostlink import open_authoriser
    from terminal.journal import Journal
    from terminal.money import currency
    from terminal.receipts import print_receipt, receipt_from_outcome, render_text
    from terminal.runtime import journal_path
    from terminal.service import PaymentRequest
    from terminal.tui.wiring import build_payment_service

    settings = load_settings(None)
    journal = Journal(journal_path(settings))
    try:
        with open_authoriser(settings, "embedded") as client:
            service = build_payment_service(settings, journal, client, simulated=True)
            for name, remove_at in (("removed mid-way", 6), ("removed after approval", 18)):
                card = load_card("visa_credit")
                outcome = service.pay(
                    PaymentRequest(1500, currency("EUR")),
                    InProcessReader(card, remove_at_apdu=remove_at),
                    ScriptedCardholder(card.test_pin),
                )
                day.outcomes[name] = f"{outcome.result.outcome.value}: {outcome.result.reason}"
                receipt = receipt_from_outcome(outcome, settings.emv)
                day.receipts[f"{name} (screen)"] = render_text(receipt).encode()
                printed = day.data_dir.parent / f"receipt-{remove_at}.bin"
                print_receipt(receipt, f"file:{printed}")
                day.receipts[f"{name} (ESC/POS)"] = printed.read_bytes()
    finally:
        journal.close()


@pytest.fixture(scope="module")
def down() -> Iterator[str]:
    """A host address that refuses connections for the whole module (the host is down)."""
    with refusing_tcp_port() as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory, down: str) -> Iterator[Day]:
    base = tmp_path_factory.mktemp("pan-scan")
    day = Day(base / "pos-data")
    run = Runner(day)
    for name, args in SALES:
        done = run(name, *args, "--host", "embedded")
        day.outcomes[name] = (done.stdout.strip().splitlines() or [""])[0][:80]
    # Offline approval with the host down: the 0220 advice waits, sealed, in saf.sqlite.
    offline = base / "offline.toml"
    offline.write_text(
        '[[aid]]\naid = "A0000000031010"\nlabel = "VISA"\napplication_version = "0096"\n'
        "floor_limit = 5000\n"
    )
    run("offline advice", "pay", "9.99", "--card", "sda_legacy", "--config", str(offline),
        "--host", down, "--plain-tcp", "--json")  # fmt: skip

    handler = logging.StreamHandler(buffer := io.StringIO())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POS_DATA_DIR", str(day.data_dir))
        try:
            _in_process_sales(day)
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
    day.logs = buffer.getvalue()

    run("card info", "card", "info", "--card", "visa_credit")
    run("card info json", "card", "info", "--card", "mc_debit", "--json")
    run("card info contactless", "card", "info", "--card", "visa_qvsdc", "--json")
    run("decode tlv", "decode", "tlv", *RECORD_WITH_PAN.split())
    listing = run("journal list json", "journal", "list", "--json")
    run("journal list", "journal", "list")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POS_DATA_DIR", str(day.data_dir))
        for row in json.loads(listing.stdout):
            txn = row["transaction_id"]
            run.in_process(f"journal show {txn}", "journal", "show", txn)
            run.in_process(f"journal show {txn} json", "journal", "show", txn, "--json")
    run("journal verify", "journal", "verify")
    run("recover (host down)", "recover", "--host", down, "--plain-tcp", "--json")
    _journal_receipts(day)
    yield day


def _journal_receipts(day: Day) -> None:
    """Reprints from the journal: screen text and ESC/POS to a file."""
    from terminal.config import load_settings
    from terminal.journal import Journal
    from terminal.receipts import print_receipt, receipt_from_journal, render_text

    settings = load_settings(None)
    journal = Journal(day.data_dir / "journal.sqlite")
    try:
        for entry in journal.entries():
            for copy in ("cardholder", "merchant"):
                receipt = receipt_from_journal(entry, settings.emv, copy=copy)
                day.receipts[f"reprint {entry.txn_id} {copy}"] = render_text(receipt).encode()
            printed = day.data_dir.parent / f"reprint-{entry.txn_id}.bin"
            print_receipt(receipt, f"file:{printed}")
            day.receipts[f"reprint {entry.txn_id} (ESC/POS)"] = printed.read_bytes()
    finally:
        journal.close()


# ------------------------------------------------------------------ what the day did


def test_the_day_covered_every_kind_of_sale(day: Day) -> None:
    """The scan is only worth something if the sales really happened."""
    out = {name: json.loads(day.outputs[name][0]) for name in ("online PIN", "host decline")}
    assert out["online PIN"]["outcome"] == "approved"
    assert out["online PIN"]["cvm"] == "PIN verified online"
    assert out["host decline"]["response_code"] == "05"
    tap = json.loads(day.outputs["contactless online PIN"][0])
    assert tap["outcome"] == "approved" and tap["interface"] == "contactless"
    assert json.loads(day.outputs["card decline"][0])["outcome"] == "declined"
    assert json.loads(day.outputs["offline advice"][0])["outcome"] == "approved"
    assert "removed" in day.outcomes["removed mid-way"]
    assert "removed" in day.outcomes["removed after approval"]
    rows = json.loads(day.outputs["journal list json"][0])
    assert len(rows) == len(SALES) + 3
    assert {"approved", "declined", "reversed"} <= {r["status"] for r in rows}
    pulled = [r for r in rows if r["amount"] == 1500]  # the two in-process card removals
    assert sorted(r["status"] for r in pulled) == ["aborted", "reversed"]
    # The masked form is there, so the scan is looking at the right text.
    assert "476173******0119" in day.outputs["journal list"][0]
    assert "476173******0119 (masked)" in day.outputs["decode tlv"][0]


# ------------------------------------------------------------------ the scans


def test_no_pan_on_stdout_or_stderr(day: Day) -> None:
    found = {
        name: leaks(out) + leaks(err)
        for name, (out, err) in day.outputs.items()
        if leaks(out) or leaks(err)
    }
    assert not found, found


def test_no_pan_in_debug_logs(day: Day) -> None:
    assert "DEBUG" in "".join(err for _, err in day.outputs.values()) or day.logs
    assert not leaks(day.logs), leaks(day.logs)


def test_no_pan_in_the_journal_file(day: Day) -> None:
    files = day.files()
    journal = {k: v for k, v in files.items() if k.startswith("journal.sqlite")}
    assert "journal.sqlite" in journal
    found = {name: leaks(data) for name, data in journal.items() if leaks(data)}
    assert not found, found


def test_no_pan_in_the_saf_store_where_the_advice_waits_sealed(day: Day) -> None:
    from acquirer_client.saf import SafStore
    from terminal.datakey import load_or_create

    store = SafStore(
        day.data_dir / "saf.sqlite", data_key=load_or_create(day.data_dir / "keys" / "data.key")
    )
    try:
        advices = store.advices()
    finally:
        store.close()
    assert len(advices) == 1  # the offline approval's advice is still waiting (host down)
    saf = {k: v for k, v in day.files().items() if k.startswith("saf.sqlite")}
    found = {name: leaks(data) for name, data in saf.items() if leaks(data)}
    assert not found, found


def test_no_pan_in_any_file_the_terminal_wrote(day: Day) -> None:
    found = {name: leaks(data) for name, data in day.files().items() if leaks(data)}
    assert not found, found


def test_no_pan_on_receipts(day: Day) -> None:
    assert any(b"476173******0119" in text for text in day.receipts.values())
    found = {name: leaks(data) for name, data in day.receipts.items() if leaks(data)}
    assert not found, found


# ------------------------------------------------------------------ traces and decoding


def test_pay_trace_has_no_pan(tmp_path: Path) -> None:
    env = dict(os.environ, POS_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "terminal", "pay", "1.00", "--host", "none", "--json", "--trace"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(done.stdout)["apdus"]
    assert not leaks(done.stdout), leaks(done.stdout)


def test_decode_tlv_masks_every_track_image() -> None:
    from terminal.cli import main

    track2 = "4761739001010119D30122010000000000000F"
    track1 = b"B4761739001010119^SIMULATED/CARD^3012201".hex()
    hexdata = f"9F6B13{track2}56{len(track1) // 2:02X}{track1}"
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", buffer)
        assert main(["decode", "tlv", hexdata]) == 0
    assert not leaks(buffer.getvalue()), buffer.getvalue()


# ------------------------------------------------------------------ the cashier's screen


@pytest.mark.asyncio
async def test_no_pan_on_the_cashier_screen(tmp_path: Path) -> None:
    """A sale and the journal screen through the Textual pilot; every screen is scanned."""
    from textual.widgets import DataTable, Static

    from terminal.config import load_settings
    from terminal.tui.app import PosApp
    from terminal.tui.wiring import TerminalSession

    app = PosApp(TerminalSession(load_settings(None), demo=True))
    seen: dict[str, str] = {}

    def screen_text() -> str:
        parts = [app.export_screenshot()]
        for widget in app.screen.query(Static):
            parts.append(str(widget.content))
        for table in app.screen.query(DataTable):
            for index in range(table.row_count):
                parts.append(" ".join(str(cell) for cell in table.get_row_at(index)))
        return "\n".join(parts)

    async def wait_for(pilot: object, name: str) -> None:
        deadline = time.monotonic() + 90  # generous: a loaded CI machine must not fail this
        while time.monotonic() < deadline:
            # the name counts once the screen is composed and mounted (tests/tui_support.on)
            if app.screen.is_mounted and getattr(app.screen, "NAME", "") == name:
                seen[name] = screen_text()
                return
            await pilot.pause(0.02)  # type: ignore[attr-defined]
        raise AssertionError(f"never reached {name}; on {getattr(app.screen, 'NAME', '')}")

    async with app.run_test(size=(100, 30)) as pilot:
        for ch in "1234":
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, "card")
        index = [s.name for s in app.screen.sources].index("visa_credit")  # type: ignore[attr-defined]
        await pilot.press(app.screen._key(index))  # type: ignore[attr-defined]
        await wait_for(pilot, "pin-entry")
        for ch in "1234":
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, "result")
        await pilot.press("j")
        for _ in range(300):
            if app.screen.query(DataTable):
                break
            await pilot.pause(0.02)
        seen["journal"] = screen_text()
    assert "476173******0119" in seen["result"]
    assert "476173******0119" in seen["journal"]
    found = {name: leaks(text) for name, text in seen.items() if leaks(text)}
    assert not found, found
    journal_files = {p.name: p.read_bytes() for p in tmp_path.rglob("journal.sqlite*")}
    assert journal_files
    assert not {n: leaks(d) for n, d in journal_files.items() if leaks(d)}


def test_trace_hides_pin_blocks_but_keeps_every_other_command() -> None:
    from terminal.trace import mask_command

    plain_pin = bytes.fromhex("0020008008241234FFFFFFFFFF")
    assert mask_command(plain_pin) == "0020008008" + "??" * 8
    enciphered = bytes.fromhex("0020008810") + bytes(range(16))
    assert mask_command(enciphered) == "0020008810" + "??" * 16
    pin_change = bytes.fromhex("8424000210") + bytes(16) + b"\x00"  # script command with Le
    assert mask_command(pin_change) == "8424000210" + "??" * 16 + "00"
    assert mask_command(bytes.fromhex("0020008000")) == "0020008000"  # no data: nothing to hide
    assert mask_command(bytes.fromhex("80AE8000")) == "80ae8000"
    select = bytes.fromhex("00A4040007A000000003101000")
    assert mask_command(select) == select.hex()


def test_decode_tlv_masks_transaction_pin_data() -> None:
    from terminal.cli import main

    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", buffer)
        assert main(["decode", "tlv", "99084761739001010119"]) == 0
    assert "4761739001010119" not in buffer.getvalue() and "99" in buffer.getvalue()
