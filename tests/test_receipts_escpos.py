"""ESC/POS receipts through python-escpos, checked byte by byte by the printer simulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_sim.printer import EscPosPrinter, PtyPrinter, TcpPrinter, parse_file
from terminal.cli import main
from terminal.journal import Journal, contains_pan
from terminal.money import currency
from terminal.receipts import (
    PrinterError,
    PrinterOutOfPaper,
    escpos_out,
    print_receipt,
    render_escpos,
)
from terminal.receipts.model import Receipt


@pytest.fixture(autouse=True)
def _patient_status_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every simulated printer here answers its status requests; a late answer on a loaded
    # machine must not read as "cannot ask" (which prints anyway, past a paper-out).
    monkeypatch.setattr(escpos_out, "STATUS_TIMEOUT", 15.0)


FIXED = ["--txn-datetime", "2026-11-24T10:30:00", "--unpredictable-number", "1A2B3C4D"]
RECEIPT = Receipt(
    txn_id="0a1b2c3d4e5f6789",
    merchant_name="Sim Shop, Berlin",
    merchant_id="SIMMERCHANT0001",
    terminal_id="POS00001",
    when=datetime(2026, 11, 24, 10, 30, tzinfo=UTC),
    transaction_type="SALE",
    status="APPROVED",
    amount_minor=1234,
    currency=currency("EUR"),
    entry_mode="Chip",
    copy="merchant",
    pan_masked="476173******0119",
    application_label="VISA CREDIT",
    aid="A0000000031010",
    cvm="Signature",
    tvr="0000008000",
    tsi="E800",
    auth_code="A1B2C3",
    stan="000042",
    reference="0a1b2c3d4e5f6789",
    signature_required=True,
)


def escpos_bytes(receipt: Receipt = RECEIPT) -> bytes:
    printer = Dummy()
    render_escpos(receipt, printer)
    return bytes(printer.output)


def test_byte_stream_init_native_qr_and_cut() -> None:
    raw = escpos_bytes()
    assert raw.startswith(b"\x1b@")  # ESC @ initialise
    data = b"0a1b2c3d4e5f6789"
    store = b"\x1d(k" + bytes([len(data) + 3, 0]) + b"1P0" + data  # GS ( k fn 80: store
    assert store in raw
    assert b"\x1d(k\x03\x001C\x06" in raw  # module size 6
    assert raw.index(store) < raw.index(b"\x1d(k\x03\x001Q0")  # fn 81: print after store
    assert raw.endswith(b"\x1bd\x06\x1dV\x00")  # feed 6 lines, full cut
    assert b"\x1bE\x01\x1ba\x01APPROVED\n" in raw.replace(b"\x1b!\x00", b"").replace(b"\x1b!0", b"")


def test_serial_printer_on_a_pty_prints_the_receipt() -> None:
    with PtyPrinter() as device:
        assert print_receipt(RECEIPT, f"serial:{device.port}") == "serial"
        firmware = device.printer
    assert firmware.unknown == [] and firmware.status_requests == [4, 4]
    [ticket] = firmware.finished
    lines = [line.text for line in ticket.lines]
    assert lines[0] == "Sim Shop, Berlin" and ticket.lines[0].align == "center"
    for expected in (
        "Merchant ID                SIMMERCHANT0001",
        "Terminal ID                       POS00001",
        "Card                      476173******0119",
        "AID                         A0000000031010",
        "Verification                     Signature",
        "TVR                             0000008000",
        "TSI                                   E800",
        "Auth code                           A1B2C3",
        "AMOUNT                           12.34 EUR",
        "X" + "_" * 41,
        "Cardholder signature",
        "MERCHANT COPY",
    ):
        assert expected in lines, expected
    status = ticket.lines[lines.index("APPROVED")]
    assert status.bold and status.double_width and status.double_height
    assert status.align == "center"
    assert [q.data for q in ticket.qr_codes] == ["0a1b2c3d4e5f6789"]
    assert ticket.qr_codes[0].model == 2 and ticket.qr_codes[0].module_size == 6
    assert ticket.cut == "full"
    assert not contains_pan(ticket.text)


def test_paper_out_is_reported_before_anything_prints() -> None:
    with PtyPrinter(EscPosPrinter(paper=False)) as device:
        with pytest.raises(PrinterOutOfPaper, match="out of paper: load a new roll"):
            print_receipt(RECEIPT, f"serial:{device.port}")
        assert device.printer.printed_lines == 0 and device.printer.received == 3


def test_paper_running_out_mid_receipt_is_reported() -> None:
    with PtyPrinter(EscPosPrinter(paper_lines=5)) as device:
        with pytest.raises(PrinterOutOfPaper, match="ran out of paper while printing"):
            print_receipt(RECEIPT, f"serial:{device.port}")
        assert device.printer.printed_lines == 5 and device.printer.dropped > 0
        assert device.printer.finished == []


def test_network_printer_raw_port() -> None:
    with TcpPrinter() as device:
        host, port = device.address
        assert print_receipt(RECEIPT, f"tcp:{host}:{port}") == "network"
    [ticket] = device.printer.finished
    assert "AMOUNT                           12.34 EUR" in ticket.text
    assert ticket.qr_codes[0].data == RECEIPT.reference


def _pay(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["pay", "12.34", "--json", *FIXED, *extra]) == 0
    return str(json.loads(capsys.readouterr().out)["transaction_id"])


def test_pos_receipt_to_a_file_after_a_real_chip_sale(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, _isolated_data_dir: Path
) -> None:
    nopin = tmp_path / "nopin.toml"
    nopin.write_text("[terminal]\npin_pad = false\n")
    txn = _pay(capsys, "--config", str(nopin))
    out_file = tmp_path / "receipt.bin"
    code = main(["receipt", txn, "--printer", f"file:{out_file}", "--copy", "merchant"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == f"Printed the merchant copy of {txn} on the file printer.\n"
    [ticket] = parse_file(out_file).finished
    assert "Card                      476173******0119" in ticket.text
    assert "Verification                     Signature" in ticket.text
    assert "Cardholder signature" in ticket.text and "MERCHANT COPY" in ticket.text
    assert ticket.qr_codes[0].data == txn
    journal = Journal(_isolated_data_dir / "journal.sqlite")
    entry = journal.entry(txn)
    journal.close()
    assert entry is not None
    assert entry.kinds[-2:] == ["receipt_print_requested", "receipt_printed"]
    # every output of the receipt path is free of full PANs
    raw = out_file.read_bytes().decode("latin-1")
    assert not contains_pan(raw) and not contains_pan(ticket.text) and not contains_pan(out)


def test_pos_receipt_text_and_json_for_a_pin_sale(capsys: pytest.CaptureFixture[str]) -> None:
    txn = _pay(capsys)
    assert main(["receipt", txn]) == 0
    text = capsys.readouterr().out
    assert "Verification                  PIN verified" in text
    assert "Cardholder signature" not in text and "CARDHOLDER COPY" in text
    assert main(["receipt", txn, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["transaction_id"] == txn and "AMOUNT" in row["text"]
    assert not contains_pan(text + row["text"])


def test_receipt_errors_are_one_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["receipt", "nope"]) == 2
    assert "no transaction 'nope' in the journal" in capsys.readouterr().err
    txn = _pay(capsys)
    assert main(["receipt", txn, "--printer", "lpt1"]) == 2
    assert "is not a printer address" in capsys.readouterr().err
    assert main(["receipt", txn, "--printer", f"serial:{tmp_path}/ttyNONE"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pos: cannot open the printer at serial:") and err.count("\n") == 1
    with pytest.raises(PrinterError, match="cannot open the printer"):
        print_receipt(RECEIPT, "tcp:127.0.0.1:1")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_printer_parser_survives_any_bytes(data: bytes) -> None:
    firmware = EscPosPrinter()
    firmware.feed(data)
    firmware.feed(b"\n")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40), max_size=8
    ),
    st.sampled_from([1, 7, 64]),
)
def test_text_lines_survive_any_chunking(lines: list[str], chunk: int) -> None:
    printer = Dummy()
    printer.hw("INIT")
    for line in lines:
        printer.set(align="center", bold=True)
        printer.textln(line)
    printer.cut()
    raw = bytes(printer.output)
    firmware = EscPosPrinter()
    for start in range(0, len(raw), chunk):
        firmware.feed(raw[start : start + chunk])
    assert [line.text for line in firmware.finished[0].lines] == lines
    assert firmware.unknown == []
