"""Card side of offline data authentication with the TEST-ONLY PKI (EMV Book 2).

Builds what an issuer's personalisation bureau writes into a card for SDA, DDA or CDA, and
performs the ICC's private-key operations during a transaction:

* Issuer Public Key Certificate, format 02 (Book 2 5.3 / 6.3, Table 6), signed by the test CA;
* Signed Static Application Data, format 03 (Book 2 5.4, Table 7), for SDA;
* ICC Public Key Certificate, format 04 (Book 2 6.4, Table 14), for DDA and CDA;
* ICC PIN Encipherment Public Key Certificate, format 04 (Book 2 7.1, Table 24: no static
  data in the hash) with a key pair of its own, when a profile asks for one;
* Signed Dynamic Application Data, format 05 (Book 2 6.5.1 Table 17 for DDA; 6.6.1 Table 19
  for CDA);
* the raw RSA private operation that deciphers an offline enciphered PIN (Book 2 7.2).

All keys come from the committed fixtures in ``hardware_sim/data/pki/`` (TEST-ONLY, made once
by :mod:`hardware_sim.make_test_pki`).  Signatures are deterministic.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from crypto.rsa_emv import (
    HASH_ALGORITHM_SHA1,
    PAD_BYTE,
    PUBLIC_KEY_ALGORITHM_RSA,
    RsaPrivateKey,
    RsaPublicKey,
    private_operation,
    sign_with_recovery,
)

METHODS = ("sda", "dda", "cda")

TAG_CAPK_INDEX = 0x8F
TAG_ISSUER_PK_CERTIFICATE = 0x90
TAG_ISSUER_PK_REMAINDER = 0x92
TAG_ISSUER_PK_EXPONENT = 0x9F32
TAG_SIGNED_STATIC_APPLICATION_DATA = 0x93
TAG_ICC_PK_CERTIFICATE = 0x9F46
TAG_ICC_PK_EXPONENT = 0x9F47
TAG_ICC_PK_REMAINDER = 0x9F48
TAG_ICC_PIN_PK_CERTIFICATE = 0x9F2D
TAG_ICC_PIN_PK_EXPONENT = 0x9F2E
TAG_ICC_PIN_PK_REMAINDER = 0x9F2F


class PkiError(ValueError):
    """A personalisation request the test PKI cannot serve (unknown issuer, bad PAN...)."""


@dataclass(frozen=True)
class IccKey:
    """The card's RSA key pair (TEST-ONLY).  ``public`` is what the ICC certificate carries;
    the same key serves as ICC PIN Encipherment key when no 9F2D certificate is personalised
    (Book 2 7.1).  ``pin_private`` is the separate ICC PIN Encipherment key when the card
    carries a 9F2D certificate; offline enciphered PINs are then deciphered with it."""

    private: RsaPrivateKey
    pin_private: RsaPrivateKey | None = None

    @property
    def public(self) -> RsaPublicKey:
        return self.private.public

    @property
    def pin_decipherment(self) -> RsaPrivateKey:
        return self.pin_private or self.private

    @property
    def length(self) -> int:
        return self.private.length


@dataclass(frozen=True)
class CaKey:
    rid: str
    index: int
    private: RsaPrivateKey


@dataclass(frozen=True)
class IssuerPki:
    issuer_id: str
    rid: str
    certificate_serial: bytes
    revoked_certificate_serial: bytes
    certificate_expiry_mmyy: bytes
    private: RsaPrivateKey


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("hardware_sim.data.pki").joinpath(name).read_text()
    )
    return data


def _private(row: dict[str, str]) -> RsaPrivateKey:
    return RsaPrivateKey(
        bytes.fromhex(row["modulus"]),
        bytes.fromhex(row["exponent"]),
        bytes.fromhex(row["private_exponent"]),
    )


@cache
def ca_key(rid: str) -> CaKey:
    """The TEST-ONLY certification authority key for a RID (A000000003 or A000000004)."""
    row = _read("test_ca_keys.json")["cas"].get(rid.upper())
    if row is None:
        raise PkiError(f"the test PKI has no certification authority for RID {rid}")
    return CaKey(rid.upper(), int(row["index"], 16), _private(row))


@cache
def issuer_pki(issuer_id: str) -> IssuerPki:
    """The TEST-ONLY issuer key pair and certificate parameters for a 6-digit issuer id."""
    row = _read("test_issuer_rsa_keys.json")["issuers"].get(issuer_id)
    if row is None:
        raise PkiError(f"the test PKI has no issuer {issuer_id}")
    return IssuerPki(
        issuer_id,
        row["rid"],
        bytes.fromhex(row["certificate_serial"]),
        bytes.fromhex(row["revoked_certificate_serial"]),
        bytes.fromhex(row["certificate_expiry_mmyy"]),
        _private(row),
    )


@cache
def icc_key(issuer_id: str) -> IccKey:
    """The TEST-ONLY ICC key pair shared by every simulated card of one issuer (each card's
    ICC certificate still binds it to that card's PAN and static data)."""
    row = _read("test_icc_rsa_keys.json")["iccs"].get(issuer_id)
    if row is None:
        raise PkiError(f"the test PKI has no ICC key for issuer {issuer_id}")
    return IccKey(_private(row))


@cache
def icc_pin_key(issuer_id: str) -> RsaPrivateKey:
    """The TEST-ONLY ICC PIN Encipherment key pair of an issuer's simulated cards."""
    row = _read("test_icc_pin_rsa_keys.json")["pin_keys"].get(issuer_id)
    if row is None:
        raise PkiError(f"the test PKI has no ICC PIN encipherment key for issuer {issuer_id}")
    return _private(row)


def _pad_f(digits: str, length: int) -> bytes:
    """Digits left-justified and padded with hex 'F' to ``length`` bytes (cn format)."""
    if not digits.isdigit() or len(digits) > 2 * length:
        raise PkiError(f"cannot code {len(digits)} digits in {length} bytes")
    return bytes.fromhex(digits.ljust(2 * length, "F"))


def _split_key(modulus: bytes, room: int) -> tuple[bytes, bytes]:
    """Leftmost part padded with BB to ``room`` bytes, and the remainder (Book 2 Tables 6/14)."""
    if len(modulus) <= room:
        return modulus + bytes([PAD_BYTE]) * (room - len(modulus)), b""
    return modulus[:room], modulus[room:]


def issuer_certificate(
    ca: CaKey,
    issuer: RsaPublicKey,
    issuer_identifier: str,
    expiry_mmyy: bytes,
    serial: bytes,
) -> tuple[bytes, bytes]:
    """Issuer Public Key Certificate (Table 6, format 02) and the remainder (92).

    Hash over fields 2-10 || remainder || exponent (Book 2 5.3 step 5).
    """
    room = ca.private.length - 36
    leftmost, remainder = _split_key(issuer.modulus, room)
    body = (
        b"\x02"
        + _pad_f(issuer_identifier, 4)
        + expiry_mmyy
        + serial
        + bytes(
            [HASH_ALGORITHM_SHA1, PUBLIC_KEY_ALGORITHM_RSA, issuer.length, len(issuer.exponent)]
        )
        + leftmost
    )
    return sign_with_recovery(ca.private, body, remainder + issuer.exponent), remainder


def icc_certificate(
    issuer: RsaPrivateKey,
    icc: RsaPublicKey,
    pan: str,
    expiry_mmyy: bytes,
    serial: bytes,
    static_data: bytes,
) -> tuple[bytes, bytes]:
    """ICC Public Key Certificate (Table 14, format 04) and the remainder (9F48).

    Hash over fields 2-10 || remainder || exponent || static data to be authenticated
    (Book 2 6.4 step 5).
    """
    room = issuer.length - 42
    leftmost, remainder = _split_key(icc.modulus, room)
    body = (
        b"\x04"
        + _pad_f(pan, 10)
        + expiry_mmyy
        + serial
        + bytes([HASH_ALGORITHM_SHA1, PUBLIC_KEY_ALGORITHM_RSA, icc.length, len(icc.exponent)])
        + leftmost
    )
    return sign_with_recovery(issuer, body, remainder + icc.exponent + static_data), remainder


def icc_pin_certificate(
    issuer: RsaPrivateKey,
    pin_key: RsaPublicKey,
    pan: str,
    expiry_mmyy: bytes,
    serial: bytes,
) -> tuple[bytes, bytes]:
    """ICC PIN Encipherment Public Key Certificate (Book 2 7.1 Table 24, format 04) and its
    remainder (9F2F).  Same layout as Table 14, but the hash covers fields 2-10 || remainder ||
    exponent only - no static data to be authenticated."""
    return icc_certificate(issuer, pin_key, pan, expiry_mmyy, serial, b"")


def signed_static_application_data(
    issuer: RsaPrivateKey, data_authentication_code: bytes, static_data: bytes
) -> bytes:
    """Signed Static Application Data (Table 7, format 03), hashed with the static data."""
    if len(data_authentication_code) != 2:
        raise PkiError("the Data Authentication Code is 2 bytes")
    pad = bytes([PAD_BYTE]) * (issuer.length - 26)
    body = b"\x03" + bytes([HASH_ALGORITHM_SHA1]) + data_authentication_code + pad
    return sign_with_recovery(issuer, body, static_data)


def _signed_dynamic_data(key: IccKey, icc_dynamic_data: bytes, hashed_extra: bytes) -> bytes:
    """Signed Dynamic Application Data (Table 17, format 05)."""
    pad_len = key.length - len(icc_dynamic_data) - 25
    if pad_len < 0:
        raise PkiError("the ICC dynamic data does not fit the ICC key")
    body = (
        b"\x05"
        + bytes([HASH_ALGORITHM_SHA1, len(icc_dynamic_data)])
        + icc_dynamic_data
        + bytes([PAD_BYTE]) * pad_len
    )
    return sign_with_recovery(key.private, body, hashed_extra)


def _icc_dynamic_number_field(icc_dynamic_number: bytes) -> bytes:
    if not 2 <= len(icc_dynamic_number) <= 8:
        raise PkiError("the ICC Dynamic Number is 2 to 8 bytes (Book 2 6.5.1)")
    return bytes([len(icc_dynamic_number)]) + icc_dynamic_number


def dda_signature(icc_key: IccKey, icc_dynamic_number: bytes, ddol_data: bytes) -> bytes:
    """9F4B for INTERNAL AUTHENTICATE (Book 2 6.5.1): hash over Table 17 fields 2-6 || DDOL
    data received in the command."""
    return _signed_dynamic_data(icc_key, _icc_dynamic_number_field(icc_dynamic_number), ddol_data)


def cda_signature(
    icc_key: IccKey,
    icc_dynamic_number: bytes,
    cid: bytes,
    ac: bytes,
    transaction_data_hash: bytes,
    unpredictable_number: bytes,
) -> bytes:
    """9F4B in the GENERATE AC response (Book 2 6.6.1).

    ICC Dynamic Data per Table 19: length || ICC Dynamic Number || CID || AC || Transaction
    Data Hash Code; the hash covers Table 17 fields 2-6 || the terminal's Unpredictable Number
    (9F37, 4 bytes, as received in the CDOL data).  Compute ``transaction_data_hash`` with
    :func:`emv.oda.transaction_data_hash_code`.
    """
    if len(cid) != 1 or len(ac) != 8 or len(transaction_data_hash) != 20:
        raise PkiError("CDA needs a 1-byte CID, an 8-byte AC and a 20-byte transaction hash")
    if len(unpredictable_number) != 4:
        raise PkiError("CDA needs the terminal's 4-byte Unpredictable Number (9F37)")
    dynamic = _icc_dynamic_number_field(icc_dynamic_number) + cid + ac + transaction_data_hash
    return _signed_dynamic_data(icc_key, dynamic, unpredictable_number)


def decipher_pin(icc_key: IccKey, enciphered: bytes) -> bytes:
    """Raw RSA private operation on an enciphered PIN block (Book 2 7.2); the card then checks
    the recovered ``7F || PIN block || ICC Unpredictable Number || random pad``."""
    return private_operation(icc_key.pin_decipherment, enciphered)


def _expiry_mmyy(expiry_yymmdd: bytes) -> bytes:
    if len(expiry_yymmdd) != 3:
        raise PkiError("the Application Expiration Date (5F24) is 3 bytes YYMMDD")
    return expiry_yymmdd[1:2] + expiry_yymmdd[0:1]


def _tamper(static_data: bytes) -> bytes:
    """The static data as it was *before* an alteration: signing this instead of the real
    data makes the terminal's hash check fail, exactly like a record changed after
    personalisation."""
    if not static_data:
        return b"\x00"
    return static_data[:-1] + bytes([static_data[-1] ^ 0x01])


def personalise_oda(
    method: str,
    issuer_id: str,
    pan: str,
    expiry_yymmdd: bytes,
    static_data: bytes,
    sda_tag_list_values: bytes,
    tampered: bool = False,
    revoked: bool = False,
    pin_key_certificate: bool = False,
) -> tuple[dict[int, bytes], IccKey | None]:
    """Data objects a card needs for ``method`` ("sda", "dda" or "cda").

    ``static_data`` is the concatenation of the records flagged for offline data
    authentication, as Book 3 10.3 defines it (value of 70 for SFI 1-10, whole record for SFI
    11-30) and ``sda_tag_list_values`` the values of the tags listed in 9F4A (i.e. the AIP);
    the records carrying the returned certificates must NOT themselves be flagged for ODA.

    Returns (tags, ICC key): 8F, 90, 9F32, 92 when the issuer key does not fit the
    certificate, and 93 for SDA or 9F46, 9F47 (9F48 when needed) for DDA/CDA; the ICC key is
    None for SDA.  ``tampered`` signs different static data (the terminal's hash check fails);
    ``revoked`` uses an issuer certificate serial listed in ``emv/data/revocation.json``.
    ``pin_key_certificate`` adds 9F2D, 9F2E (9F2F when needed) for a separate ICC PIN
    Encipherment key (Book 2 7.1); the returned key then deciphers PINs with it (for SDA the
    returned key is that PIN key only).
    """
    method = method.lower()
    if method not in METHODS:
        raise PkiError(f"unknown offline data authentication method {method!r}")
    if not pan.isdigit() or not pan.startswith(issuer_id):
        raise PkiError("the PAN does not belong to the issuer")
    issuer = issuer_pki(issuer_id)
    ca = ca_key(issuer.rid)
    signed_static = static_data + sda_tag_list_values
    if tampered:
        signed_static = _tamper(signed_static)
    serial = issuer.revoked_certificate_serial if revoked else issuer.certificate_serial
    cert, remainder = issuer_certificate(
        ca, issuer.private.public, issuer_id, issuer.certificate_expiry_mmyy, serial
    )
    tags: dict[int, bytes] = {
        TAG_CAPK_INDEX: bytes([ca.index]),
        TAG_ISSUER_PK_CERTIFICATE: cert,
        TAG_ISSUER_PK_EXPONENT: issuer.private.exponent,
    }
    if remainder:
        tags[TAG_ISSUER_PK_REMAINDER] = remainder
    pin_private = None
    if pin_key_certificate:
        pin_private = icc_pin_key(issuer_id)
        pin_serial = hashlib.sha1(b"PIN" + pan.encode()).digest()[:3]  # noqa: S324 - any serial
        pin_cert, pin_remainder = icc_pin_certificate(
            issuer.private, pin_private.public, pan, _expiry_mmyy(expiry_yymmdd), pin_serial
        )
        tags[TAG_ICC_PIN_PK_CERTIFICATE] = pin_cert
        tags[TAG_ICC_PIN_PK_EXPONENT] = pin_private.exponent
        if pin_remainder:
            tags[TAG_ICC_PIN_PK_REMAINDER] = pin_remainder
    if method == "sda":
        dac = hashlib.sha1(b"DAC" + pan.encode()).digest()[:2]  # noqa: S324 - any 2 bytes
        tags[TAG_SIGNED_STATIC_APPLICATION_DATA] = signed_static_application_data(
            issuer.private, dac, signed_static
        )
        return tags, (IccKey(pin_private, pin_private) if pin_private else None)
    key = icc_key(issuer_id)
    if pin_private is not None:
        key = IccKey(key.private, pin_private)
    icc_serial = hashlib.sha1(b"ICC" + pan.encode()).digest()[:3]  # noqa: S324 - any serial
    icc_cert, icc_remainder = icc_certificate(
        issuer.private, key.public, pan, _expiry_mmyy(expiry_yymmdd), icc_serial, signed_static
    )
    tags[TAG_ICC_PK_CERTIFICATE] = icc_cert
    tags[TAG_ICC_PK_EXPONENT] = key.public.exponent
    if icc_remainder:
        tags[TAG_ICC_PK_REMAINDER] = icc_remainder
    return tags, key
