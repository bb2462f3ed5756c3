"""EMV QR Code Specification for Payment Systems (EMV QRCPS), Merchant-Presented Mode v1.1.

Pure and deterministic: builds and parses the payload string a merchant shows as a QR code.

* 4.1 - data objects are ``ID`` (2 digits) + ``Length`` (2 digits, counted in characters)
  + ``Value``; 4.3 - ID ``00`` comes first and ID ``63`` (CRC) last.
* 4.6 - Payload Format Indicator ``00`` = ``"01"``; Point of Initiation Method ``01`` =
  ``"11"`` (static, same code for many payments) or ``"12"`` (dynamic, one payment).
* 4.7 - Merchant Account Information templates ``26``-``51`` (sub-ID ``00`` is the globally
  unique identifier of the network), ``52`` MCC, ``53`` currency (ISO 4217 numeric), ``54``
  amount (digits with an optional ``.``, at most 13 characters), ``58`` country (ISO 3166
  alpha-2), ``59`` merchant name, ``60`` merchant city, ``61`` postal code, ``62`` Additional
  Data Field template (``05`` Reference Label, ``07`` Terminal Label, ...), ``64`` language
  template.
* 4.7.3 - CRC ``63`` is CRC-16/CCITT-FALSE (ISO/IEC 13239: polynomial ``1021``, initial
  ``FFFF``) over the whole payload up to and including ``"6304"``, as 4 upper-case hex
  digits.  The payload is UTF-8 (the spec's Appendix A example carries Chinese text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emv.errors import EmvError

STATIC = "11"
DYNAMIC = "12"
_AMOUNT = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")
_ALPHA2 = re.compile(r"^[A-Z]{2}$")


class QrPayloadError(EmvError):
    """A merchant-presented QR payload that does not follow EMV QRCPS MPM."""


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def data_object(ident: str, value: str) -> str:
    """One ID/Length/Value object (4.1); the length counts characters, 01-99."""
    if len(ident) != 2 or not ident.isdigit():
        raise QrPayloadError(f"data object ID '{ident}' must be two digits")
    if not 0 < len(value) <= 99:
        raise QrPayloadError(f"data object {ident} must hold 1-99 characters, not {len(value)}")
    return f"{ident}{len(value):02d}{value}"


def parse_objects(text: str) -> list[tuple[str, str]]:
    """Split a payload or a template's value into its (ID, value) pairs, in order."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        head = text[pos : pos + 4]
        if len(head) < 4 or not head.isdigit():
            raise QrPayloadError(f"data object at character {pos} has no ID and length")
        length = int(head[2:])
        value = text[pos + 4 : pos + 4 + length]
        if length == 0 or len(value) != length:
            raise QrPayloadError(
                f"data object {head[:2]} at character {pos} is shorter than its length {length}"
            )
        out.append((head[:2], value))
        pos += 4 + length
    return out


def format_amount(minor: int, exponent: int) -> str:
    """Minor units to the ``54`` form: ``2372`` with exponent 2 -> ``"23.72"``."""
    if minor < 0:
        raise QrPayloadError("the transaction amount must not be negative")
    if exponent == 0:
        text = str(minor)
    else:
        major, rest = divmod(minor, 10**exponent)
        text = f"{major}.{rest:0{exponent}d}"
    if len(text) > 13:
        raise QrPayloadError("the transaction amount is longer than 13 characters")
    return text


def amount_to_minor(text: str, exponent: int) -> int:
    """The ``54`` value back to minor units; refuses more decimals than the currency has."""
    if not _AMOUNT.match(text):
        raise QrPayloadError(f"transaction amount '{text}' is not a number")
    major, _, decimals = text.partition(".")
    if len(decimals.rstrip("0")) > exponent:
        raise QrPayloadError(f"transaction amount '{text}' has more than {exponent} decimals")
    decimals = (decimals + "0" * exponent)[:exponent]
    scale: int = 10**exponent
    return int(major or "0") * scale + int(decimals or "0")


@dataclass
class MerchantPresentedPayload:
    """The data objects of one MPM payload (4.7); templates keep their sub-objects."""

    merchant_accounts: dict[str, list[tuple[str, str]] | str]  # ID 02-51
    merchant_category_code: str
    currency_numeric: str
    country_code: str
    merchant_name: str
    merchant_city: str
    amount: str | None = None
    point_of_initiation: str | None = DYNAMIC
    postal_code: str | None = None
    additional_data: list[tuple[str, str]] = field(default_factory=list)  # template 62
    other: list[tuple[str, str]] = field(default_factory=list)  # 55-57, 64, 65-99 as read
    payload_format: str = "01"
    crc: str = ""

    @property
    def dynamic(self) -> bool:
        return self.point_of_initiation == DYNAMIC

    def additional(self, sub_id: str) -> str | None:
        return next((v for i, v in self.additional_data if i == sub_id), None)

    @property
    def reference_label(self) -> str | None:
        """Additional Data Field ``05``: the reference of this payment."""
        return self.additional("05")

    @property
    def terminal_label(self) -> str | None:
        return self.additional("07")

    def account(self, ident: str) -> list[tuple[str, str]] | str | None:
        return self.merchant_accounts.get(ident)


def _check_fields(p: MerchantPresentedPayload) -> None:
    if p.payload_format != "01":
        raise QrPayloadError("payload format indicator (00) must be '01'")
    if p.point_of_initiation not in (None, STATIC, DYNAMIC):
        raise QrPayloadError("point of initiation method (01) must be '11' or '12'")
    if not p.merchant_accounts:
        raise QrPayloadError("at least one merchant account information object (02-51)")
    for ident in p.merchant_accounts:
        if not (ident.isdigit() and len(ident) == 2 and 2 <= int(ident) <= 51):
            raise QrPayloadError(f"merchant account information ID '{ident}' is not 02-51")
    if len(p.merchant_category_code) != 4 or not p.merchant_category_code.isdigit():
        raise QrPayloadError("merchant category code (52) must be 4 digits")
    if len(p.currency_numeric) != 3 or not p.currency_numeric.isdigit():
        raise QrPayloadError("transaction currency (53) must be a 3-digit ISO 4217 code")
    if p.amount is not None and (not _AMOUNT.match(p.amount) or len(p.amount) > 13):
        raise QrPayloadError("transaction amount (54) must be digits and '.', 13 at most")
    if not _ALPHA2.match(p.country_code):
        raise QrPayloadError("country code (58) must be an ISO 3166-1 alpha-2 code")
    if not 0 < len(p.merchant_name) <= 25:
        raise QrPayloadError("merchant name (59) must be 1-25 characters")
    if not 0 < len(p.merchant_city) <= 15:
        raise QrPayloadError("merchant city (60) must be 1-15 characters")


def build(payload: MerchantPresentedPayload) -> str:
    """The payload string, IDs in ascending order (4.3), CRC appended (4.7.3)."""
    _check_fields(payload)
    objects: list[tuple[str, str]] = [("00", payload.payload_format)]
    if payload.point_of_initiation:
        objects.append(("01", payload.point_of_initiation))
    for ident, value in payload.merchant_accounts.items():
        text = value if isinstance(value, str) else "".join(data_object(*o) for o in value)
        objects.append((ident, text))
    objects += [("52", payload.merchant_category_code), ("53", payload.currency_numeric)]
    if payload.amount is not None:
        objects.append(("54", payload.amount))
    objects += [
        ("58", payload.country_code),
        ("59", payload.merchant_name),
        ("60", payload.merchant_city),
    ]
    if payload.postal_code:
        objects.append(("61", payload.postal_code))
    if payload.additional_data:
        objects.append(("62", "".join(data_object(*o) for o in payload.additional_data)))
    objects += payload.other
    objects.sort(key=lambda o: o[0])
    body = "".join(data_object(i, v) for i, v in objects) + "6304"
    return body + f"{crc16_ccitt_false(body.encode('utf-8')):04X}"


def parse(text: str, *, verify_crc: bool = True) -> MerchantPresentedPayload:
    """Parse and check one payload; raises :class:`QrPayloadError` with the reason."""
    text = text.strip()
    objects = parse_objects(text)
    if not objects or objects[0] != ("00", "01"):
        raise QrPayloadError("the payload does not start with payload format indicator 000201")
    if objects[-1][0] != "63" or len(objects[-1][1]) != 4:
        raise QrPayloadError("the payload does not end with a 4-character CRC (63)")
    crc = objects[-1][1]
    if verify_crc:
        expected = f"{crc16_ccitt_false(text[:-4].encode('utf-8')):04X}"
        if crc.upper() != expected:
            raise QrPayloadError(f"CRC mismatch: the payload says {crc}, its data gives {expected}")
    seen: set[str] = set()
    fields: dict[str, str] = {}
    accounts: dict[str, list[tuple[str, str]] | str] = {}
    additional: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    for ident, value in objects[1:-1]:
        if ident in seen:
            raise QrPayloadError(f"data object {ident} appears twice")
        seen.add(ident)
        number = int(ident)
        if 2 <= number <= 25:
            accounts[ident] = value  # primitive: card-scheme merchant ids (4.7.1)
        elif 26 <= number <= 51:
            accounts[ident] = parse_objects(value)
        elif ident == "62":
            additional = parse_objects(value)
        elif ident in ("01", "52", "53", "54", "58", "59", "60", "61"):
            fields[ident] = value
        else:
            other.append((ident, value))
    missing = [i for i in ("52", "53", "58", "59", "60") if i not in fields]
    if missing:
        raise QrPayloadError(f"mandatory data object(s) {', '.join(missing)} missing")
    payload = MerchantPresentedPayload(
        merchant_accounts=accounts,
        merchant_category_code=fields["52"],
        currency_numeric=fields["53"],
        country_code=fields["58"],
        merchant_name=fields["59"],
        merchant_city=fields["60"],
        amount=fields.get("54"),
        point_of_initiation=fields.get("01"),
        postal_code=fields.get("61"),
        additional_data=additional,
        other=other,
        crc=crc,
    )
    _check_fields(payload)
    return payload
