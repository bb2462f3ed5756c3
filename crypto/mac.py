"""ISO/IEC 9797-1 MACs as EMV Book 2 Annex A1.2 uses them."""

from __future__ import annotations

from crypto import des


def pad_method_1(data: bytes, block: int = 8) -> bytes:
    """ISO 9797-1 padding method 1: zeros to a block boundary (none if already aligned)."""
    if not data:
        return bytes(block)
    return data + bytes(-len(data) % block)


def pad_method_2(data: bytes, block: int = 8) -> bytes:
    """ISO 9797-1 padding method 2: ``80`` then zeros to a block boundary (Book 2 A1.2.1)."""
    data = data + b"\x80"
    return data + b"\x00" * (-len(data) % block)


def retail_mac(
    key: bytes,
    data: bytes,
    *,
    padding: int = 2,
    length: int = 8,
    tdes: des.EcbEncryptor | None = None,
) -> bytes:
    """ISO 9797-1 MAC Algorithm 3 (the "retail MAC") with a double-length DES key.

    Single-DES CBC under the left key half, then decrypt with the right half and encrypt
    with the left half on the final block (EMV Book 2 A1.2.1).  Encrypt-decrypt-encrypt of
    the last chained block under (left, right, left) is exactly TDES with the 16-byte key, so
    the CBC runs over all blocks but the last and one TDES block finishes it.

    ``tdes``, when given, is a kept TDES context under ``key`` for that last block (a host
    that also computes the ARPC under the same session key keeps one for both).
    """
    if len(key) != 16:
        raise ValueError("MAC algorithm 3 needs a 16-byte key")
    padded = pad_method_2(data) if padding == 2 else pad_method_1(data)
    chain = des.encrypt_cbc(key[:8], padded[:-8])[-8:] if len(padded) > 8 else bytes(8)
    last = des.xor(chain, padded[-8:])
    return (tdes.encrypt(last) if tdes else des.encrypt_ecb(key, last))[:length]
