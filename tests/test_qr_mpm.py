"""EMV QRCPS Merchant-Presented Mode payloads (emv.qr) against published examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emv import qr
from terminal.config import build_settings
from terminal.money import currency
from terminal.qrpay import build_payload, new_reference

# The worked example of EMV QRCPS MPM v1.1 Appendix A (quoted verbatim by, e.g., the
# dongri/emv-qrcode README and the steplix/emvqr README), CRC A13A.
SPEC_EXAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678"
    "520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京"
    "540523.7253031565502016233030412340603***0708A60086670902ME"
    "91320016A0112233449988770708123456786304A13A"
)
# dongri/emv-qrcode README: its encoder's output for a dynamic JPY code, CRC 3FE6.
DONGRI_EXAMPLE = (
    "0002010102121516ABCDEF123456789052045311530339254039995802JP5906DONGRI6005TOKYO"
    "62240104hoge0504fuga0704piyo63043FE6"
)


def test_crc_is_ccitt_false_with_its_check_value() -> None:
    assert qr.crc16_ccitt_false(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value
    assert qr.crc16_ccitt_false(SPEC_EXAMPLE[:-4].encode()) == 0xA13A


def test_spec_appendix_a_example_parses_field_by_field() -> None:
    p = qr.parse(SPEC_EXAMPLE)
    assert p.payload_format == "01" and p.point_of_initiation == "12" and p.dynamic
    assert p.merchant_accounts["29"] == [("00", "D15600000000"), ("05", "A93FO3230Q")]
    assert p.merchant_accounts["31"] == [("00", "D15600000001"), ("03", "12345678")]
    assert (p.merchant_category_code, p.currency_numeric, p.amount) == ("4111", "156", "23.72")
    assert (p.country_code, p.merchant_name, p.merchant_city) == ("CN", "BEST TRANSPORT", "BEIJING")
    assert p.additional_data == [("03", "1234"), ("06", "***"), ("07", "A6008667"), ("09", "ME")]
    assert p.terminal_label == "A6008667"
    assert ("64", "0002ZH0104最佳运输0202北京") in p.other  # lengths count characters
    assert ("55", "01") in p.other
    assert p.crc == "A13A"
    assert qr.amount_to_minor(p.amount, 2) == 2372


def test_builder_reproduces_a_published_payload_byte_for_byte() -> None:
    p = qr.parse(DONGRI_EXAMPLE)
    assert p.merchant_accounts == {"15": "ABCDEF1234567890"}
    assert p.amount == "999" and p.currency_numeric == "392"
    assert p.reference_label == "fuga"
    assert qr.build(p) == DONGRI_EXAMPLE


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (SPEC_EXAMPLE[:-1] + "B", "CRC mismatch"),
        (SPEC_EXAMPLE.replace("BEIJING", "BEIJINX"), "CRC mismatch"),
        ("000202" + SPEC_EXAMPLE[6:], "does not start"),
        (SPEC_EXAMPLE[:-8], "does not end"),
        ("0002010102", "shorter than its length"),
        ("", "does not start"),
    ],
)
def test_damaged_payloads_are_refused_with_the_reason(payload: str, reason: str) -> None:
    with pytest.raises(qr.QrPayloadError, match=reason):
        qr.parse(payload)


def test_missing_mandatory_object_is_named() -> None:
    body = "000201010212" + "26150011com.example" + "52045411" + "5303978" + "5802DE" + "6304"
    text = body + f"{qr.crc16_ccitt_false(body.encode()):04X}"
    with pytest.raises(qr.QrPayloadError, match="59, 60 missing"):
        qr.parse(text)


def test_amount_conversions() -> None:
    assert qr.format_amount(1234, 2) == "12.34"
    assert qr.format_amount(5, 2) == "0.05"
    assert qr.format_amount(999, 0) == "999"
    assert qr.format_amount(1, 3) == "0.001"
    assert qr.amount_to_minor("12.3", 2) == 1230
    assert qr.amount_to_minor("12", 2) == 1200
    with pytest.raises(qr.QrPayloadError, match="more than 2 decimals"):
        qr.amount_to_minor("1.234", 2)
    with pytest.raises(qr.QrPayloadError, match="not a number"):
        qr.amount_to_minor("1,00", 2)


def test_terminal_payload_carries_the_sale() -> None:
    settings = build_settings({}, "test")
    reference = new_reference()
    text = build_payload(settings, 1234, currency("EUR"), reference)
    p = qr.parse(text)
    assert p.dynamic and p.amount == "12.34" and p.currency_numeric == "978"
    assert p.reference_label == reference and p.terminal_label == "POS00001"
    assert (p.country_code, p.merchant_name, p.merchant_city) == ("DE", "Sim Shop", "Berlin")
    assert p.merchant_category_code == "5411"
    assert p.merchant_accounts["26"] == [("00", "com.example.simqr"), ("01", "SIMMERCHANT0001")]
    assert reference.startswith("QR") and len(reference) == 16 and not reference.isdigit()
    jpy = qr.parse(build_payload(settings, 500, currency("JPY"), reference))
    assert (jpy.amount, jpy.currency_numeric) == ("500", "392")


_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("äé最北"),
    min_size=1,
    max_size=15,
)


@given(
    amount=st.integers(min_value=0, max_value=10**11),
    exponent=st.sampled_from([0, 2, 3]),
    name=_text,
    city=_text,
    reference=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=25),
)
def test_build_then_parse_round_trips(
    amount: int, exponent: int, name: str, city: str, reference: str
) -> None:
    payload = qr.MerchantPresentedPayload(
        merchant_accounts={"26": [("00", "com.example.simqr")]},
        merchant_category_code="5411",
        currency_numeric="978",
        country_code="DE",
        merchant_name=name,
        merchant_city=city,
        amount=qr.format_amount(amount, exponent),
        additional_data=[("05", reference)],
    )
    text = qr.build(payload)
    back = qr.parse(text)
    assert back.reference_label == reference
    assert (back.merchant_name, back.merchant_city) == (name, city)
    assert back.amount is not None and qr.amount_to_minor(back.amount, exponent) == amount
    assert qr.build(back) == text


@given(st.text(max_size=200))
def test_any_text_is_parsed_or_refused_with_a_sentence(text: str) -> None:
    try:
        qr.parse(text)
    except qr.QrPayloadError as exc:
        assert str(exc)


def test_every_single_character_change_is_caught() -> None:
    for position, original in enumerate(SPEC_EXAMPLE):
        for char in "0Z9.":
            if char == original:
                continue
            damaged = SPEC_EXAMPLE[:position] + char + SPEC_EXAMPLE[position + 1 :]
            with pytest.raises(qr.QrPayloadError):
                qr.parse(damaged)
