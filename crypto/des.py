"""Triple-DES building blocks (ANSI X9.52 / ISO 18033-3) over ``cryptography``.

DES is obsolete for general use but still mandatory in EMV and payment key management,
so it comes from ``cryptography.hazmat.decrepit``.
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

BLOCK = 8


def _expand(key: bytes) -> bytes:
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise ValueError(f"a DES key is 8, 16 or 24 bytes, not {len(key)}")


def _check_blocks(data: bytes) -> None:
    if len(data) % BLOCK:
        raise ValueError("DES data must be a multiple of 8 bytes")


def encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """TDES (or single DES for an 8-byte key) ECB encryption of whole blocks."""
    _check_blocks(data)
    enc = Cipher(TripleDES(_expand(key)), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def decrypt_ecb(key: bytes, data: bytes) -> bytes:
    _check_blocks(data)
    dec = Cipher(TripleDES(_expand(key)), modes.ECB()).decryptor()
    return dec.update(data) + dec.finalize()


def encrypt_cbc(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_blocks(data)
    enc = Cipher(TripleDES(_expand(key)), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def decrypt_cbc(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_blocks(data)
    dec = Cipher(TripleDES(_expand(key)), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def xor(a: bytes, b: bytes) -> bytes:
    """Byte-wise exclusive or of two equally long strings."""
    if len(a) != len(b):
        raise ValueError("xor needs two strings of the same length")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


class EcbEncryptor:
    """One kept TDES ECB context for many encryptions under the same key.

    Creating a ``cryptography`` cipher context costs more than encrypting a block, so a key
    used on every request (an issuer master key on a host) keeps one.  ECB has no chaining
    state: each call's output depends only on its own blocks.
    """

    def __init__(self, key: bytes) -> None:
        self._encryptor = Cipher(TripleDES(_expand(key)), modes.ECB()).encryptor()

    def encrypt(self, data: bytes) -> bytes:
        _check_blocks(data)
        return self._encryptor.update(data)


# byte -> the same byte with its least significant bit set for odd parity (ANSI X3.92)
_ODD_PARITY = bytes((b & 0xFE) | (bin(b & 0xFE).count("1") + 1) % 2 for b in range(256))


def adjust_odd_parity(key: bytes) -> bytes:
    """Set the least significant bit of each byte so that every byte has odd parity."""
    return key.translate(_ODD_PARITY)


def key_check_value(key: bytes, length: int = 3) -> bytes:
    """KCV: leftmost bytes of the key encrypting a zero block (ANSI X9.24-1)."""
    return encrypt_ecb(key, bytes(8))[:length]
