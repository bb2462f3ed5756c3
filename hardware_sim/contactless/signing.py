"""TEST-ONLY card-side RSA: certificates and dynamic signatures (EMV Book 2 5-6).

The keys in ``data/test_oda_keys.json`` are published on purpose and protect nothing.
This module plays the roles of the payment system CA (issuing the Issuer Public Key
Certificate, Book 2 Table 13), the issuer (the ICC Public Key Certificate, Table 14) and
the card (Signed Dynamic Application Data, Tables 17 and 19).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from emv.contactless.dynamic_auth import RsaPublicKey


@dataclass(frozen=True)
class RsaKey:
    modulus: int
    exponent: int
    private_exponent: int
    p: int
    q: int

    @property
    def length(self) -> int:
        return (self.modulus.bit_length() + 7) // 8

    @property
    def public(self) -> RsaPublicKey:
        return RsaPublicKey(self.modulus, self.exponent)

    @property
    def exponent_bytes(self) -> bytes:
        return self.exponent.to_bytes((self.exponent.bit_length() + 7) // 8, "big")

    @property
    def modulus_bytes(self) -> bytes:
        return self.modulus.to_bytes(self.length, "big")

    def sign_raw(self, block: bytes) -> bytes:
        """RSA private operation (CRT) on a block as long as the modulus."""
        m = int.from_bytes(block, "big")
        dp = self.private_exponent % (self.p - 1)
        dq = self.private_exponent % (self.q - 1)
        m1 = pow(m, dp, self.p)
        m2 = pow(m, dq, self.q)
        h = (pow(self.q, -1, self.p) * (m1 - m2)) % self.p
        return (m2 + h * self.q).to_bytes(self.length, "big")


def _key(row: dict[str, Any]) -> RsaKey:
    return RsaKey(
        int(row["modulus"], 16),
        int(row["exponent"], 16),
        int(row["private_exponent"], 16),
        int(row["p"], 16),
        int(row["q"], 16),
    )


@cache
def _keys() -> dict[str, Any]:
    text = resources.files("hardware_sim.contactless.data").joinpath("test_oda_keys.json")
    data: dict[str, Any] = json.loads(text.read_text())
    return data


def ca_key(rid: bytes) -> tuple[int, RsaKey]:
    row = _keys()["ca"][rid.hex().upper()]
    return int(row["index"], 16), _key(row)


def issuer_key(bin6: str) -> tuple[RsaKey, bytes, bytes]:
    """(key, expiry MMYY, serial) of the test issuer with this BIN."""
    row = _keys()["issuers"][bin6]
    return _key(row), bytes.fromhex(row["expiry"]), bytes.fromhex(row["serial"])


def icc_key(name: str) -> RsaKey:
    return _key(_keys()["icc"][name])


def sim_capk_lookup(rid: bytes, index: int) -> RsaPublicKey | None:
    """TEST-ONLY CA public keys matching the simulated cards (a ``CapkLookup``)."""
    row = _keys()["ca"].get(rid.hex().upper())
    if row is None or int(row["index"], 16) != index:
        return None
    return _key(row).public


def _pad(data: bytes, length: int) -> bytes:
    return data + b"\xbb" * (length - len(data))


def issuer_certificate(
    ca: RsaKey, issuer: RsaKey, bin6: str, expiry: bytes, serial: bytes
) -> tuple[bytes, bytes, bytes]:
    """Book 2 Table 13; returns (certificate 90, remainder 92, exponent 9F32)."""
    n_ca = ca.length
    modulus = issuer.modulus_bytes
    room = n_ca - 36
    leftmost, remainder = modulus[:room], modulus[room:]
    identifier = bytes.fromhex(bin6 + "FF")
    body = (
        b"\x02"
        + identifier
        + expiry
        + serial
        + bytes([0x01, 0x01, issuer.length, len(issuer.exponent_bytes)])
        + _pad(leftmost, room)
    )
    digest = hashlib.sha1(body + remainder + issuer.exponent_bytes).digest()
    block = b"\x6a" + body + digest + b"\xbc"
    return ca.sign_raw(block), remainder, issuer.exponent_bytes


def icc_certificate(
    issuer: RsaKey, icc: RsaKey, pan: str, expiry: bytes, serial: bytes, static_data: bytes
) -> tuple[bytes, bytes, bytes]:
    """Book 2 Table 14; returns (certificate 9F46, remainder 9F48, exponent 9F47)."""
    n_i = issuer.length
    modulus = icc.modulus_bytes
    room = n_i - 42
    leftmost, remainder = modulus[:room], modulus[room:]
    pan_field = bytes.fromhex(pan.ljust(20, "F"))
    body = (
        b"\x04"
        + pan_field
        + expiry
        + serial
        + bytes([0x01, 0x01, icc.length, len(icc.exponent_bytes)])
        + _pad(leftmost, room)
    )
    digest = hashlib.sha1(body + remainder + icc.exponent_bytes + static_data).digest()
    block = b"\x6a" + body + digest + b"\xbc"
    return issuer.sign_raw(block), remainder, icc.exponent_bytes


def signed_dynamic_data(icc: RsaKey, icc_dynamic_data: bytes, hashed_terminal_data: bytes) -> bytes:
    """Book 2 Table 17 (DDA/fDDA) and Table 19 (CDA): the SDAD 9F4B."""
    n = icc.length
    body = b"\x05\x01" + bytes([len(icc_dynamic_data)]) + icc_dynamic_data
    body = _pad(body, n - 22)
    digest = hashlib.sha1(body + hashed_terminal_data).digest()
    return icc.sign_raw(b"\x6a" + body + digest + b"\xbc")
