"""BER-TLV rules of EMV Book 3 Annex B, one test per rule, plus hypothesis round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emv import tlv
from emv.errors import (
    TlvError,
    TlvLengthError,
    TlvTagError,
    TlvTrailingDataError,
    TlvTruncatedError,
)


def test_single_byte_tag_short_length() -> None:
    (obj,) = tlv.decode(bytes.fromhex("5A084761739001010119"))
    assert obj.tag == 0x5A
    assert obj.value == bytes.fromhex("4761739001010119")
    assert obj.children is None


def test_multi_byte_tag() -> None:
    (obj,) = tlv.decode(bytes.fromhex("9F02060000000012 34".replace(" ", "")))
    assert obj.tag == 0x9F02
    assert obj.value == bytes.fromhex("000000001234")


def test_three_byte_tag() -> None:
    (obj,) = tlv.decode(bytes.fromhex("DF811B0130"))
    assert obj.tag == 0xDF811B
    assert obj.value == b"\x30"


def test_long_form_lengths_81_82_83() -> None:
    for prefix, width, size in ((0x81, 1, 200), (0x82, 2, 300), (0x83, 3, 70000)):
        value = bytes(size)
        encoded = bytes.fromhex("9F4B") + bytes([prefix]) + size.to_bytes(width, "big") + value
        (obj,) = tlv.decode(encoded)
        assert obj.value == value
        assert tlv.encode(0x9F4B, value) == encoded


def test_encode_uses_shortest_length() -> None:
    assert tlv.encode_length(127) == b"\x7f"
    assert tlv.encode_length(128) == b"\x81\x80"
    assert tlv.encode_length(256) == b"\x82\x01\x00"


def test_constructed_template_is_decoded_recursively() -> None:
    data = bytes.fromhex("6F1A840E315041592E5359532E4444463031A5088801015F2D02656E")
    fci = tlv.decode_single(data, expected_tag=0x6F)
    assert fci.constructed
    assert fci.find(0x88) == tlv.Tlv(0x88, b"\x01")
    assert fci.find(0x5F2D).value == b"en"  # type: ignore[union-attr]
    assert tlv.flatten([fci])[0x84] == b"1PAY.SYS.DDF01"


def test_padding_00_and_ff_between_objects_is_skipped() -> None:
    objects = tlv.decode(bytes.fromhex("00005A0112FFFF9F360200010000"))
    assert [o.tag for o in objects] == [0x5A, 0x9F36]


def test_indefinite_length_is_rejected() -> None:
    with pytest.raises(TlvLengthError) as info:
        tlv.decode(bytes.fromhex("5A8001"))
    assert info.value.offset == 1


def test_length_with_four_subsequent_bytes_is_rejected() -> None:
    with pytest.raises(TlvLengthError):
        tlv.decode(bytes.fromhex("5A8400000001AA"))


def test_truncated_value() -> None:
    with pytest.raises(TlvTruncatedError, match="needs 8 bytes, 2 left"):
        tlv.decode(bytes.fromhex("5A084761"))


def test_truncated_multibyte_tag() -> None:
    with pytest.raises(TlvTruncatedError):
        tlv.decode(bytes.fromhex("9F"))


def test_truncated_length_field() -> None:
    with pytest.raises(TlvTruncatedError):
        tlv.decode(bytes.fromhex("5A82 01".replace(" ", "")))


def test_over_long_tag_is_rejected() -> None:
    with pytest.raises(TlvTagError):
        tlv.decode(bytes.fromhex("9F8181810100"))


def test_trailing_garbage_after_single_object() -> None:
    with pytest.raises(TlvTrailingDataError):
        tlv.decode_single(bytes.fromhex("8002AABB12"))


def test_trailing_padding_after_single_object_is_fine() -> None:
    assert tlv.decode_single(bytes.fromhex("8002AABB00FF")).value == b"\xaa\xbb"


def test_bad_child_inside_template_is_reported() -> None:
    with pytest.raises(TlvTruncatedError):
        tlv.decode(bytes.fromhex("70035A0512"))


def test_unexpected_tag() -> None:
    with pytest.raises(TlvTagError, match="expected tag 6F"):
        tlv.decode_single(bytes.fromhex("7000"), expected_tag=0x6F)


# ---- hypothesis -------------------------------------------------------------------------

primitive_tags = st.sampled_from([0x5A, 0x57, 0x82, 0x9F02, 0x9F36, 0x5F24, 0x9F4B, 0xDF8117])


@st.composite
def objects(draw: st.DrawFn, depth: int = 0) -> tuple[int, bytes]:
    if depth < 2 and draw(st.booleans()):
        template = draw(st.sampled_from([0x70, 0x77, 0xA5, 0xBF0C]))
        children = draw(st.lists(objects(depth + 1), max_size=3))
        return template, b"".join(tlv.encode(t, v) for t, v in children)
    return draw(primitive_tags), draw(st.binary(max_size=300))


@given(st.lists(objects(), max_size=5))
def test_round_trip(items: list[tuple[int, bytes]]) -> None:
    encoded = tlv.encode_many(items)
    decoded = tlv.decode(encoded)
    assert [(o.tag, o.value) for o in decoded] == items
    assert b"".join(o.encode() for o in decoded) == encoded


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_tlv_error(data: bytes) -> None:
    try:
        tlv.decode(data)
    except TlvError:
        pass  # any other exception type fails the test
