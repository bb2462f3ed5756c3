"""Building and parsing the terminal's ISO 8583:1987 messages (pure, sans-I/O).

Messages are pyiso8583 documents (``dict[str, str]``: field number -> value, binary fields as
upper-case hex) encoded with :data:`acquirer_client.spec.SPEC`.  Covered (ISO 8583:1987 4.1):

* 0100/0110 authorisation, 0200/0210 financial (purchase, cash, cashback, refund);
* 0220/0230 advice (offline approval, completion);
* 0400/0410 reversal with DE 90 original data elements;
* 0500/0510 reconciliation (one message per currency), 0800/0810 network management.

Any unreadable input raises :class:`MessageError` with one sentence; full PAN, track 2 and PIN
data never appear in error text or in :func:`describe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import iso8583

from acquirer_client.spec import KNOWN_FIELDS, NUMERIC_FIELDS, SPEC
from emv import tlv
from emv.errors import TlvError
from emv.ports import AuthorisationRequest, AuthorisationResponse, OnlinePin

IsoDoc = dict[str, str]

REQUEST_MTIS = frozenset({"0100", "0200", "0220", "0320", "0400", "0420", "0500", "0800"})
RESPONSE_MTIS = frozenset(str(int(m) + 10).zfill(4) for m in REQUEST_MTIS)

# EMV transaction type (9C) -> ISO 8583 processing code positions 1-2 (DE 3).
PROCESSING_CODES: dict[int, str] = {0x00: "00", 0x01: "01", 0x09: "09", 0x20: "20"}

# DE 70 network management information codes (ISO 8583:1987 Annex).
NETWORK_SIGN_ON = "001"
NETWORK_SIGN_OFF = "002"
NETWORK_KEY_EXCHANGE = "101"
NETWORK_ECHO = "301"

# DE 55 templates whose raw TLV goes to the card as issuer scripts (Book 3 10.10).
SCRIPT_TEMPLATES = (0x71, 0x72)
TAG_ISSUER_AUTHENTICATION_DATA = 0x91


class MessageError(ValueError):
    """An ISO 8583 message could not be built or read; the text is one sentence."""


@dataclass(frozen=True)
class TerminalIdentity:
    """Who sends: DE 41 terminal id (ans 8), DE 42 merchant id (ans 15), DE 32 acquirer."""

    terminal_id: str
    merchant_id: str
    acquirer_id: str = "000000"

    def __post_init__(self) -> None:
        if not (1 <= len(self.terminal_id) <= 8 and self.terminal_id.isascii()):
            raise MessageError("the terminal id must be 1 to 8 ASCII characters.")
        if not (1 <= len(self.merchant_id) <= 15 and self.merchant_id.isascii()):
            raise MessageError("the merchant id must be 1 to 15 ASCII characters.")
        if not (self.acquirer_id.isdigit() and len(self.acquirer_id) <= 11):
            raise MessageError("the acquirer id must be 1 to 11 digits.")


def mask_pan(pan: str) -> str:
    """PCI DSS display masking: first 6 and last 4 digits at most."""
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


# --------------------------------------------------------------------------- encode/decode


def encode(doc: Mapping[str, str]) -> bytes:
    """Serialise a document; a field that does not fit the spec raises :class:`MessageError`."""
    _validate(doc, "outgoing")
    try:
        raw, _ = iso8583.encode(dict(doc), SPEC)
    except iso8583.EncodeError as exc:
        raise MessageError(f"cannot build ISO 8583 message: {_safe_reason(exc)}.") from None
    return bytes(raw)


def decode(data: bytes) -> IsoDoc:
    """Parse and validate a received message (MTI, bitmap, every field's length and type)."""
    return decode_with_icc(data)[0]


def decode_with_icc(data: bytes) -> tuple[IsoDoc, list[tlv.Tlv]]:
    """:func:`decode`, also returning DE 55 as decoded TLV (empty when absent).

    Validation decodes DE 55 anyway; a host that needs the ICC data keeps that one parse
    instead of calling :func:`icc_data` again.
    """
    try:
        doc, _ = iso8583.decode(bytes(data), SPEC)
    except iso8583.DecodeError as exc:
        raise MessageError(f"unreadable ISO 8583 message: {_safe_reason(exc)}.") from None
    except (ValueError, KeyError, IndexError, TypeError, UnicodeError):
        raise MessageError("unreadable ISO 8583 message: malformed field data.") from None
    doc.pop("p", None)
    doc.pop("1", None)
    return doc, _validate(doc, "received")


def _safe_reason(exc: Exception) -> str:
    """pyiso8583 errors name the field and position but never echo the data."""
    reason = getattr(exc, "errmsg", None) or str(exc)
    field = getattr(exc, "field", None)
    if field is not None and f"field {field}" not in reason:
        reason = f"{reason}: field {field}"
    return reason.rstrip(".")


def _validate(doc: Mapping[str, str], direction: str) -> list[tlv.Tlv]:
    """Check MTI, field numbers and types; return DE 55 decoded (empty when absent)."""
    mti = doc.get("t", "")
    if mti not in REQUEST_MTIS and mti not in RESPONSE_MTIS:
        raise MessageError(f"{direction} ISO 8583 message has unsupported type '{mti[:4]}'.")
    for key, value in doc.items():
        if key not in KNOWN_FIELDS:
            raise MessageError(f"{direction} ISO 8583 message has unknown field {key}.")
        if key in NUMERIC_FIELDS and not (value.isascii() and value.isdigit()):
            raise MessageError(f"{direction} ISO 8583 field {key} must be numeric.")
    if "39" in doc and not (doc["39"].isascii() and doc["39"].isalnum()):
        raise MessageError(f"{direction} ISO 8583 response code (DE 39) is not alphanumeric.")
    if "55" not in doc:
        return []
    try:
        return tlv.decode(bytes.fromhex(doc["55"]))
    except (TlvError, ValueError):
        raise MessageError(f"{direction} ICC data (DE 55) is not valid BER-TLV.") from None


# --------------------------------------------------------------------------- field helpers


def processing_code(transaction_type: int) -> str:
    """DE 3: transaction type (EMV 9C) || from account 00 || to account 00."""
    code = PROCESSING_CODES.get(transaction_type)
    if code is None:
        raise MessageError(f"transaction type {transaction_type:02X} has no processing code.")
    return code + "0000"


def amount_field(amount_minor: int) -> str:
    if not 0 <= amount_minor <= 999_999_999_999:
        raise MessageError("the amount must be between 0 and 999999999999 minor units.")
    return f"{amount_minor:012d}"


def pos_entry_mode(mode: str) -> str:
    """DE 22 n3: PAN entry (05 chip, 07 contactless chip, 80 fallback, 91 contactless MSD)."""
    if len(mode) != 3 or not mode.isdigit() or mode[:2] not in ("05", "07", "80", "91", "90"):
        raise MessageError(f"POS entry mode '{mode}' is not a chip, contactless or fallback mode.")
    return mode


def track2_field(track2_equivalent: bytes) -> str:
    """DE 35 from EMV tag 57: hex digits, separator D -> '=', trailing F pad removed."""
    text = track2_equivalent.hex().upper().rstrip("F").replace("D", "=")
    if not text or any(c not in "0123456789=" for c in text) or text.count("=") != 1:
        raise MessageError("the track 2 equivalent data is malformed.")
    return text


def icc_data_field(emv_data: Mapping[int, bytes]) -> str:
    return tlv.encode_many(emv_data.items()).hex().upper()


def icc_data(doc: Mapping[str, str]) -> list[tlv.Tlv]:
    """The decoded DE 55 objects (empty when absent)."""
    raw = doc.get("55")
    if not raw:
        return []
    try:
        return tlv.decode(bytes.fromhex(raw))
    except (TlvError, ValueError):
        raise MessageError("ICC data (DE 55) is not valid BER-TLV.") from None


def original_data_elements(original: Mapping[str, str]) -> str:
    """DE 90 n42: original MTI, STAN, transmission date/time, acquirer id, forwarder id."""
    return (
        original["t"]
        + original["11"]
        + original.get("7", "0" * 10)
        + original.get("32", "").rjust(11, "0")
        + "0" * 11
    )


def _identity_fields(terminal: TerminalIdentity) -> IsoDoc:
    return {
        "32": terminal.acquirer_id,
        "41": terminal.terminal_id.ljust(8),
        "42": terminal.merchant_id.ljust(15),
    }


def _time_fields(when: datetime, stan: int) -> IsoDoc:
    if not 1 <= stan <= 999_999:
        raise MessageError("the STAN must be between 1 and 999999.")
    return {
        "7": when.strftime("%m%d%H%M%S"),
        "11": f"{stan:06d}",
        "12": when.strftime("%H%M%S"),
        "13": when.strftime("%m%d"),
    }


# --------------------------------------------------------------------------- requests


def card_request(
    request: AuthorisationRequest,
    terminal: TerminalIdentity,
    stan: int,
    when: datetime,
    mti: str = "0200",
) -> IsoDoc:
    """0100 authorisation, 0200 financial or 0220 advice built from the kernel's request."""
    if mti not in ("0100", "0200", "0220"):
        raise MessageError(f"{mti} is not a card transaction request.")
    pan = request.pan
    if not (pan.isdigit() and 12 <= len(pan) <= 19):
        raise MessageError("the PAN must be 12 to 19 digits.")
    doc: IsoDoc = {"t": mti, "2": pan, "3": processing_code(request.transaction_type)}
    doc["4"] = amount_field(request.amount_minor)
    doc.update(_time_fields(when, stan))
    if request.expiry_yymm:
        doc["14"] = request.expiry_yymm
    doc["22"] = pos_entry_mode(request.pos_entry_mode)
    if request.pan_sequence_number:
        doc["23"] = request.pan_sequence_number.zfill(3)[-3:]
    doc["25"] = "00"
    doc.update(_identity_fields(terminal))
    if request.track2_equivalent:
        doc["35"] = track2_field(request.track2_equivalent)
    doc["49"] = f"{request.currency_numeric:03d}"
    if request.online_pin is not None:
        doc.update(pin_fields(request.online_pin))
    if request.other_amount_minor:
        doc["54"] = f"0040{request.currency_numeric:03d}D{request.other_amount_minor:012d}"
    if request.emv_data:
        doc["55"] = icc_data_field(request.emv_data)
    if request.biometric_block and mti != "0220":  # never parked in the advice queue
        doc["62"] = request.biometric_block.hex().upper()
    return doc


def pin_fields(pin: OnlinePin) -> IsoDoc:
    """DE 52 encrypted PIN block and DE 53 the DUKPT KSN (ANSI X9.24-1 / X9.24-3).

    8 bytes for ISO 9564 format 0 under TDES DUKPT, 16 bytes for format 4 under AES DUKPT.
    """
    if len(pin.encrypted_block) not in (8, 16):
        raise MessageError("DE 52 carries an 8-byte (TDES) or 16-byte (AES) PIN block.")
    if len(pin.ksn) not in (10, 12):
        raise MessageError("the DUKPT KSN must be 10 (TDES) or 12 (AES) bytes.")
    return {"52": pin.encrypted_block.hex().upper(), "53": pin.ksn.hex().upper()}


def reversal_request(original: Mapping[str, str], when: datetime) -> IsoDoc:
    """0400 reversal of an original request (ISO 8583:1987 4.1.3.4).

    Carries the original's STAN, amount and processing code plus DE 90, so that a retry is the
    same message and the host can de-duplicate on (DE 41, DE 11, DE 90).  It carries no card
    data (DE 2/14/23/35/52/55): the host finds the original by DE 90, and a reversal waiting in
    the store-and-forward queue holds no PAN at rest.
    """
    keep = ("3", "4", "11", "22", "32", "41", "42", "49")
    doc: IsoDoc = {"t": "0400"}
    doc.update({k: original[k] for k in keep if k in original})
    doc["7"] = when.strftime("%m%d%H%M%S")
    doc["12"] = original.get("12", when.strftime("%H%M%S"))
    doc["13"] = original.get("13", when.strftime("%m%d"))
    doc["25"] = "00"
    doc["90"] = original_data_elements(original)
    return doc


def network_request(code: str, terminal: TerminalIdentity, stan: int, when: datetime) -> IsoDoc:
    """0800 network management: sign-on 001, sign-off 002, key exchange 101, echo 301."""
    if code not in (NETWORK_SIGN_ON, NETWORK_SIGN_OFF, NETWORK_KEY_EXCHANGE, NETWORK_ECHO):
        raise MessageError(f"network management code {code} is not supported.")
    doc: IsoDoc = {"t": "0800", "7": when.strftime("%m%d%H%M%S"), "11": f"{stan:06d}"}
    doc.update(_identity_fields(terminal))
    doc["70"] = code
    return doc


@dataclass(frozen=True)
class CurrencyTotals:
    """Batch totals of one currency (counts and minor-unit amounts)."""

    currency_numeric: int
    credits_count: int = 0
    credits_amount: int = 0
    debits_count: int = 0
    debits_amount: int = 0
    credit_reversals_count: int = 0
    credit_reversals_amount: int = 0
    debit_reversals_count: int = 0
    debit_reversals_amount: int = 0

    @property
    def net_amount(self) -> int:
        """Net settlement from the acquirer's view: debits owed to the merchant minus credits."""
        debits = self.debits_amount - self.debit_reversals_amount
        credits = self.credits_amount - self.credit_reversals_amount
        return debits - credits


def reconciliation_request(
    totals: CurrencyTotals, terminal: TerminalIdentity, stan: int, when: datetime, batch: int
) -> IsoDoc:
    """0500 acquirer reconciliation request for one currency (DE 74-77, 86-89, 97)."""
    doc: IsoDoc = {"t": "0500", "7": when.strftime("%m%d%H%M%S"), "11": f"{stan:06d}"}
    doc["15"] = when.strftime("%m%d")
    doc.update(_identity_fields(terminal))
    doc["49"] = f"{totals.currency_numeric:03d}"
    doc["60"] = f"{batch:06d}"
    doc.update(totals_fields(totals))
    return doc


def totals_fields(totals: CurrencyTotals) -> IsoDoc:
    net = totals.net_amount
    return {
        "74": f"{totals.credits_count:010d}",
        "75": f"{totals.credit_reversals_count:010d}",
        "76": f"{totals.debits_count:010d}",
        "77": f"{totals.debit_reversals_count:010d}",
        "86": f"{totals.credits_amount:016d}",
        "87": f"{totals.credit_reversals_amount:016d}",
        "88": f"{totals.debits_amount:016d}",
        "89": f"{totals.debit_reversals_amount:016d}",
        "97": ("D" if net >= 0 else "C") + f"{abs(net):016d}",
    }


def totals_from(doc: Mapping[str, str]) -> CurrencyTotals:
    try:
        return CurrencyTotals(
            int(doc["49"]),
            int(doc["74"]),
            int(doc["86"]),
            int(doc["76"]),
            int(doc["88"]),
            int(doc["75"]),
            int(doc["87"]),
            int(doc["77"]),
            int(doc["89"]),
        )
    except (KeyError, ValueError):
        raise MessageError("reconciliation message lacks its totals (DE 74-89).") from None


# --------------------------------------------------------------------------- responses


def response_to(request: Mapping[str, str], response_code: str, **fields: str) -> IsoDoc:
    """The response a host sends: MTI + 10, the request's matching fields echoed, DE 39."""
    mti = request.get("t", "")
    if mti not in REQUEST_MTIS:
        raise MessageError(f"cannot answer message type '{mti[:4]}'.")
    echo = ("2", "3", "4", "7", "11", "12", "13", "22", "23", "32", "41", "42", "49", "70")
    doc: IsoDoc = {"t": f"{int(mti) + 10:04d}"}
    doc.update({k: request[k] for k in echo if k in request})
    doc["39"] = response_code
    for key, value in fields.items():
        doc[key.removeprefix("de")] = value
    return doc


def check_response_matches(request: Mapping[str, str], response: Mapping[str, str]) -> None:
    """The response must be the request's MTI + 10, same STAN and same terminal id."""
    want = f"{int(request['t']) + 10:04d}"
    if response.get("t") != want:
        raise MessageError(f"expected a {want} response but received {response.get('t')}.")
    if response.get("11") != request.get("11"):
        raise MessageError("the response STAN (DE 11) does not match the request.")
    if response.get("41") != request.get("41"):
        raise MessageError("the response terminal id (DE 41) does not match the request.")
    if "39" not in response:
        raise MessageError("the response has no response code (DE 39).")


def authorisation_response(doc: Mapping[str, str]) -> AuthorisationResponse:
    """Map a 0110/0210 to the kernel's :class:`AuthorisationResponse` (Book 3 10.9, 10.10).

    DE 55 tag 91 -> issuer authentication data; templates 71/72 -> issuer scripts as raw TLV.
    """
    objects = icc_data(doc)
    iad = tlv.find(objects, TAG_ISSUER_AUTHENTICATION_DATA)
    scripts = b"".join(o.encode() for o in objects if o.tag in SCRIPT_TEMPLATES)
    return AuthorisationResponse(
        response_code=doc.get("39", ""),
        auth_code=doc.get("38", "").strip(),
        issuer_authentication_data=iad.value if iad is not None else None,
        issuer_scripts=scripts,
        stan=doc.get("11", ""),
        rrn=doc.get("37", "").strip(),
        message=doc.get("44", "").strip(),
    )


def describe(doc: Mapping[str, str]) -> str:
    """A log-safe one-line summary: PAN masked, no track 2, PIN block, KSN or ICC data."""
    parts = [f"MTI {doc.get('t', '?')}"]
    if "2" in doc:
        parts.append(f"PAN {mask_pan(doc['2'])}")
    for key, name in (("3", "PC"), ("4", "amount"), ("11", "STAN"), ("39", "RC"), ("41", "TID")):
        if key in doc:
            parts.append(f"{name} {doc[key].strip()}")
    return ", ".join(parts)
