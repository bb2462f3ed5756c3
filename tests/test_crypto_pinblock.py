"""ISO 9564-1 PIN blocks: published examples and a hypothesis cross-check against ``psec``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psec import pinblock as oracle

from crypto import pinblock as pb

PINS = st.text("0123456789", min_size=4, max_size=12)
PANS_13 = st.text("0123456789", min_size=13, max_size=19)  # psec needs >= 13 for formats 0/3
PANS = st.text("0123456789", min_size=8, max_size=19)
AES_KEYS = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))


def test_format0_x924_annex_a_block() -> None:
    # X9.24-1:2009 A.4: PIN 1234, PAN 4012345678909 -> 041274EDCBA9876F
    assert pb.encode_format0("1234", "4012345678909").hex().upper() == "041274EDCBA9876F"
    assert pb.decode_format0(bytes.fromhex("041274EDCBA9876F"), "4012345678909") == "1234"


def test_format1_and_2_layout() -> None:
    assert pb.encode_format2("1234").hex().upper() == "241234FFFFFFFFFF"
    assert pb.decode_format2(bytes.fromhex("241234FFFFFFFFFF")) == "1234"
    block = pb.encode_format1("123456", bytes.fromhex("0123456789ABCD"))
    assert block.hex().upper() == "1612345601234567"
    assert pb.decode_format1(block) == "123456"


def test_format3_fill_is_a_to_f_and_pan_bound() -> None:
    block = pb.encode_format3("1234", "4012345678909", bytes.fromhex("00112233445566"))
    clear = bytes(a ^ b for a, b in zip(block, bytes.fromhex("0000401234567890"), strict=True))
    assert clear.hex().upper() == "341234AABBCCDDEE"
    assert pb.decode_format3(block, "4012345678909") == "1234"


def test_format4_x924_3_supplement_examples() -> None:
    # X9.24-3:2017 supplement: AES DUKPT PIN keys for counters 1 and 2, PIN 1234,
    # PAN 4111111111111111, random fill 2F69ADDE2E9E7ACE.
    pan, fill = "4111111111111111", bytes.fromhex("2F69ADDE2E9E7ACE")
    for key, expected in [
        ("AF8CB133A78F8DC2D1359F18527593FB", "A912150391AB65A67E52883D81CE2D15"),
        ("D30BDC73EC9714B000BEC66BDB7B6D09", "52A00503BD34BA1383F6A7EE9FE2547F"),
    ]:
        block = pb.encipher_format4("1234", pan, bytes.fromhex(key), fill)
        assert block.hex().upper() == expected
        assert pb.decipher_format4(block, pan, bytes.fromhex(key)) == "1234"


def test_format4_fields() -> None:
    assert pb.format4_pin_field("1234", bytes(8)).hex().upper() == "441234AAAAAAAAAA" + "00" * 8
    # M = PAN length - 12; PAN shorter than 12 digits is left-padded with zeros.
    assert pb.format4_pan_field("4111111111111111").hex().upper() == "44111111111111111" + "0" * 15
    assert pb.format4_pan_field("12345678").hex().upper() == "0000012345678" + "0" * 19


def test_format4_wrong_pan_or_key_is_detected() -> None:
    key = bytes.fromhex("AF8CB133A78F8DC2D1359F18527593FB")
    block = pb.encipher_format4("1234", "4111111111111111", key)
    with pytest.raises(pb.PinBlockError):
        pb.decipher_format4(block, "4111111111111112", key)
    with pytest.raises(pb.PinBlockError):
        pb.decipher_format4(block, "4111111111111111", bytes(16))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pb.encode_format0("123", "4012345678909"), "4 to 12 digits"),
        (lambda: pb.encode_format0("1234567890123", "4012345678909"), "4 to 12 digits"),
        (lambda: pb.encode_format0("12a4", "4012345678909"), "digits only"),
        (lambda: pb.encode_format0("1234", "40123456789X9"), "PAN must contain digits"),
        (lambda: pb.encode_format0("1234", "4012345"), "8 to 19 digits"),
        (lambda: pb.encode_format2("١٢٣٤"), "digits only"),  # non-ASCII digits
        (lambda: pb.decode_format0(bytes(7), "4012345678909"), "8 bytes"),
        (lambda: pb.decode_format2(bytes.fromhex("141234FFFFFFFFFF")), "not format 2"),
        (lambda: pb.decode_format2(bytes.fromhex("231234FFFFFFFFFF")), "invalid PIN length"),
        (lambda: pb.decode_format2(bytes.fromhex("2412A4FFFFFFFFFF")), "non-digit"),
        (lambda: pb.decode_format2(bytes.fromhex("241234FFFFFFFFFE")), "fill is wrong"),
        (lambda: pb.encipher_format4("1234", "4012345678909", bytes(15)), "AES key"),
        (lambda: pb.decipher_format4(bytes(8), "4012345678909", bytes(16)), "16 bytes"),
        (lambda: pb.encode_format3("1234", "4012345678909", bytes(3)), "7 bytes"),
    ],
)
def test_bad_input_raises_value_error_without_secret(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        call()  # type: ignore[operator]
    assert "1234" not in str(err.value)
    assert "4012345678909" not in str(err.value)


@settings(max_examples=150, deadline=None)
@given(pin=PINS, pan=PANS_13)
def test_format0_agrees_with_psec(pin: str, pan: str) -> None:
    block = pb.encode_format0(pin, pan)
    assert block == oracle.encode_pinblock_iso_0(pin, pan)
    assert pb.decode_format0(block, pan) == pin == oracle.decode_pinblock_iso_0(block, pan)


@settings(max_examples=100, deadline=None)
@given(pin=PINS)
def test_format2_agrees_with_psec(pin: str) -> None:
    block = pb.encode_format2(pin)
    assert block == oracle.encode_pinblock_iso_2(pin)
    assert pb.decode_format2(block) == pin == oracle.decode_pinblock_iso_2(block)


@settings(max_examples=100, deadline=None)
@given(pin=PINS, pan=PANS_13, fill=st.binary(min_size=7, max_size=7))
def test_format3_agrees_with_psec(pin: str, pan: str, fill: bytes) -> None:
    ours = pb.encode_format3(pin, pan, fill)
    assert oracle.decode_pinblock_iso_3(ours, pan) == pin
    theirs = oracle.encode_pinblock_iso_3(pin, pan)
    assert pb.decode_format3(theirs, pan) == pin


@settings(max_examples=60, deadline=None)
@given(pin=PINS)
def test_format1_round_trip(pin: str) -> None:
    assert pb.decode_format1(pb.encode_format1(pin)) == pin


@settings(max_examples=100, deadline=None)
@given(pin=PINS, pan=PANS, key=AES_KEYS, fill=st.binary(min_size=8, max_size=8))
def test_format4_agrees_with_psec(pin: str, pan: str, key: bytes, fill: bytes) -> None:
    assert pb.format4_pin_field(pin, fill)[:8] == oracle.encode_pin_field_iso_4(pin)[:8]
    assert pb.format4_pan_field(pan) == oracle.encode_pan_field_iso_4(pan)
    ours = pb.encipher_format4(pin, pan, key, fill)
    assert oracle.decipher_pinblock_iso_4(key, ours, pan) == pin
    theirs = oracle.encipher_pinblock_iso_4(key, pin, pan)
    assert pb.decipher_format4(theirs, pan, key) == pin
