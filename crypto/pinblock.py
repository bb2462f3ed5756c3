"""ISO 9564-1:2017 PIN blocks: formats 0, 1, 2 and 3 (8 bytes) and format 4 (16 bytes, AES).

Section references are to ISO 9564-1:2017, 9.4 "PIN block formats":

* format 0 (9.4.2): ``0 L P..P F..F`` XOR ``0000`` + 12 rightmost PAN digits excluding the
  check digit (the ANSI X9.8 block DUKPT uses);
* format 1 (9.4.3): ``1 L P..P`` + transaction-unique fill, no PAN;
* format 2 (9.4.4): ``2 L P..P F..F``, no PAN (offline PIN to an ICC, EMV Book 3 6.5.12);
* format 3 (9.4.5): like format 0 but filled with random nibbles A..F;
* format 4 (9.4.6): 16-byte PIN field ``4 L P..P A..A`` + 8 random bytes and 16-byte PAN
  field ``M PAN 0..0``, enciphered as ``E(K, E(K, PIN field) XOR PAN field)``.

Every bad input raises :class:`PinBlockError` (a ``ValueError``) whose message never contains
the PIN or the full PAN.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MIN_PIN = 4
MAX_PIN = 12
MIN_PAN = 8
MAX_PAN = 19


class PinBlockError(ValueError):
    """A PIN, PAN or PIN block that ISO 9564-1 does not allow."""


def _check_pin(pin: str) -> None:
    if not (pin.isascii() and pin.isdigit()):
        raise PinBlockError("the PIN must contain digits only")
    if not MIN_PIN <= len(pin) <= MAX_PIN:
        raise PinBlockError(f"the PIN must be {MIN_PIN} to {MAX_PIN} digits long")


def _check_pan(pan: str) -> None:
    if not (pan.isascii() and pan.isdigit()):
        raise PinBlockError("the PAN must contain digits only")
    if not MIN_PAN <= len(pan) <= MAX_PAN:
        raise PinBlockError(f"the PAN must be {MIN_PAN} to {MAX_PAN} digits long")


def _pan_field(pan: str) -> bytes:
    """Account number field of formats 0 and 3: ``0000`` + 12 rightmost digits, no check digit."""
    _check_pan(pan)
    return bytes.fromhex("0000" + pan[:-1][-12:].rjust(12, "0"))


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _random(random: bytes | None, length: int) -> bytes:
    if random is None:
        return os.urandom(length)
    if len(random) != length:
        raise PinBlockError(f"the random fill must be {length} bytes")
    return random


def _pin_field(control: int, pin: str, fill: str) -> bytes:
    _check_pin(pin)
    text = f"{control:X}{len(pin):X}{pin}" + fill[: 14 - len(pin)]
    return bytes.fromhex(text)


def _parse_pin_field(block: bytes, control: int, *, fill: str | None) -> str:
    """Read ``C L PIN fill`` from an 8-byte plain PIN field; ``fill`` is the required nibble."""
    if len(block) != 8:
        raise PinBlockError("a format 0-3 PIN block is 8 bytes")
    text = block.hex().upper()
    if int(text[0], 16) != control:
        raise PinBlockError(f"the PIN block is not format {control}")
    length = int(text[1], 16)
    if not MIN_PIN <= length <= MAX_PIN:
        raise PinBlockError("the PIN block holds an invalid PIN length")
    pin = text[2 : 2 + length]
    if not pin.isdigit():
        raise PinBlockError("the PIN block holds a non-digit PIN value")
    rest = text[2 + length :]
    if fill is not None and rest != fill * len(rest):
        raise PinBlockError("the PIN block fill is wrong (wrong key or wrong PAN)")
    if fill is None and control == 3 and any(c not in "ABCDEF" for c in rest):
        raise PinBlockError("the PIN block fill is wrong (wrong key or wrong PAN)")
    return pin


# -- format 0 -------------------------------------------------------------------------------


def encode_format0(pin: str, pan: str) -> bytes:
    """ISO 9564-1 format 0 (9.4.2): PIN field XOR PAN field."""
    return _xor(_pin_field(0, pin, "F" * 14), _pan_field(pan))


def decode_format0(block: bytes, pan: str) -> str:
    if len(block) != 8:
        raise PinBlockError("a format 0 PIN block is 8 bytes")
    return _parse_pin_field(_xor(block, _pan_field(pan)), 0, fill="F")


# -- format 1 -------------------------------------------------------------------------------


def encode_format1(pin: str, random: bytes | None = None) -> bytes:
    """ISO 9564-1 format 1 (9.4.3): fill nibbles from a transaction-unique value (7 bytes)."""
    fill = _random(random, 7).hex().upper()
    return _pin_field(1, pin, fill)


def decode_format1(block: bytes) -> str:
    return _parse_pin_field(block, 1, fill=None)


# -- format 2 -------------------------------------------------------------------------------


def encode_format2(pin: str) -> bytes:
    """ISO 9564-1 format 2 (9.4.4): for offline PIN presented to an ICC, fill ``F``."""
    return _pin_field(2, pin, "F" * 14)


def decode_format2(block: bytes) -> str:
    return _parse_pin_field(block, 2, fill="F")


# -- format 3 -------------------------------------------------------------------------------


def encode_format3(pin: str, pan: str, random: bytes | None = None) -> bytes:
    """ISO 9564-1 format 3 (9.4.5): random fill nibbles in A..F, XOR PAN field.

    ``random`` (7 bytes) supplies the fill; each nibble ``n`` becomes ``A + n mod 6``.
    """
    fill = "".join("ABCDEF"[int(c, 16) % 6] for c in _random(random, 7).hex())
    return _xor(_pin_field(3, pin, fill), _pan_field(pan))


def decode_format3(block: bytes, pan: str) -> str:
    if len(block) != 8:
        raise PinBlockError("a format 3 PIN block is 8 bytes")
    return _parse_pin_field(_xor(block, _pan_field(pan)), 3, fill=None)


# -- format 4 -------------------------------------------------------------------------------


def format4_pin_field(pin: str, random: bytes | None = None) -> bytes:
    """Plain-text PIN field (9.4.6.2): ``4 L PIN A..A`` (8 bytes) + 8 random bytes."""
    _check_pin(pin)
    text = f"4{len(pin):X}{pin}".ljust(16, "A")
    return bytes.fromhex(text) + _random(random, 8)


def format4_pan_field(pan: str) -> bytes:
    """Plain-text PAN field (9.4.6.3): ``M`` (PAN length - 12) + PAN (>= 12 digits) + zeros."""
    _check_pan(pan)
    digits = pan.rjust(12, "0")
    text = f"{len(digits) - 12:X}{digits}".ljust(32, "0")
    return bytes.fromhex(text)


def _aes(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    if len(key) not in (16, 24, 32):
        raise PinBlockError("a format 4 key is an AES key of 16, 24 or 32 bytes")
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def encipher_format4(pin: str, pan: str, key: bytes, random: bytes | None = None) -> bytes:
    """ISO 9564-1 format 4 encipherment (9.4.6.4): ``E(K, E(K, PIN field) XOR PAN field)``."""
    pin_field = format4_pin_field(pin, random)
    pan_field = format4_pan_field(pan)
    return _aes(key, _xor(_aes(key, pin_field), pan_field))


def decipher_format4(block: bytes, pan: str, key: bytes) -> str:
    """ISO 9564-1 format 4 decipherment (9.4.6.5): ``D(K, D(K, block) XOR PAN field)``."""
    if len(block) != 16:
        raise PinBlockError("a format 4 PIN block is 16 bytes")
    pin_field = _aes(
        key, _xor(_aes(key, block, decrypt=True), format4_pan_field(pan)), decrypt=True
    )
    text = pin_field[:8].hex().upper()
    if text[0] != "4":
        raise PinBlockError("the PIN block is not format 4 (wrong key or wrong PAN)")
    length = int(text[1], 16)
    if not MIN_PIN <= length <= MAX_PIN:
        raise PinBlockError("the PIN block holds an invalid PIN length")
    pin = text[2 : 2 + length]
    rest = text[2 + length :]
    if not pin.isdigit() or rest != "A" * len(rest):
        raise PinBlockError("the PIN block is malformed (wrong key or wrong PAN)")
    return pin
