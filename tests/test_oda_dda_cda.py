"""DDA (Book 2 6.5) and CDA (Book 2 6.6) round trips through hardware_sim/pki.py."""

from __future__ import annotations

import hashlib

from emv import tlv
from emv.oda import (
    recover_icc_key,
    transaction_data_hash_code,
    verify_cda,
    verify_cda_response,
    verify_dda,
)
from hardware_sim import pki
from tests.oda_support import TODAY, VISA_RID, card, static_data, store

IDN = bytes.fromhex("1122334455667788")
UN = bytes.fromhex("DEADBEEF")
PDOL_DATA = bytes.fromhex("E0F8C8") + UN
CDOL1_DATA = bytes.fromhex("00000000100000000000000008260000000000097826112400") + UN
AC = bytes.fromhex("0102030405060708")


def _icc():
    data, key = card("cda")
    icc = recover_icc_key(store(), VISA_RID, data, static_data(), TODAY)
    assert icc.ok and icc.key is not None
    return key, icc.key


def test_dda_round_trip_returns_icc_dynamic_number() -> None:
    key, public = _icc()
    sdad = pki.dda_signature(key, IDN, UN)
    result = verify_dda(public, sdad, UN)
    assert result.ok and result.icc_dynamic_number == IDN


def test_dda_wrong_ddol_data_fails() -> None:
    key, public = _icc()
    sdad = pki.dda_signature(key, IDN, UN)
    result = verify_dda(public, sdad, bytes.fromhex("DEADBEEE"))
    assert (
        result.reason == "the hash in the Signed Dynamic Application Data does not match the data"
    )


def test_dda_tampered_signature_and_missing() -> None:
    key, public = _icc()
    sdad = bytearray(pki.dda_signature(key, IDN, UN))
    sdad[10] ^= 0x01
    assert not verify_dda(public, bytes(sdad), UN).ok
    missing = verify_dda(public, b"", UN)
    assert not missing.ok and missing.icc_data_missing


def test_dda_signature_under_another_key_fails() -> None:
    _, public = _icc()
    sdad = pki.dda_signature(pki.icc_key("541333"), IDN, UN)
    assert not verify_dda(public, sdad, UN).ok


def _genac_response(key, cid: bytes = b"\x40", signed_cid: bytes | None = None) -> bytes:
    """Template 77 value: 9F27, 9F36, 9F4B, 9F10 in that order (9F4B not last on purpose)."""
    atc = b"\x00\x2a"
    iad = bytes.fromhex("06010A03A00000")
    without = tlv.encode_many([(0x9F27, cid), (0x9F36, atc), (0x9F10, iad)])
    tdhc = transaction_data_hash_code(PDOL_DATA, CDOL1_DATA, None, without)
    sdad = pki.cda_signature(key, IDN, signed_cid or cid, AC, tdhc, UN)
    return tlv.encode_many([(0x9F27, cid), (0x9F36, atc), (0x9F4B, sdad), (0x9F10, iad)])


def test_transaction_data_hash_code_excludes_9f4b_and_keeps_order() -> None:
    body = tlv.encode_many([(0x9F27, b"\x80"), (0x9F4B, b"\x01\x02"), (0x9F36, b"\x00\x01")])
    expected = hashlib.sha1(b"P" + b"C1" + b"C2" + bytes.fromhex("9F2701809F36020001")).digest()
    assert transaction_data_hash_code(b"P", b"C1", b"C2", body) == expected


def test_cda_round_trip_first_generate_ac() -> None:
    key, public = _icc()
    response = _genac_response(key)
    result = verify_cda_response(public, response, PDOL_DATA, CDOL1_DATA, None, UN)
    assert result.ok, result.reason
    assert result.icc_dynamic_number == IDN and result.cid == b"\x40"
    assert result.application_cryptogram == AC


def test_cda_second_generate_ac_includes_cdol2_data() -> None:
    key, public = _icc()
    cdol2 = bytes.fromhex("3030") + UN
    without = tlv.encode_many([(0x9F27, b"\x40"), (0x9F36, b"\x00\x2a")])
    tdhc = transaction_data_hash_code(PDOL_DATA, CDOL1_DATA, cdol2, without)
    sdad = pki.cda_signature(key, IDN, b"\x40", AC, tdhc, UN)
    response = tlv.encode_many([(0x9F27, b"\x40"), (0x9F36, b"\x00\x2a"), (0x9F4B, sdad)])
    assert verify_cda_response(public, response, PDOL_DATA, CDOL1_DATA, cdol2, UN).ok
    assert not verify_cda_response(public, response, PDOL_DATA, CDOL1_DATA, None, UN).ok


def test_cda_cid_mismatch() -> None:
    key, public = _icc()
    response = _genac_response(key, cid=b"\x40", signed_cid=b"\x80")
    result = verify_cda_response(public, response, PDOL_DATA, CDOL1_DATA, None, UN)
    assert result.reason == "the CID in the CDA signature differs from the CID in the response"


def test_cda_altered_response_data_fails_transaction_hash() -> None:
    key, public = _icc()
    response = _genac_response(key).replace(
        bytes.fromhex("9F3602002A"), bytes.fromhex("9F3602002B")
    )
    result = verify_cda_response(public, response, PDOL_DATA, CDOL1_DATA, None, UN)
    assert result.reason == "the Transaction Data Hash Code in the CDA signature does not match"


def test_cda_wrong_unpredictable_number_fails() -> None:
    key, public = _icc()
    response = _genac_response(key)
    other = bytes.fromhex("00000001")
    result = verify_cda_response(public, response, PDOL_DATA, CDOL1_DATA, None, other)
    assert (
        result.reason == "the hash in the Signed Dynamic Application Data does not match the data"
    )


def test_cda_missing_signature_and_malformed_response() -> None:
    _, public = _icc()
    no_sdad = tlv.encode_many([(0x9F27, b"\x40"), (0x9F36, b"\x00\x2a")])
    result = verify_cda_response(public, no_sdad, PDOL_DATA, CDOL1_DATA, None, UN)
    assert not result.ok and result.icc_data_missing
    bad = verify_cda_response(public, b"\x9f\x27\x05\x40", PDOL_DATA, CDOL1_DATA, None, UN)
    assert not bad.ok and bad.reason.startswith("the GENERATE AC response is malformed")


def test_cda_tampered_card_fails_at_icc_key() -> None:
    data, _ = card("cda", tampered=True)
    assert not recover_icc_key(store(), VISA_RID, data, static_data(), TODAY).ok


def test_verify_cda_direct() -> None:
    key, public = _icc()
    tdhc = hashlib.sha1(b"x").digest()
    sdad = pki.cda_signature(key, IDN, b"\x00", AC, tdhc, UN)
    assert verify_cda(public, sdad, b"\x00", UN, tdhc).ok
    assert not verify_cda(public, sdad, b"", UN, tdhc).ok


def test_offline_enciphered_pin_round_trip() -> None:
    """Book 2 7.1/7.2: terminal enciphers with the recovered ICC public key, card deciphers."""
    from crypto.rsa_emv import public_operation

    key, public = _icc()
    block = b"\x7f" + bytes.fromhex("241234FFFFFFFFFF") + bytes.fromhex("0102030405060708")
    block += b"\x5a" * (public.length - len(block))
    assert pki.decipher_pin(key, public_operation(public, block)) == block
