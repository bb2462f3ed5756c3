"""The PIN pad session key agreed at sign-on (docs/pinpad-protocol.md section 4).

Ephemeral ECDH on P-256 (NIST SP 800-56A), HKDF-SHA256 (RFC 5869) to a 128-bit AES key,
AES-GCM (NIST SP 800-38D) for every sealed field.  The 12-byte nonce is a direction byte
(``T`` terminal->pad, ``P`` pad->terminal) and an 11-byte message counter, so a nonce is never
reused under one key; the counter must increase, so a replayed field is refused.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"pos-pinpad-session-v1"


def public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def derive_session_key(
    own: ec.EllipticCurvePrivateKey, peer_public: bytes, terminal_pub: bytes, pad_pub: bytes
) -> bytes:
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public)
    shared = own.exchange(ec.ECDH(), peer)
    return HKDF(hashes.SHA256(), 16, salt=None, info=INFO + terminal_pub + pad_pub).derive(shared)


class SessionError(ValueError):
    pass


class Session:
    """Seals fields one way and opens them the other way under the sign-on key."""

    def __init__(self, key: bytes, own_direction: bytes) -> None:
        self._aead = AESGCM(key)
        self._own = own_direction
        self._peer = b"P" if own_direction == b"T" else b"T"
        self._sent = 0
        self._received = 0

    def seal(self, plain: bytes, label: bytes) -> str:
        self._sent += 1
        nonce = self._own + self._sent.to_bytes(11, "big")
        return (nonce + self._aead.encrypt(nonce, plain, label)).hex().upper()

    def open(self, sealed_hex: str, label: bytes) -> bytes:
        try:
            raw = bytes.fromhex(sealed_hex)
        except ValueError:
            raise SessionError("a sealed field is not hexadecimal") from None
        if len(raw) < 12 + 16 or raw[:1] != self._peer:
            raise SessionError("a sealed field has a bad nonce")
        counter = int.from_bytes(raw[1:12], "big")
        if counter <= self._received:
            raise SessionError("a sealed field was replayed")
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], label)
        except InvalidTag:
            raise SessionError("a sealed field failed its integrity check") from None
        self._received = counter
        return plain
