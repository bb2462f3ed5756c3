"""Static data to be authenticated (EMV Book 3 10.3)."""

from __future__ import annotations

import pytest

from emv import tlv
from emv.oda import OdaError, parse_tag_list, static_data_to_authenticate

R_SFI2 = tlv.encode(0x70, tlv.encode(0x5A, bytes.fromhex("4761739001010010")))
R_SFI3 = tlv.encode(0x70, tlv.encode(0x5F24, bytes.fromhex("301231")))
R_SFI11 = tlv.encode(0x70, tlv.encode(0x9F08, b"\x00\x8c"))
AIP = {0x82: b"\x39\x00"}


def test_sfi_1_to_10_uses_the_template_value_only() -> None:
    out = static_data_to_authenticate([(2, R_SFI2), (3, R_SFI3)], [True, True], None, {})
    assert out == bytes.fromhex("5A0847617390010100105F2403301231")


def test_sfi_11_to_30_uses_the_whole_record() -> None:
    out = static_data_to_authenticate([(2, R_SFI2), (11, R_SFI11)], [True, True], None, {})
    assert out == bytes.fromhex("5A08476173900101001070059F0802008C")


def test_only_flagged_records_and_the_aip_from_9f4a() -> None:
    out = static_data_to_authenticate([(2, R_SFI2), (3, R_SFI3)], [False, True], b"\x82", AIP)
    assert out == bytes.fromhex("5F24033012313900")


def test_long_record_length_form_is_excluded_for_sfi_1_to_10() -> None:
    record = tlv.encode(0x70, tlv.encode(0x90, bytes(176)))
    assert record[:3] == bytes.fromhex("7081B3")
    out = static_data_to_authenticate([(1, record)], [True], None, {})
    assert out == bytes.fromhex("9081B0") + bytes(176)


def test_record_not_coded_as_70_fails() -> None:
    record = tlv.encode(0x77, tlv.encode(0x5A, b"\x47"))
    with pytest.raises(OdaError, match="SFI 2 .* not coded as template 70"):
        static_data_to_authenticate([(2, record)], [True], None, {})


def test_non_70_record_is_fine_when_not_flagged_for_oda() -> None:
    record = tlv.encode(0x77, b"")
    assert static_data_to_authenticate([(2, record)], [False], None, {}) == b""


def test_truncated_record_fails() -> None:
    with pytest.raises(OdaError):
        static_data_to_authenticate([(1, R_SFI2[:-1])], [True], None, {})


def test_sda_tag_list_may_only_name_the_aip() -> None:
    with pytest.raises(OdaError, match="names 9F02, but only the AIP"):
        static_data_to_authenticate([], [], b"\x82\x9f\x02", AIP | {0x9F02: bytes(6)})


def test_sda_tag_list_with_aip_missing() -> None:
    with pytest.raises(OdaError) as info:
        static_data_to_authenticate([], [], b"\x82", {})
    assert info.value.icc_data_missing


def test_bad_arguments() -> None:
    with pytest.raises(OdaError, match="differ in length"):
        static_data_to_authenticate([(1, R_SFI2)], [], None, {})
    with pytest.raises(OdaError, match="SFI 31 is outside 1-30"):
        static_data_to_authenticate([(31, R_SFI2)], [True], None, {})
    assert parse_tag_list(bytes.fromhex("829F4A5F24")) == [0x82, 0x9F4A, 0x5F24]
    with pytest.raises(OdaError, match="tag list is malformed"):
        parse_tag_list(b"\x9f")
