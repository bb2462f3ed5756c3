"""The plain-text receipt for the screen (``render_text``) and a QR code drawn in text."""

from __future__ import annotations

from textwrap import wrap

import qrcode

from terminal.receipts.layout import WIDTH, layout, pair_text
from terminal.receipts.model import Receipt


def qr_text(data: str, *, border: int = 2) -> str:
    """A QR code drawn with Unicode half blocks, two modules per character cell.

    Dark modules are drawn as spaces on a light background so phones can scan it from a
    dark terminal theme too.
    """
    code = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    glyph = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    rows = []
    for top, bottom in zip(matrix[0::2], matrix[1::2], strict=True):
        rows.append("".join(glyph[(t, b)] for t, b in zip(top, bottom, strict=True)))
    return "\n".join(rows)


def render_text(receipt: Receipt, *, width: int = WIDTH, with_qr: bool = True) -> str:
    """The receipt as plain text lines of at most ``width`` characters (QR rows excepted)."""
    out: list[str] = []
    for line in layout(receipt):
        if line.kind == "center":
            out += [part.center(width).rstrip() for part in wrap(line.text, width)]
        elif line.kind == "big":
            out.append(f"*** {line.text} ***".center(width).rstrip())
        elif line.kind == "pair":
            out.append(pair_text(line.text, line.right, width))
        elif line.kind == "rule":
            out.append("-" * width)
        elif line.kind == "signature":
            out += ["", "X" + "_" * (width - 1), line.text]
        elif line.kind == "qr":
            if with_qr:
                out.append(qr_text(line.text))
        elif line.kind == "blank":
            out.append("")
        else:
            out.append(line.text[:width])
    return "\n".join(out) + "\n"
