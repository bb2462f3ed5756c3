"""Dynamic offline data authentication for the contactless kernels (EMV Book 2 5-6).

One call per kernel: :func:`verify_fdda` (Book C-3 fDDA: Book 2 6.5 with the terminal
dynamic data ``9F37 || 9F02 || 5F2A || 9F69``) and :func:`verify_cda` (Book 2 6.6,
used by Book C-2).  Both first recover the Issuer Public Key (Book 2 6.3) and the ICC
Public Key (Book 2 6.4) from the certificates.  Failures raise :class:`OdaError` with one
sentence naming the check that failed; kernels map it to "ODA failed" in the TVR.

When the shared ``emv.oda`` module lands, these functions become thin adapters to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from emv.errors import EmvError

SHA1 = 0x01
RSA = 0x01


class OdaError(EmvError):
    """Offline data authentication failed."""


@dataclass(frozen=True)
class RsaPublicKey:
    modulus: int
    exponent: int

    @property
    def length(self) -> int:
        return (self.modulus.bit_length() + 7) // 8


CapkLookup = Callable[[bytes, int], RsaPublicKey | None]
"""(RID, CA Public Key Index 8F) -> the Certification Authority Public Key, or None."""


def _recover(key: RsaPublicKey, data: bytes, what: str) -> bytes:
    if len(data) != key.length:
        raise OdaError(f"{what} is {len(data)} bytes but the key modulus is {key.length}")
    value = int.from_bytes(data, "big")
    if value >= key.modulus:
        raise OdaError(f"{what} is not below the key modulus")
    recovered = pow(value, key.exponent, key.modulus).to_bytes(key.length, "big")
    if recovered[0] != 0x6A or recovered[-1] != 0xBC:
        raise OdaError(f"{what} does not recover to a 6A...BC block")
    return recovered


def _expired(mmyy: bytes, today: date) -> bool:
    try:
        month = int(mmyy[:1].hex())
        year = 2000 + int(mmyy[1:2].hex())
    except ValueError:
        return True
    if not 1 <= month <= 12:
        return True
    return (year, month) < (today.year, today.month)


def _pan_matches(identifier: bytes, pan: str) -> bool:
    digits = identifier.hex().upper().rstrip("F")
    return len(digits) >= 3 and pan.startswith(digits)


def recover_issuer_key(
    capk: RsaPublicKey, card: Mapping[int, bytes], pan: str, today: date
) -> RsaPublicKey:
    """Book 2 6.3: Issuer Public Key from certificate 90, remainder 92, exponent 9F32."""
    cert = card.get(0x90)
    exponent = card.get(0x9F32)
    if cert is None or exponent is None:
        raise OdaError("the card gave no Issuer Public Key Certificate or exponent")
    x = _recover(capk, cert, "the Issuer Public Key Certificate")
    n_ca = capk.length
    if x[1] != 0x02 or x[11] != SHA1 or x[12] != RSA:
        raise OdaError("the Issuer Public Key Certificate has the wrong format")
    remainder = card.get(0x92, b"")
    digest = hashlib.sha1(x[1 : n_ca - 21] + remainder + exponent).digest()
    if digest != x[n_ca - 21 : n_ca - 1]:
        raise OdaError("the Issuer Public Key Certificate hash does not match")
    if not _pan_matches(x[2:6], pan):
        raise OdaError("the Issuer Identifier does not match the PAN")
    if _expired(x[6:8], today):
        raise OdaError("the Issuer Public Key Certificate has expired")
    n_i = x[13]
    leftmost = x[15 : n_ca - 21]
    modulus = leftmost[:n_i] if n_i <= n_ca - 36 else leftmost + remainder
    if len(modulus) != n_i:
        raise OdaError("the Issuer Public Key Remainder is missing or the wrong length")
    return RsaPublicKey(int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"))


def recover_icc_key(
    issuer_key: RsaPublicKey,
    card: Mapping[int, bytes],
    pan: str,
    static_data: bytes,
    today: date,
) -> RsaPublicKey:
    """Book 2 6.4: ICC Public Key from 9F46, remainder 9F48, exponent 9F47."""
    cert = card.get(0x9F46)
    exponent = card.get(0x9F47)
    if cert is None or exponent is None:
        raise OdaError("the card gave no ICC Public Key Certificate or exponent")
    x = _recover(issuer_key, cert, "the ICC Public Key Certificate")
    n_i = issuer_key.length
    if x[1] != 0x04 or x[17] != SHA1 or x[18] != RSA:
        raise OdaError("the ICC Public Key Certificate has the wrong format")
    remainder = card.get(0x9F48, b"")
    digest = hashlib.sha1(x[1 : n_i - 21] + remainder + exponent + static_data).digest()
    if digest != x[n_i - 21 : n_i - 1]:
        raise OdaError("the ICC Public Key Certificate hash does not match the card data")
    cert_pan = x[2:12].hex().upper().rstrip("F")
    if cert_pan != pan:
        raise OdaError("the ICC Public Key Certificate was issued for another PAN")
    if _expired(x[12:14], today):
        raise OdaError("the ICC Public Key Certificate has expired")
    n_ic = x[19]
    leftmost = x[21 : n_i - 21]
    modulus = leftmost[:n_ic] if n_ic <= n_i - 42 else leftmost + remainder
    if len(modulus) != n_ic:
        raise OdaError("the ICC Public Key Remainder is missing or the wrong length")
    return RsaPublicKey(int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"))


def _icc_key(
    capk_lookup: CapkLookup,
    rid: bytes,
    card: Mapping[int, bytes],
    pan: str,
    static_data: bytes,
    today: date,
) -> RsaPublicKey:
    index = card.get(0x8F)
    if index is None or len(index) != 1:
        raise OdaError("the card gave no Certification Authority Public Key Index")
    capk = capk_lookup(rid, index[0])
    if capk is None:
        raise OdaError(f"no CA public key {rid.hex().upper()}/{index[0]:02X} in the terminal")
    issuer = recover_issuer_key(capk, card, pan, today)
    return recover_icc_key(issuer, card, pan, static_data, today)


def _recover_sdad(icc: RsaPublicKey, sdad: bytes | None) -> tuple[bytes, bytes]:
    """Book 2 6.5.2 steps 1-4: return (recovered block, ICC dynamic data)."""
    if sdad is None:
        raise OdaError("the card gave no Signed Dynamic Application Data")
    x = _recover(icc, sdad, "the Signed Dynamic Application Data")
    if x[1] != 0x05 or x[2] != SHA1:
        raise OdaError("the Signed Dynamic Application Data has the wrong format")
    length = x[3]
    if 4 + length > icc.length - 21:
        raise OdaError("the ICC Dynamic Data length is impossible")
    return x, x[4 : 4 + length]


def verify_fdda(
    capk_lookup: CapkLookup,
    rid: bytes,
    card: Mapping[int, bytes],
    pan: str,
    static_data: bytes,
    terminal_dynamic_data: bytes,
    today: date,
) -> bytes:
    """fDDA (Book C-3 5.8, Book 2 6.5): verify 9F4B; return the ICC Dynamic Number."""
    icc = _icc_key(capk_lookup, rid, card, pan, static_data, today)
    x, dynamic = _recover_sdad(icc, card.get(0x9F4B))
    n = icc.length
    if hashlib.sha1(x[1 : n - 21] + terminal_dynamic_data).digest() != x[n - 21 : n - 1]:
        raise OdaError("the dynamic signature does not match this transaction")
    if not dynamic or dynamic[0] + 1 > len(dynamic):
        raise OdaError("the ICC Dynamic Number is missing")
    return dynamic[1 : 1 + dynamic[0]]


@dataclass(frozen=True)
class CdaResult:
    icc_dynamic_number: bytes
    cryptogram_information_data: int
    application_cryptogram: bytes


def verify_cda(
    capk_lookup: CapkLookup,
    rid: bytes,
    card: Mapping[int, bytes],
    pan: str,
    static_data: bytes,
    unpredictable_number: bytes,
    transaction_data: bytes,
    today: date,
) -> CdaResult:
    """CDA (Book 2 6.6.2): verify 9F4B from GENERATE AC; return the AC it carries.

    ``transaction_data`` is PDOL data || CDOL1 data || the GENERATE AC response objects
    except 9F4B, which the Transaction Data Hash Code covers (Book 2 6.6.1).
    """
    icc = _icc_key(capk_lookup, rid, card, pan, static_data, today)
    x, dynamic = _recover_sdad(icc, card.get(0x9F4B))
    n = icc.length
    if hashlib.sha1(x[1 : n - 21] + unpredictable_number).digest() != x[n - 21 : n - 1]:
        raise OdaError("the CDA signature does not match this transaction")
    ldn = dynamic[0] if dynamic else 0
    if len(dynamic) != 1 + ldn + 1 + 8 + 20:
        raise OdaError("the CDA ICC Dynamic Data has the wrong length")
    cid = dynamic[1 + ldn]
    ac = dynamic[2 + ldn : 10 + ldn]
    if hashlib.sha1(transaction_data).digest() != dynamic[10 + ldn :]:
        raise OdaError("the CDA Transaction Data Hash Code does not match")
    expected_cid = card.get(0x9F27)
    if expected_cid is None or expected_cid[0] != cid:
        raise OdaError("the CDA Cryptogram Information Data does not match the response")
    return CdaResult(dynamic[1 : 1 + ldn], cid, ac)
