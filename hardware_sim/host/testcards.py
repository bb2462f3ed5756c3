"""TEST-ONLY online requests with a genuine ARQC, for tests, benches and the host's self-check.

The card simulator computes the same ARQC (``crypto.emv_cryptogram``); this builds the DE 55
data a card would have produced, without a card, so the acquirer link can be exercised alone.
"""

from __future__ import annotations

from crypto.emv_cryptogram import application_cryptogram
from crypto.emv_keys import derive_icc_master_key_option_a
from emv.ports import AuthorisationRequest, OnlinePin
from hardware_sim.test_keys import issuer_for_pan

VISA_TEST_PAN = "4761739001010010"


def luhn_complete(partial: str) -> str:
    """Append the Luhn check digit to ``partial``."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return partial + str((10 - total % 10) % 10)


def emv_data(
    pan: str,
    amount_minor: int,
    *,
    psn: str = "01",
    atc: int = 1,
    unpredictable: bytes = bytes.fromhex("11223344"),
    transaction_type: int = 0x00,
    currency_numeric: int = 978,
    other_amount_minor: int = 0,
    date_yymmdd: str = "261124",
    valid_arqc: bool = True,
) -> dict[int, bytes]:
    """The ARQC data set of ``crypto.emv_cryptogram.AC_DATA_TAGS`` plus 9F26/9F27."""
    values: dict[int, bytes] = {
        0x9F02: bytes.fromhex(f"{amount_minor:012d}"),
        0x9F03: bytes.fromhex(f"{other_amount_minor:012d}"),
        0x9F1A: bytes.fromhex(f"{currency_numeric:04d}"),
        0x95: bytes(5),
        0x5F2A: bytes.fromhex(f"{currency_numeric:04d}"),
        0x9A: bytes.fromhex(date_yymmdd),
        0x9C: bytes([transaction_type]),
        0x9F37: unpredictable,
        0x82: bytes.fromhex("1980"),
        0x9F36: atc.to_bytes(2, "big"),
        0x9F10: bytes.fromhex("06010A03A00000"),
    }
    keys = issuer_for_pan(pan)
    if keys is not None:
        mk = derive_icc_master_key_option_a(keys.imk_ac, pan, psn)
        arqc = application_cryptogram(mk, values)
    else:
        arqc = bytes(8)
    if not valid_arqc:
        arqc = bytes(b ^ 0x01 for b in arqc)
    values[0x9F26] = arqc
    values[0x9F27] = b"\x80"
    return values


def online_request(
    pan: str = VISA_TEST_PAN,
    amount_minor: int = 1000,
    *,
    psn: str = "01",
    atc: int = 1,
    expiry_yymm: str = "2812",
    transaction_type: int = 0x00,
    other_amount_minor: int = 0,
    pos_entry_mode: str = "051",
    online_pin: OnlinePin | None = None,
    valid_arqc: bool = True,
    currency_numeric: int = 978,
) -> AuthorisationRequest:
    return AuthorisationRequest(
        amount_minor=amount_minor,
        other_amount_minor=other_amount_minor,
        currency_numeric=currency_numeric,
        transaction_type=transaction_type,
        pan=pan,
        pan_sequence_number=psn,
        expiry_yymm=expiry_yymm,
        emv_data=emv_data(
            pan,
            amount_minor,
            psn=psn,
            atc=atc,
            transaction_type=transaction_type,
            other_amount_minor=other_amount_minor,
            valid_arqc=valid_arqc,
            currency_numeric=currency_numeric,
        ),
        pos_entry_mode=pos_entry_mode,
        online_pin=online_pin,
    )
