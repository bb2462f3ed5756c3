"""Offline PIN data as the card sees it (EMV Book 3 6.5.12, Book 2 7.2; ISO 9564-1 format 2).

* Plaintext PIN block (VERIFY P2=80): ``2L PP PP PP PP/FF PP/FF PP/FF FF``: control nibble 2,
  PIN length L (4..12), the PIN digits, filler F.
* Enciphered PIN (VERIFY P2=88) after RSA recovery: ``7F || PIN block (8) || ICC Unpredictable
  Number (8, from GET CHALLENGE) || random pad`` (Book 2 7.2, Table 23).
"""

from __future__ import annotations


def parse_format2(block: bytes) -> str | None:
    """The PIN digits of a format 2 block, or None when the block breaks the format."""
    if len(block) != 8:
        return None
    nibbles = block.hex().upper()
    if nibbles[0] != "2":
        return None
    length = int(nibbles[1], 16)
    if not 4 <= length <= 12:
        return None
    digits, filler = nibbles[2 : 2 + length], nibbles[2 + length :]
    if not digits.isdigit() or set(filler) - {"F"}:
        return None
    return digits


def format2_block(pin: str) -> bytes:
    """Build a format 2 PIN block (used by tests and the simulated cardholder)."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    return bytes.fromhex(f"2{len(pin):X}{pin}".ljust(16, "F"))


def parse_enciphered(recovered: bytes, challenge: bytes) -> str | None:
    """Check the recovered enciphered-PIN data against the ICC challenge; return the PIN."""
    if len(recovered) < 17 or recovered[0] != 0x7F or recovered[9:17] != challenge:
        return None
    return parse_format2(recovered[1:9])
