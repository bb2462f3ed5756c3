"""Terminal side of offline data authentication: SDA, DDA, CDA (EMV Book 2 sections 5 and 6,
Book 3 10.3).  Pure functions, no I/O.

The kernel calls, in order:

1. :func:`static_data_to_authenticate` while reading records (Book 3 10.3);
2. :func:`verify_sda` (Book 2 5), or :func:`recover_icc_key` (Book 2 6.1-6.4) then
   :func:`verify_dda` on the INTERNAL AUTHENTICATE response (6.5) or :func:`verify_cda` /
   :func:`verify_cda_response` on the GENERATE AC response (6.6);
3. :func:`recover_icc_pin_key` when the card carries an ICC PIN Encipherment Public Key
   Certificate (9F2D, Book 2 7.1) for offline enciphered PIN.

Every function returns a result saying ``ok`` and, when not, ``reason`` (one sentence) and
``icc_data_missing`` (a data object the method needs was absent).  The kernel maps results to
the TVR byte 1 bits: b7 SDA failed, b4 DDA failed, b3 CDA failed, b6 ICC data missing (and b2
SDA selected when SDA is chosen).  Only :func:`static_data_to_authenticate` and the ``parse_*``
helpers raise, and only :class:`OdaError`.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from crypto.rsa_emv import (
    HASH_ALGORITHM_SHA1,
    PAD_BYTE,
    PUBLIC_KEY_ALGORITHM_RSA,
    RECOVERED_DATA_HEADER,
    RECOVERED_DATA_TRAILER,
    SHA1_LENGTH,
    RsaEmvError,
    RsaPublicKey,
    recover,
)
from emv import tlv
from emv.capk import CapkStore, RevocationList
from emv.errors import EmvError, TlvError

TAG_PAN = 0x5A
TAG_AIP = 0x82
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
TAG_SDA_TAG_LIST = 0x9F4A
TAG_SIGNED_DYNAMIC_APPLICATION_DATA = 0x9F4B
TAG_CID = 0x9F27

FORMAT_ISSUER_CERTIFICATE = 0x02
FORMAT_SIGNED_STATIC_DATA = 0x03
FORMAT_ICC_CERTIFICATE = 0x04
FORMAT_SIGNED_DYNAMIC_DATA = 0x05


class OdaError(EmvError):
    """Offline data authentication failed; the message is one sentence for the log/screen."""

    def __init__(self, message: str, icc_data_missing: bool = False) -> None:
        super().__init__(message)
        self.icc_data_missing = icc_data_missing


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class IssuerKeyResult:
    ok: bool
    reason: str = ""
    icc_data_missing: bool = False
    key: RsaPublicKey | None = None
    certificate_serial: bytes = b""


@dataclass(frozen=True)
class SdaResult:
    ok: bool
    reason: str = ""
    icc_data_missing: bool = False
    data_authentication_code: bytes | None = None  # 9F45


@dataclass(frozen=True)
class IccKeyResult:
    ok: bool
    reason: str = ""
    icc_data_missing: bool = False
    key: RsaPublicKey | None = None
    issuer_key: RsaPublicKey | None = None


@dataclass(frozen=True)
class DdaResult:
    ok: bool
    reason: str = ""
    icc_data_missing: bool = False
    icc_dynamic_number: bytes | None = None  # 9F4C


@dataclass(frozen=True)
class CdaResult:
    ok: bool
    reason: str = ""
    icc_data_missing: bool = False
    icc_dynamic_number: bytes | None = None  # 9F4C
    cid: bytes | None = None  # 9F27
    application_cryptogram: bytes | None = None  # 9F26


# TVR byte 1 (Book 3 Annex C5)
TVR1_SDA_FAILED = 0x40
TVR1_ICC_DATA_MISSING = 0x20
TVR1_DDA_FAILED = 0x08
TVR1_CDA_FAILED = 0x04
TVR1_SDA_SELECTED = 0x02
_FAILED_BIT = {"sda": TVR1_SDA_FAILED, "dda": TVR1_DDA_FAILED, "cda": TVR1_CDA_FAILED}


def tvr_byte1(
    method: str, result: SdaResult | IccKeyResult | DdaResult | CdaResult | IssuerKeyResult
) -> int:
    """TVR byte 1 bits to set for ``method`` ("sda", "dda", "cda") after ``result``."""
    bits = TVR1_SDA_SELECTED if method == "sda" else 0
    if not result.ok:
        bits |= _FAILED_BIT[method]
        if result.icc_data_missing:
            bits |= TVR1_ICC_DATA_MISSING
    return bits


# ------------------------------------------------------------ static data (Book 3 10.3)


def static_data_to_authenticate(
    records: Sequence[tuple[int, bytes]],
    oda_record_flags: Sequence[bool],
    sda_tag_list: bytes | None,
    values: Mapping[int, bytes],
) -> bytes:
    """Static data to be authenticated (Book 3 10.3).

    ``records`` are (SFI, READ RECORD data field) in AFL order and ``oda_record_flags`` says
    which of them the AFL counts for offline data authentication.  SFI 1-10: the record must
    be a '70' template and only its value is used; SFI 11-30: the whole data field (tag and
    length included) is used.  Then the values of the tags in the Static Data Authentication
    Tag List (9F4A), which may list only the AIP (82), are appended from ``values``.
    Raises :class:`OdaError` when the data cannot be built (ODA then counts as failed).
    """
    if len(records) != len(oda_record_flags):
        raise OdaError("the record list and the ODA record flags differ in length")
    parts: list[bytes] = []
    for (sfi, record), flagged in zip(records, oda_record_flags, strict=True):
        if not flagged:
            continue
        if 1 <= sfi <= 10:
            try:
                template = tlv.decode_single(record, 0x70)
            except TlvError:
                raise OdaError(
                    f"a record of SFI {sfi} used for offline data authentication is not "
                    "coded as template 70"
                ) from None
            parts.append(template.value)
        elif 11 <= sfi <= 30:
            parts.append(bytes(record))
        else:
            raise OdaError(f"SFI {sfi} is outside 1-30")
    if sda_tag_list:
        for tag in parse_tag_list(sda_tag_list):
            if tag != TAG_AIP:
                raise OdaError(
                    f"the Static Data Authentication Tag List names {tlv.tag_hex(tag)}, "
                    "but only the AIP (82) is allowed"
                )
            aip = values.get(TAG_AIP)
            if aip is None:
                raise OdaError("the AIP listed in 9F4A is missing", icc_data_missing=True)
            parts.append(aip)
    return b"".join(parts)


def parse_tag_list(data: bytes) -> list[int]:
    """Tags of a tag list (no lengths, Book 3 5.4)."""
    tags = []
    offset = 0
    while offset < len(data):
        try:
            tag, offset = tlv.read_tag(data, offset)
        except TlvError as exc:
            raise OdaError(f"the tag list is malformed: {exc}") from None
        tags.append(tag)
    return tags


# ----------------------------------------------------------------------- helpers


def _digits(cn: bytes) -> str:
    """Digits of a compressed-numeric (F-padded) value."""
    text = cn.hex().upper().rstrip("F")
    if not text.isdigit():
        raise OdaError("a PAN or issuer identifier contains non-decimal digits")
    return text


def _check_expiry(mmyy: bytes, transaction_date: date, what: str) -> None:
    """The certificate is valid up to and including the last day of month MM of YY."""
    text = mmyy.hex()
    if not text.isdigit() or not 1 <= int(text[:2]) <= 12:
        raise OdaError(f"the {what} expiration date {text.upper()} is not a valid MMYY date")
    month, yy = int(text[:2]), int(text[2:])
    year = 2000 + yy if yy < 50 else 1900 + yy
    last = date(year, month, calendar.monthrange(year, month)[1])
    if last < transaction_date:
        raise OdaError(f"the {what} expired at the end of {month:02d}/{year}")


def _recover_block(key: RsaPublicKey, data: bytes, what: str, fmt: int) -> bytes:
    """Book 2 A2.1.3 and steps 1-4 of 5.3, 5.4, 6.3, 6.4, 6.5.2, 6.6.2."""
    if len(data) != key.length:
        raise OdaError(f"the {what} is {len(data)} bytes but the key modulus is {key.length}")
    try:
        block = recover(key, data)
    except RsaEmvError as exc:
        raise OdaError(f"the {what} cannot be recovered: {exc}") from None
    if block[-1] != RECOVERED_DATA_TRAILER:
        raise OdaError(f"the recovered {what} does not end with trailer BC")
    if block[0] != RECOVERED_DATA_HEADER:
        raise OdaError(f"the recovered {what} does not start with header 6A")
    if block[1] != fmt:
        raise OdaError(f"the recovered {what} has format {block[1]:02X}, expected {fmt:02X}")
    return block


def _check_hash(block: bytes, extra: bytes, what: str) -> None:
    """Hash over fields from the format byte to before the hash, plus ``extra``."""
    body, hash_result = block[1 : -1 - SHA1_LENGTH], block[-1 - SHA1_LENGTH : -1]
    if hashlib.sha1(body + extra).digest() != hash_result:  # noqa: S324 - Book 2 B2.1
        raise OdaError(f"the hash in the {what} does not match the data")


def _hash_algorithm(indicator: int, what: str) -> None:
    if indicator != HASH_ALGORITHM_SHA1:
        raise OdaError(f"the {what} uses unknown hash algorithm {indicator:02X}")


def _require(card_data: Mapping[int, bytes], tags: Sequence[int], method: str) -> None:
    missing = [tlv.tag_hex(t) for t in tags if not card_data.get(t)]
    if missing:
        raise OdaError(
            f"{method} cannot be performed: the card did not supply {', '.join(missing)}",
            icc_data_missing=True,
        )


# ------------------------------------------------ issuer public key (Book 2 5.3 / 6.3)


def parse_issuer_certificate(
    ca_key: RsaPublicKey,
    certificate: bytes,
    remainder: bytes,
    exponent: bytes,
    pan: bytes,
    transaction_date: date,
) -> tuple[RsaPublicKey, bytes]:
    """Recover the issuer public key (Book 2 5.3 steps 1-9, 11-12, Table 6); return it and
    the Certificate Serial Number.  Raises :class:`OdaError`."""
    what = "Issuer Public Key Certificate"
    block = _recover_block(ca_key, certificate, what, FORMAT_ISSUER_CERTIFICATE)
    issuer_id, expiry, serial = block[2:6], block[6:8], block[8:11]
    hash_alg, pk_alg, pk_len = block[11], block[12], block[13]
    leftmost = block[15 : ca_key.length - 21]
    _hash_algorithm(hash_alg, what)
    room = ca_key.length - 36
    if pk_len > room and not remainder:
        raise OdaError("the Issuer Public Key Remainder (92) is missing", icc_data_missing=True)
    _check_hash(block, remainder + exponent, what)
    id_digits = _digits(issuer_id)
    if not 3 <= len(id_digits) <= 8 or not _digits(pan).startswith(id_digits):
        raise OdaError("the issuer identifier in the certificate does not match the PAN")
    _check_expiry(expiry, transaction_date, "issuer certificate")
    if pk_alg != PUBLIC_KEY_ALGORITHM_RSA:
        raise OdaError(f"the issuer public key algorithm {pk_alg:02X} is not RSA")
    modulus = (leftmost + remainder)[:pk_len] if pk_len > room else leftmost[:pk_len]
    if pk_len <= room and leftmost[pk_len:].strip(bytes([PAD_BYTE])):
        raise OdaError("the issuer public key padding in the certificate is not BB")
    if len(modulus) != pk_len:
        raise OdaError("the issuer public key length does not match the certificate data")
    return RsaPublicKey(modulus, exponent), serial


def recover_issuer_key(
    capks: CapkStore,
    rid: bytes,
    card_data: Mapping[int, bytes],
    transaction_date: date,
    revocation: RevocationList | None = None,
) -> IssuerKeyResult:
    """CA key retrieval (Book 2 5.2) and issuer public key recovery (5.3 / 6.3)."""
    try:
        _require(
            card_data,
            (TAG_CAPK_INDEX, TAG_ISSUER_PK_CERTIFICATE, TAG_ISSUER_PK_EXPONENT, TAG_PAN),
            "offline data authentication",
        )
        index = card_data[TAG_CAPK_INDEX][0]
        capk = capks.get(rid, index, on=transaction_date)
        if capk is None:
            raise OdaError(
                f"the terminal has no valid CA public key for RID {rid[:5].hex().upper()} "
                f"index {index:02X}"
            )
        key, serial = parse_issuer_certificate(
            capk.public_key,
            card_data[TAG_ISSUER_PK_CERTIFICATE],
            card_data.get(TAG_ISSUER_PK_REMAINDER, b""),
            card_data[TAG_ISSUER_PK_EXPONENT],
            card_data[TAG_PAN],
            transaction_date,
        )
        if revocation is not None and revocation.is_revoked(rid, index, serial):
            raise OdaError(f"the issuer certificate (serial {serial.hex().upper()}) is revoked")
    except OdaError as exc:
        return IssuerKeyResult(False, str(exc), exc.icc_data_missing)
    return IssuerKeyResult(True, key=key, certificate_serial=serial)


# --------------------------------------------------------------------- SDA (Book 2 5.4)


def verify_sda(
    capks: CapkStore,
    rid: bytes,
    card_data: Mapping[int, bytes],
    static_data: bytes,
    transaction_date: date,
    revocation: RevocationList | None = None,
) -> SdaResult:
    """Static Data Authentication (Book 2 5): issuer key, then Signed Static Application Data
    (93, Table 7) hashed with the static data to be authenticated.  Returns the DAC (9F45)."""
    if not card_data.get(TAG_SIGNED_STATIC_APPLICATION_DATA):
        return SdaResult(False, "SDA cannot be performed: the card did not supply 93", True)
    issuer = recover_issuer_key(capks, rid, card_data, transaction_date, revocation)
    if not issuer.ok or issuer.key is None:
        return SdaResult(False, issuer.reason, issuer.icc_data_missing)
    what = "Signed Static Application Data"
    try:
        block = _recover_block(
            issuer.key,
            card_data[TAG_SIGNED_STATIC_APPLICATION_DATA],
            what,
            FORMAT_SIGNED_STATIC_DATA,
        )
        _hash_algorithm(block[2], what)
        _check_hash(block, static_data, what)
    except OdaError as exc:
        return SdaResult(False, str(exc), exc.icc_data_missing)
    return SdaResult(True, data_authentication_code=block[3:5])


# --------------------------------------------------- ICC public key (Book 2 6.4)


def parse_icc_certificate(
    issuer_key: RsaPublicKey,
    certificate: bytes,
    remainder: bytes,
    exponent: bytes,
    pan: bytes,
    static_data: bytes,
    transaction_date: date,
    label: str = "ICC",
) -> RsaPublicKey:
    """Recover the ICC public key (Book 2 6.4 steps 1-10, Table 14).  Raises OdaError.

    Also serves the ICC PIN Encipherment Public Key Certificate (7.1, Table 24: same layout,
    ``static_data`` empty) through :func:`parse_icc_pin_certificate`."""
    what = f"{label} Public Key Certificate"
    block = _recover_block(issuer_key, certificate, what, FORMAT_ICC_CERTIFICATE)
    cert_pan, expiry = block[2:12], block[12:14]
    hash_alg, pk_alg, pk_len = block[17], block[18], block[19]
    leftmost = block[21 : issuer_key.length - 21]
    _hash_algorithm(hash_alg, what)
    room = issuer_key.length - 42
    if pk_len > room and not remainder:
        tag = "9F48" if label == "ICC" else "9F2F"
        raise OdaError(f"the {label} Public Key Remainder ({tag}) is missing", True)
    _check_hash(block, remainder + exponent + static_data, what)
    if _digits(cert_pan) != _digits(pan):
        raise OdaError(f"the PAN in the {label} certificate does not match the card's PAN")
    _check_expiry(expiry, transaction_date, f"{label} certificate")
    if pk_alg != PUBLIC_KEY_ALGORITHM_RSA:
        raise OdaError(f"the {label} public key algorithm {pk_alg:02X} is not RSA")
    modulus = (leftmost + remainder)[:pk_len] if pk_len > room else leftmost[:pk_len]
    if pk_len <= room and leftmost[pk_len:].strip(bytes([PAD_BYTE])):
        raise OdaError(f"the {label} public key padding in the certificate is not BB")
    if len(modulus) != pk_len:
        raise OdaError(f"the {label} public key length does not match the certificate data")
    return RsaPublicKey(modulus, exponent)


def parse_icc_pin_certificate(
    issuer_key: RsaPublicKey,
    certificate: bytes,
    remainder: bytes,
    exponent: bytes,
    pan: bytes,
    transaction_date: date,
) -> RsaPublicKey:
    """Book 2 7.1: recover the ICC PIN Encipherment Public Key from 9F2D with the issuer key.

    Table 24 is Table 14 with the PIN key in it; the steps are those of 6.4 except that the
    hash (step 5) covers fields 2-10 || 9F2F remainder || 9F2E exponent only, without the
    static data to be authenticated.  Raises :class:`OdaError`."""
    return parse_icc_certificate(
        issuer_key,
        certificate,
        remainder,
        exponent,
        pan,
        b"",
        transaction_date,
        label="ICC PIN Encipherment",
    )


def recover_icc_pin_key(
    capks: CapkStore,
    rid: bytes,
    card_data: Mapping[int, bytes],
    transaction_date: date,
    revocation: RevocationList | None = None,
    issuer_key: RsaPublicKey | None = None,
) -> IccKeyResult:
    """Issuer key (Book 2 6.3, or the one ODA already recovered) then the ICC PIN
    Encipherment Public Key (7.1).  Only meaningful when 9F2D is present; a failure means
    offline enciphered PIN cannot be performed (the ICC public key is NOT used instead)."""
    try:
        _require(
            card_data,
            (TAG_ICC_PIN_PK_CERTIFICATE, TAG_ICC_PIN_PK_EXPONENT, TAG_PAN),
            "PIN encipherment",
        )
    except OdaError as exc:
        return IccKeyResult(False, str(exc), True)
    if issuer_key is None:
        issuer = recover_issuer_key(capks, rid, card_data, transaction_date, revocation)
        if not issuer.ok or issuer.key is None:
            return IccKeyResult(False, issuer.reason, issuer.icc_data_missing)
        issuer_key = issuer.key
    try:
        key = parse_icc_pin_certificate(
            issuer_key,
            card_data[TAG_ICC_PIN_PK_CERTIFICATE],
            card_data.get(TAG_ICC_PIN_PK_REMAINDER, b""),
            card_data[TAG_ICC_PIN_PK_EXPONENT],
            card_data[TAG_PAN],
            transaction_date,
        )
    except OdaError as exc:
        return IccKeyResult(False, str(exc), exc.icc_data_missing, issuer_key=issuer_key)
    return IccKeyResult(True, key=key, issuer_key=issuer_key)


def recover_icc_key(
    capks: CapkStore,
    rid: bytes,
    card_data: Mapping[int, bytes],
    static_data: bytes,
    transaction_date: date,
    revocation: RevocationList | None = None,
) -> IccKeyResult:
    """Issuer key (Book 2 6.3) then ICC public key (6.4) for DDA or CDA."""
    try:
        _require(card_data, (TAG_ICC_PK_CERTIFICATE, TAG_ICC_PK_EXPONENT), "DDA/CDA")
    except OdaError as exc:
        return IccKeyResult(False, str(exc), True)
    issuer = recover_issuer_key(capks, rid, card_data, transaction_date, revocation)
    if not issuer.ok or issuer.key is None:
        return IccKeyResult(False, issuer.reason, issuer.icc_data_missing)
    try:
        key = parse_icc_certificate(
            issuer.key,
            card_data[TAG_ICC_PK_CERTIFICATE],
            card_data.get(TAG_ICC_PK_REMAINDER, b""),
            card_data[TAG_ICC_PK_EXPONENT],
            card_data[TAG_PAN],
            static_data,
            transaction_date,
        )
    except OdaError as exc:
        return IccKeyResult(False, str(exc), exc.icc_data_missing, issuer_key=issuer.key)
    return IccKeyResult(True, key=key, issuer_key=issuer.key)


# ----------------------------------------- signed dynamic data (Book 2 6.5.2, 6.6.2)


def parse_signed_dynamic_data(icc_key: RsaPublicKey, sdad: bytes, hashed_extra: bytes) -> bytes:
    """Steps 1-7 of 6.5.2 / 6.6.2 (Table 17); return the ICC Dynamic Data.  Raises OdaError."""
    what = "Signed Dynamic Application Data"
    block = _recover_block(icc_key, sdad, what, FORMAT_SIGNED_DYNAMIC_DATA)
    _hash_algorithm(block[2], what)
    length = block[3]
    if length > icc_key.length - 25:
        raise OdaError("the ICC Dynamic Data length is larger than the signature allows")
    _check_hash(block, hashed_extra, what)
    return block[4 : 4 + length]


def _icc_dynamic_number(dynamic: bytes) -> tuple[bytes, bytes]:
    """Split ICC Dynamic Data into the ICC Dynamic Number and what follows (Tables 18/19)."""
    if not dynamic or not 2 <= dynamic[0] <= 8 or len(dynamic) < 1 + dynamic[0]:
        raise OdaError("the ICC Dynamic Number in the signed data is malformed")
    return dynamic[1 : 1 + dynamic[0]], dynamic[1 + dynamic[0] :]


def verify_dda(icc_key: RsaPublicKey, signed_dynamic_data: bytes, ddol_data: bytes) -> DdaResult:
    """Dynamic signature verification for DDA (Book 2 6.5.2): 9F4B from INTERNAL
    AUTHENTICATE hashed with the DDOL data the terminal sent.  Returns the ICC Dynamic
    Number (9F4C)."""
    if not signed_dynamic_data:
        return DdaResult(False, "DDA cannot be performed: the card did not supply 9F4B", True)
    try:
        dynamic = parse_signed_dynamic_data(icc_key, signed_dynamic_data, ddol_data)
        number, _ = _icc_dynamic_number(dynamic)
    except OdaError as exc:
        return DdaResult(False, str(exc), exc.icc_data_missing)
    return DdaResult(True, icc_dynamic_number=number)


def transaction_data_hash_code(
    pdol_data: bytes,
    cdol1_data: bytes,
    cdol2_data: bytes | None,
    response_template_value: bytes,
) -> bytes:
    """Transaction Data Hash Code (Book 2 6.6.1 / 6.6.2 step 10): SHA-1 over the PDOL data,
    the CDOL1 data, the CDOL2 data (second GENERATE AC only), and the data objects of the
    GENERATE AC response template 77, in the order received, excluding 9F4B.  Raises
    OdaError when the template is not valid BER-TLV."""
    kept: list[bytes] = []
    offset = 0
    data = bytes(response_template_value)
    try:
        while offset < len(data):
            if data[offset] in (0x00, 0xFF):
                offset += 1
                continue
            start = offset
            tag, offset = tlv.read_tag(data, offset)
            length, offset = tlv.read_length(data, offset)
            if offset + length > len(data):
                raise OdaError("the GENERATE AC response template is truncated")
            offset += length
            if tag != TAG_SIGNED_DYNAMIC_APPLICATION_DATA:
                kept.append(data[start:offset])
    except TlvError as exc:
        raise OdaError(f"the GENERATE AC response template is malformed: {exc}") from None
    hashed = pdol_data + cdol1_data + (cdol2_data or b"") + b"".join(kept)
    return hashlib.sha1(hashed).digest()  # noqa: S324 - Book 2 B2.1


def verify_cda(
    icc_key: RsaPublicKey,
    signed_dynamic_data: bytes,
    cid: bytes,
    unpredictable_number: bytes,
    transaction_data_hash: bytes,
) -> CdaResult:
    """Dynamic signature verification for CDA (Book 2 6.6.2).

    ``cid`` is 9F27 from the GENERATE AC response, ``unpredictable_number`` the 9F37 the
    terminal sent, ``transaction_data_hash`` from :func:`transaction_data_hash_code`.
    Returns the ICC Dynamic Number, CID and Application Cryptogram recovered from 9F4B.
    """
    if not signed_dynamic_data:
        return CdaResult(False, "CDA cannot be performed: the card did not supply 9F4B", True)
    if not cid:
        return CdaResult(False, "CDA cannot be performed: the card did not supply 9F27", True)
    try:
        dynamic = parse_signed_dynamic_data(icc_key, signed_dynamic_data, unpredictable_number)
        number, rest = _icc_dynamic_number(dynamic)
        if len(rest) < 1 + 8 + SHA1_LENGTH:
            raise OdaError("the CDA ICC Dynamic Data is too short for CID, AC and hash")
        signed_cid, ac, signed_hash = rest[:1], rest[1:9], rest[9 : 9 + SHA1_LENGTH]
        if signed_cid != cid:
            raise OdaError("the CID in the CDA signature differs from the CID in the response")
        if signed_hash != transaction_data_hash:
            raise OdaError("the Transaction Data Hash Code in the CDA signature does not match")
    except OdaError as exc:
        return CdaResult(False, str(exc), exc.icc_data_missing)
    return CdaResult(True, icc_dynamic_number=number, cid=signed_cid, application_cryptogram=ac)


def verify_cda_response(
    icc_key: RsaPublicKey,
    response_template_value: bytes,
    pdol_data: bytes,
    cdol1_data: bytes,
    cdol2_data: bytes | None,
    unpredictable_number: bytes,
) -> CdaResult:
    """:func:`verify_cda` on a whole GENERATE AC response (value of template 77)."""
    try:
        objects = tlv.flatten(tlv.decode(response_template_value))
        tdhc = transaction_data_hash_code(
            pdol_data, cdol1_data, cdol2_data, response_template_value
        )
    except (TlvError, OdaError) as exc:
        return CdaResult(False, f"the GENERATE AC response is malformed: {exc}")
    return verify_cda(
        icc_key,
        objects.get(TAG_SIGNED_DYNAMIC_APPLICATION_DATA, b""),
        objects.get(TAG_CID, b""),
        unpredictable_number,
        tdhc,
    )
