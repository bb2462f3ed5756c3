"""DOL parsing and building per EMV Book 3 Section 5.4."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emv import dol
from emv.errors import DolError

CDOL1 = bytes.fromhex("9F02069F03069F1A0295055F2A029A039C019F3704")


def test_parse_entries() -> None:
    entries = dol.parse(CDOL1)
    assert [(e.tag, e.length) for e in entries][:3] == [(0x9F02, 6), (0x9F03, 6), (0x9F1A, 2)]
    assert sum(e.length for e in entries) == 29
    assert dol.encode(entries) == CDOL1


def test_missing_data_is_zero_filled() -> None:
    assert dol.build(bytes.fromhex("9F3704"), {}) == bytes(4)


def test_constructed_tag_is_zero_filled() -> None:
    assert dol.build(bytes.fromhex("7003"), {0x70: b"\x01\x02\x03"}) == bytes(3)


def test_numeric_longer_is_truncated_on_the_left() -> None:
    assert dol.build(bytes.fromhex("9F0204"), {0x9F02: bytes.fromhex("000000001234")}) == (
        bytes.fromhex("00001234")
    )


def test_numeric_shorter_is_padded_on_the_left() -> None:
    assert dol.build(bytes.fromhex("9F0208"), {0x9F02: bytes.fromhex("000000001234")}) == (
        bytes.fromhex("0000000000001234")
    )


def test_compressed_numeric_shorter_is_padded_with_ff() -> None:
    assert dol.build(bytes.fromhex("5A0A"), {0x5A: bytes.fromhex("4761739001010119")}) == (
        bytes.fromhex("4761739001010119FFFF")
    )


def test_binary_longer_is_truncated_on_the_right() -> None:
    assert dol.build(bytes.fromhex("9F1002"), {0x9F10: bytes.fromhex("06011203A00000")}) == (
        bytes.fromhex("0601")
    )


def test_binary_shorter_is_padded_on_the_right() -> None:
    assert dol.build(bytes.fromhex("9F3306"), {0x9F33: bytes.fromhex("E0F8C8")}) == (
        bytes.fromhex("E0F8C8000000")
    )


def test_alphanumeric_shorter_is_padded_with_zeros_on_the_right() -> None:
    assert dol.build(bytes.fromhex("9F1C0A"), {0x9F1C: b"POS00001"}) == b"POS00001\x00\x00"


def test_malformed_dol_raises() -> None:
    with pytest.raises(DolError):
        dol.parse(bytes.fromhex("9F02"))


def test_split_inverts_build() -> None:
    values = {0x9F02: bytes.fromhex("000000001234"), 0x9F37: bytes.fromhex("11223344")}
    data = dol.build(CDOL1, values)
    assert len(data) == 29
    parts = dol.split(CDOL1, data)
    assert parts[0x9F02] == values[0x9F02]
    assert parts[0x9F37] == values[0x9F37]
    with pytest.raises(DolError):
        dol.split(CDOL1, data[:-1])


@given(st.binary(min_size=0, max_size=20), st.integers(min_value=0, max_value=20))
def test_fit_always_gives_the_entry_length(value: bytes, length: int) -> None:
    for fmt in ("n", "cn", "b", "an"):
        assert len(dol.fit(value, length, fmt)) == length
