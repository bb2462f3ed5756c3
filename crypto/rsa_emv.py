"""RSA as EMV uses it: digital signatures with message recovery (EMV Book 2 Annex A2.1).

EMV certificates and signatures are not PKCS#1: the signer applies the raw private-key
operation to a block ``6A || data || hash || BC`` of exactly the modulus length, and the
verifier "recovers" that block with the raw public-key operation ``X = S^e mod n``
(ISO/IEC 9796-2 scheme 1 as profiled by EMV Book 2 A2.1).  This module therefore offers only
the raw primitives plus the block layout; every EMV check on the recovered data lives in
:mod:`emv.oda`.

Only public exponents 3 and 2^16+1 are allowed (Book 2 5.1 / 6.1).  Hash Algorithm
Indicator '01' is SHA-1 (Book 2 B2.1), the only one EMV defines for RSA certificates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

RECOVERED_DATA_HEADER = 0x6A
RECOVERED_DATA_TRAILER = 0xBC
PAD_BYTE = 0xBB
HASH_ALGORITHM_SHA1 = 0x01
PUBLIC_KEY_ALGORITHM_RSA = 0x01
SHA1_LENGTH = 20
ALLOWED_EXPONENTS = (3, 65537)
MAX_MODULUS_BYTES = 248  # Book 2 5.1: N_CA <= 248 bytes (1984 bits)


class RsaEmvError(ValueError):
    """A key or block that cannot be used for an EMV RSA operation."""


@dataclass(frozen=True)
class RsaPublicKey:
    """An RSA public key as EMV stores it: modulus and exponent as big-endian bytes."""

    modulus: bytes
    exponent: bytes

    @property
    def n(self) -> int:
        return int.from_bytes(self.modulus, "big")

    @property
    def e(self) -> int:
        return int.from_bytes(self.exponent, "big")

    @property
    def length(self) -> int:
        """Modulus length in bytes (N_CA, N_I or N_IC in Book 2)."""
        return len(self.modulus)


@dataclass(frozen=True)
class RsaPrivateKey:
    """An RSA key pair (TEST-ONLY keys are the only ones this project ever holds)."""

    modulus: bytes
    exponent: bytes
    private_exponent: bytes

    @property
    def public(self) -> RsaPublicKey:
        return RsaPublicKey(self.modulus, self.exponent)

    @property
    def length(self) -> int:
        return len(self.modulus)


def check_public_key(key: RsaPublicKey) -> None:
    """Reject keys EMV does not allow (Book 2 5.1/6.1); raise :class:`RsaEmvError`."""
    if not key.modulus or key.modulus[0] == 0:
        raise RsaEmvError("the RSA modulus is empty or has a leading zero byte")
    if key.length > MAX_MODULUS_BYTES:
        raise RsaEmvError(f"the RSA modulus is {key.length} bytes, EMV allows at most 248")
    if key.e not in ALLOWED_EXPONENTS:
        raise RsaEmvError(f"the RSA exponent {key.exponent.hex().upper()} is not 3 or 65537")


def recover(key: RsaPublicKey, signature: bytes) -> bytes:
    """Raw public-key operation X = S^e mod n (Book 2 A2.1.3 step 1).

    The signature must be exactly as long as the modulus and numerically below it.
    """
    check_public_key(key)
    if len(signature) != key.length:
        raise RsaEmvError(
            f"the signed data is {len(signature)} bytes but the key modulus is {key.length}"
        )
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        raise RsaEmvError("the signed data is not smaller than the key modulus")
    return pow(s, key.e, key.n).to_bytes(key.length, "big")


def private_operation(key: RsaPrivateKey, block: bytes) -> bytes:
    """Raw private-key operation S = X^d mod n (signing, Book 2 A2.1.2; PIN decipherment)."""
    if len(block) != key.length:
        raise RsaEmvError(f"the block is {len(block)} bytes but the key modulus is {key.length}")
    n = int.from_bytes(key.modulus, "big")
    x = int.from_bytes(block, "big")
    if x >= n:
        raise RsaEmvError("the block is not smaller than the key modulus")
    d = int.from_bytes(key.private_exponent, "big")
    return pow(x, d, n).to_bytes(key.length, "big")


def public_operation(key: RsaPublicKey, block: bytes) -> bytes:
    """Raw public-key operation on a block (offline PIN encipherment, Book 2 7.1)."""
    return recover(key, block)


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 - SHA-1 is what EMV Book 2 B2.1 mandates


def sign_with_recovery(key: RsaPrivateKey, body: bytes, hash_input_extra: bytes = b"") -> bytes:
    """Build and sign ``6A || body || SHA-1(body || extra) || BC`` (Book 2 A2.1.2).

    ``body`` must be exactly ``N - 22`` bytes (the caller lays out the EMV fields and
    padding); ``hash_input_extra`` is data hashed but not carried in the block, e.g. the
    public key remainder and exponent, or the static data to be authenticated.
    """
    if len(body) != key.length - SHA1_LENGTH - 2:
        raise RsaEmvError(
            f"the data to sign is {len(body)} bytes, it must be {key.length - SHA1_LENGTH - 2}"
        )
    block = (
        bytes([RECOVERED_DATA_HEADER])
        + body
        + sha1(body + hash_input_extra)
        + bytes([RECOVERED_DATA_TRAILER])
    )
    return private_operation(key, block)
