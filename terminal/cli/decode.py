"""``pos decode tlv HEX`` and ``pos decode dol HEX``: pretty-print EMV data with tag names."""

from __future__ import annotations

import argparse
import string
from typing import Any

from emv import dol, tags, tlv
from emv.errors import DolError, TlvError
from terminal.errors import UsageError


def register(sub: Any) -> None:
    decode = sub.add_parser("decode", help="decode EMV TLV or DOL hex")
    inner = decode.add_subparsers(dest="decode_command", metavar="WHAT")
    inner.required = True
    for name, handler in (("tlv", decode_tlv), ("dol", decode_dol)):
        p = inner.add_parser(name, help=f"decode {name.upper()} hex")
        p.add_argument("hex", nargs="+", help="hex bytes (spaces allowed)")
        p.set_defaults(handler=handler)


def _bytes(parts: list[str]) -> bytes:
    text = "".join("".join(parts).split())
    if not all(c in string.hexdigits for c in text):
        raise UsageError("the input is not hex: use digits 0-9 and letters A-F")
    if len(text) % 2:
        raise UsageError(
            f"the input has an odd number of hex digits ({len(text)}): each byte is two digits"
        )
    return bytes.fromhex(text)


def _value_text(tag: int, value: bytes) -> str:
    from terminal.trace import SENSITIVE_TAGS

    if tag in SENSITIVE_TAGS:
        return _masked(tag, value)
    fmt = tags.data_format(tag)
    if fmt in ("a", "an", "ans") and all(32 <= b < 127 for b in value):
        return f'{value.hex().upper()} "{value.decode("ascii")}"'
    return value.hex().upper()


def _masked(tag: int, value: bytes) -> str:
    """Cardholder data is never printed: the PAN shows first 6 / last 4 digits only."""
    from emv.kernel.result import mask_pan

    if tag in (0x5A, 0x57, 0x9F6B):
        digits = value.hex().upper().replace("D", "=").split("=")[0].rstrip("F")
        return f"{mask_pan(digits)} (masked)"
    if tag == 0x56:
        text = value.decode("ascii", "replace").lstrip("B%").split("^")[0]
        return f"{mask_pan(text)} (masked)"
    return f"[{len(value)} bytes masked]"


def render(objects: list[tlv.Tlv], depth: int = 0) -> list[str]:
    lines = []
    for obj in objects:
        pad = "  " * depth
        head = f"{pad}{tlv.tag_hex(obj.tag)} {tags.name(obj.tag)} [{len(obj.value)}]"
        if obj.children is not None:
            lines.append(head)
            lines += render(list(obj.children), depth + 1)
        else:
            lines.append(f"{head} {_value_text(obj.tag, obj.value)}")
    return lines


def decode_tlv(args: argparse.Namespace) -> int:
    try:
        objects = tlv.decode(_bytes(args.hex))
    except TlvError as exc:
        raise UsageError(f"not valid BER-TLV: {exc}") from None
    print("\n".join(render(objects)))
    return 0


def decode_dol(args: argparse.Namespace) -> int:
    try:
        entries = dol.parse(_bytes(args.hex))
    except DolError as exc:
        raise UsageError(str(exc)) from None
    for entry in entries:
        print(f"{tlv.tag_hex(entry.tag)} {tags.name(entry.tag)} [{entry.length}]")
    return 0
