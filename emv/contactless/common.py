"""Pieces both contactless kernels share: terminal data, READ RECORD, the online request.

* :func:`terminal_data` - the reader's data objects for PDOL/CDOL building (Book 3 5.4).
* :func:`read_records` - READ RECORD over the AFL (Book 3 10.2) collecting the static data
  to be authenticated (Book 3 10.3, Book 2 5.4 / 6.4: records in SFI 1-10 contribute the
  value of their '70' template, and the AIP when the SDA Tag List 9F4A is '82').
* :func:`authorisation_request` - the ISO 8583 DE 55 data and the request fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crypto.emv_cryptogram import AC_DATA_TAGS
from emv import tlv
from emv.apdu import ApduChannel, read_record
from emv.contactless.entry_point import KernelContext
from emv.errors import EmvError
from emv.ports import AuthorisationRequest

POS_ENTRY_CONTACTLESS_CHIP = "071"  # DE 22: 07 contactless chip, 1 PIN entry capable

# Tags sent online in DE 55 (the cryptogram set first, then the contactless extras).
DE55_TAGS: tuple[int, ...] = AC_DATA_TAGS + (
    0x9F26,
    0x9F27,
    0x84,
    0x9F09,
    0x9F33,
    0x9F34,
    0x9F35,
    0x9F66,
    0x9F6C,
    0x9F6E,
    0x5F34,
)


class CardDataError(EmvError):
    """The card's records break the EMV rules (bad AFL, duplicate or malformed data)."""


def bcd(value: int, length: int) -> bytes:
    return bytes.fromhex(str(value).rjust(length * 2, "0")[-length * 2 :])


def terminal_data(ctx: KernelContext, unpredictable_number: bytes) -> dict[int, bytes]:
    """Reader-side data objects available to the card's DOLs."""
    txn = ctx.transaction
    now = ctx.clock.now()
    term = ctx.terminal
    return {
        0x9F02: bcd(txn.amount_minor, 6),
        0x9F03: bcd(txn.other_amount_minor, 6),
        0x9F1A: term.country_code,
        0x95: bytes(5),
        0x5F2A: bcd(txn.currency_numeric, 2),
        0x5F36: bytes([txn.currency_exponent]),
        0x9A: bytes.fromhex(now.strftime("%y%m%d")),
        0x9F21: bytes.fromhex(now.strftime("%H%M%S")),
        0x9C: bytes([txn.transaction_type]),
        0x9F37: unpredictable_number,
        0x9F35: bytes([term.terminal_type]),
        0x9F33: term.terminal_capabilities,
        0x9F40: term.additional_capabilities,
        0x9F15: term.merchant_category_code,
        0x9F66: ctx.indicators.ttq,
        0x9F09: b"\x00\x02",
        0x9F34: b"\x3f\x00\x00",
    }


@dataclass
class CardData:
    """Data objects the card returned, plus the static data to be authenticated."""

    values: dict[int, bytes] = field(default_factory=dict)
    static_data: bytearray = field(default_factory=bytearray)
    oda_record_error: bool = False

    def add(self, objects: list[tlv.Tlv]) -> None:
        for obj in tlv.iter_primitives(objects):
            if obj.tag in self.values:
                raise CardDataError(f"the card returned tag {tlv.tag_hex(obj.tag)} twice")
            self.values[obj.tag] = obj.value


def parse_afl(afl: bytes) -> list[tuple[int, int, int, int]]:
    """Book 3 10.2: AFL entries (SFI, first, last, records for ODA)."""
    if len(afl) % 4:
        raise CardDataError("the Application File Locator is not a multiple of 4 bytes")
    out = []
    for i in range(0, len(afl), 4):
        sfi, first, last, oda = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
        if not 1 <= sfi <= 30 or first == 0 or last < first or oda > last - first + 1:
            raise CardDataError("the Application File Locator has an invalid entry")
        out.append((sfi, first, last, oda))
    return out


def read_records(channel: ApduChannel, afl: bytes, card: CardData) -> None:
    """READ RECORD for every AFL entry; CardRemovedError propagates to the kernel."""
    for sfi, first, last, oda in parse_afl(afl):
        for number in range(first, last + 1):
            response = channel.send(read_record(sfi, number))
            if not response.ok:
                raise CardDataError(
                    f"READ RECORD {sfi}/{number} failed with status {response.sw_hex}"
                )
            try:
                record = tlv.decode_single(response.data)
            except EmvError as exc:
                raise CardDataError(f"record {sfi}/{number} is malformed: {exc}") from exc
            for_oda = number - first < oda
            if record.tag != 0x70:
                if for_oda:
                    card.oda_record_error = True
                raise CardDataError(f"record {sfi}/{number} is not a '70' template")
            if for_oda:
                card.static_data += record.value if sfi <= 10 else record.encode()
            card.add(list(record.children or ()))


def static_data_to_authenticate(card: CardData) -> bytes:
    """Book 2 5.4: add the AIP when the SDA Tag List (9F4A) names it."""
    tag_list = card.values.get(0x9F4A)
    extra = b""
    if tag_list is not None:
        if tag_list != b"\x82":
            raise CardDataError("the SDA Tag List may only name the AIP (82)")
        extra = card.values.get(0x82, b"")
    return bytes(card.static_data) + extra


def pan_and_expiry(values: dict[int, bytes]) -> tuple[str, str]:
    """PAN and YYMM from 5A/5F24, falling back to Track 2 Equivalent Data (57)."""
    pan = values.get(0x5A, b"").hex().upper().rstrip("F")
    expiry = values.get(0x5F24, b"").hex()[:4]
    track2 = values.get(0x57, b"").hex().upper()
    if "D" in track2:
        t2_pan, rest = track2.split("D", 1)
        pan = pan or t2_pan
        expiry = expiry or rest[:4]
    if not pan or not pan.isdigit() or not 12 <= len(pan) <= 19:
        raise CardDataError("the card gave no usable PAN")
    if len(expiry) != 4 or not expiry.isdigit():
        raise CardDataError("the card gave no usable expiry date")
    return pan, expiry


def mask_pan(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def authorisation_request(
    ctx: KernelContext, data: dict[int, bytes], pan: str, expiry: str
) -> AuthorisationRequest:
    emv_data = {tag: data[tag] for tag in DE55_TAGS if tag in data}
    emv_data[0x84] = ctx.adf_name
    txn = ctx.transaction
    psn = data.get(0x5F34, b"\x00").hex()[-2:]
    return AuthorisationRequest(
        amount_minor=txn.amount_minor,
        other_amount_minor=txn.other_amount_minor,
        currency_numeric=txn.currency_numeric,
        transaction_type=txn.transaction_type,
        pan=pan,
        pan_sequence_number=psn,
        expiry_yymm=expiry,
        emv_data=emv_data,
        pos_entry_mode=POS_ENTRY_CONTACTLESS_CHIP,
        track2_equivalent=data.get(0x57),
    )
