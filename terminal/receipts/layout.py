"""One layout for every output: a list of lines the text and ESC/POS renderers both draw.

Keeping the layout in one place means the screen, the paper and the file say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from terminal.receipts.model import Receipt

WIDTH = 42  # Font A on 80 mm paper prints 42-48 columns; 42 fits both common heads


@dataclass(frozen=True)
class Line:
    """``kind``: text, center, pair, rule, big, qr, signature, blank."""

    kind: str
    text: str = ""
    right: str = ""


def _pairs(receipt: Receipt) -> list[Line]:
    rows = [
        ("Card", receipt.pan_masked),
        ("Application", receipt.application_label),
        ("AID", receipt.aid),
        ("Entry mode", receipt.entry_mode),
        ("Verification", receipt.cvm),
        ("TVR", receipt.tvr),
        ("TSI", receipt.tsi),
        ("Auth code", receipt.auth_code),
        ("STAN", receipt.stan),
    ]
    return [Line("pair", label, value) for label, value in rows if value]


def layout(receipt: Receipt) -> list[Line]:
    when = receipt.when.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    lines = [
        Line("center", receipt.merchant_name),
        Line("pair", "Merchant ID", receipt.merchant_id),
        Line("pair", "Terminal ID", receipt.terminal_id),
        Line("pair", "Date", when),
        Line("rule"),
        Line("text", receipt.transaction_type),
        *_pairs(receipt),
        Line("rule"),
        Line("pair", "AMOUNT", receipt.amount_text),
        Line("rule"),
        Line("big", receipt.status),
    ]
    if receipt.reason:
        lines.append(Line("center", receipt.reason))
    if receipt.signature_required:
        lines += [
            Line("blank"),
            Line("signature", "Cardholder signature"),
            Line("center", "I agree to pay the above amount"),
        ]
    lines += [
        Line("blank"),
        Line("center", f"{receipt.copy.upper()} COPY"),
        Line("pair", "Reference", receipt.reference),
        Line("qr", receipt.reference),
    ]
    return lines


def pair_text(label: str, value: str, width: int = WIDTH) -> str:
    """``label ...... value`` on one line; a long value moves to its own right-aligned line."""
    if len(label) + 1 + len(value) <= width:
        return f"{label}{value.rjust(width - len(label))}"
    return f"{label}\n{value[-width:].rjust(width)}"
