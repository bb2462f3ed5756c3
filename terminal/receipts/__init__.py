"""Receipts: the model, the plain-text screen rendering and ESC/POS printing.

* :func:`receipt_from_outcome` / :func:`receipt_from_journal` build a :class:`Receipt`;
* :func:`render_text` gives the screen version (the Textual app shows it as is);
* :func:`print_receipt` prints it through python-escpos (serial, USB, network, file).
"""

from terminal.receipts.escpos_out import (
    PrinterError,
    PrinterOutOfPaper,
    print_receipt,
    render_escpos,
)
from terminal.receipts.model import Receipt, receipt_from_journal, receipt_from_outcome
from terminal.receipts.text import qr_text, render_text

__all__ = [
    "PrinterError",
    "PrinterOutOfPaper",
    "Receipt",
    "print_receipt",
    "qr_text",
    "receipt_from_journal",
    "receipt_from_outcome",
    "render_escpos",
    "render_text",
]
