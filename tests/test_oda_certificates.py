"""Every issuer / ICC certificate check of EMV Book 2 5.3, 5.4, 6.3, 6.4, with certificates
crafted from the TEST-ONLY keys so that exactly one field is wrong each time."""

from __future__ import annotations

import hashlib

import pytest

from crypto.rsa_emv import RsaPublicKey, private_operation, sign_with_recovery
from emv.oda import recover_icc_key, recover_issuer_key, verify_sda
from hardware_sim import pki
from tests.oda_support import EXPIRY, PAN, TODAY, VISA_RID, card, static_data, store

CA = pki.ca_key("A000000003")
ISSUER = pki.issuer_pki("476173")


def _issuer_block(
    *,
    fmt: int = 0x02,
    issuer_id: str = "476173",
    expiry: bytes = bytes.fromhex("1249"),
    serial: bytes = bytes.fromhex("5E0001"),
    hash_alg: int = 0x01,
    pk_alg: int = 0x01,
    header: int = 0x6A,
    trailer: int = 0xBC,
    bad_hash: bool = False,
) -> bytes:
    key = ISSUER.private.public
    room = CA.private.length - 36
    body = (
        bytes([fmt])
        + bytes.fromhex(issuer_id.ljust(8, "F"))
        + expiry
        + serial
        + bytes([hash_alg, pk_alg, key.length, len(key.exponent)])
        + key.modulus[:room]
    )
    digest = hashlib.sha1(body + key.modulus[room:] + key.exponent).digest()
    if bad_hash:
        digest = bytes([digest[0] ^ 1]) + digest[1:]
    return private_operation(CA.private, bytes([header]) + body + digest + bytes([trailer]))


def issuer_cert_card(**kw) -> dict[int, bytes]:
    """An SDA card whose issuer certificate is replaced by a crafted one."""
    data, _ = card("sda")
    data[0x90] = _issuer_block(**kw)
    return data


def _sda_reason(data: dict[int, bytes]) -> str:
    result = verify_sda(store(), VISA_RID, data, static_data(), TODAY)
    assert not result.ok
    return result.reason


def test_crafted_issuer_certificate_is_accepted_when_nothing_is_wrong() -> None:
    assert verify_sda(store(), VISA_RID, issuer_cert_card(), static_data(), TODAY).ok


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"header": 0x6B},
            "the recovered Issuer Public Key Certificate does not start with header 6A",
        ),
        (
            {"trailer": 0xBD},
            "the recovered Issuer Public Key Certificate does not end with trailer BC",
        ),
        ({"fmt": 0x04}, "the recovered Issuer Public Key Certificate has format 04, expected 02"),
        (
            {"bad_hash": True},
            "the hash in the Issuer Public Key Certificate does not match the data",
        ),
        ({"hash_alg": 0x02}, "the Issuer Public Key Certificate uses unknown hash algorithm 02"),
        ({"pk_alg": 0x02}, "the issuer public key algorithm 02 is not RSA"),
        (
            {"issuer_id": "541333"},
            "the issuer identifier in the certificate does not match the PAN",
        ),
        (
            {"issuer_id": "47617391"},
            "the issuer identifier in the certificate does not match the PAN",
        ),
        ({"expiry": bytes.fromhex("1025")}, "the issuer certificate expired at the end of 10/2025"),
        (
            {"expiry": bytes.fromhex("1325")},
            "the issuer certificate expiration date 1325 is not a valid MMYY date",
        ),
    ],
)
def test_issuer_certificate_failures(change: dict, reason: str) -> None:
    assert _sda_reason(issuer_cert_card(**change)) == reason


def test_issuer_identifier_of_eight_digits_and_current_month_accepted() -> None:
    data = issuer_cert_card(issuer_id="47617390", expiry=bytes.fromhex("1126"))
    assert verify_sda(store(), VISA_RID, data, static_data(), TODAY).ok


def test_issuer_certificate_of_wrong_length() -> None:
    data = issuer_cert_card()
    data[0x90] = data[0x90][:-1]
    assert (
        _sda_reason(data)
        == "the Issuer Public Key Certificate is 175 bytes but the key modulus is 176"
    )


def test_issuer_key_recovered_equals_the_fixture() -> None:
    data, _ = card("dda")
    result = recover_issuer_key(store(), VISA_RID, data, TODAY)
    assert result.ok and result.key == ISSUER.private.public
    assert result.certificate_serial == bytes.fromhex("5E0001")


def _icc_block(
    *,
    fmt: int = 0x04,
    pan: str = PAN,
    expiry: bytes = bytes.fromhex("1230"),
    hash_alg: int = 0x01,
    pk_alg: int = 0x01,
    sd: bytes | None = None,
) -> bytes:
    icc = pki.icc_key("476173").public
    room = ISSUER.private.length - 42
    body = (
        bytes([fmt])
        + bytes.fromhex(pan.ljust(20, "F"))
        + expiry
        + b"\x00\x00\x01"
        + bytes([hash_alg, pk_alg, icc.length, len(icc.exponent)])
        + icc.modulus[:room]
    )
    extra = icc.modulus[room:] + icc.exponent + (static_data() if sd is None else sd)
    return sign_with_recovery(ISSUER.private, body, extra)


def _icc_result(**kw):
    data, _ = card("dda")
    data[0x9F46] = _icc_block(**kw)
    return recover_icc_key(store(), VISA_RID, data, static_data(), TODAY)


def test_icc_key_round_trip_and_remainder() -> None:
    data, key = card("dda")
    assert len(data[0x9F48]) == 26 and len(data[0x92]) == 4
    result = recover_icc_key(store(), VISA_RID, data, static_data(), TODAY)
    assert result.ok, result.reason
    assert result.key == key.public
    assert _icc_result().ok


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"fmt": 0x02}, "the recovered ICC Public Key Certificate has format 02, expected 04"),
        (
            {"pan": "4761739001010011"},
            "the PAN in the ICC certificate does not match the card's PAN",
        ),
        ({"expiry": bytes.fromhex("0126")}, "the ICC certificate expired at the end of 01/2026"),
        ({"hash_alg": 0x07}, "the ICC Public Key Certificate uses unknown hash algorithm 07"),
        ({"pk_alg": 0x00}, "the ICC public key algorithm 00 is not RSA"),
        (
            {"sd": b"other static data"},
            "the hash in the ICC Public Key Certificate does not match the data",
        ),
    ],
)
def test_icc_certificate_failures(change: dict, reason: str) -> None:
    result = _icc_result(**change)
    assert not result.ok and result.reason == reason


def test_icc_certificate_tampered_card() -> None:
    data, _ = card("cda", tampered=True)
    result = recover_icc_key(store(), VISA_RID, data, static_data(), TODAY)
    assert result.reason == "the hash in the ICC Public Key Certificate does not match the data"


@pytest.mark.parametrize("tag", [0x9F46, 0x9F47, 0x9F48, 0x92, 0x8F])
def test_icc_key_missing_data(tag: int) -> None:
    data, _ = card("dda")
    del data[tag]
    result = recover_icc_key(store(), VISA_RID, data, static_data(), TODAY)
    assert not result.ok and result.icc_data_missing


def test_icc_key_revoked_issuer() -> None:
    from tests.oda_support import revocation

    data, _ = card("dda", revoked=True)
    result = recover_icc_key(store(), VISA_RID, data, static_data(), TODAY, revocation())
    assert result.reason == "the issuer certificate (serial DEAD01) is revoked"


def test_small_issuer_key_padded_with_bb_needs_no_remainder() -> None:
    """N_I <= N_CA - 36: the key sits in the certificate padded with BB and 92 is absent."""
    small = pki.icc_key("541333").private  # a 1024-bit key standing in as issuer key
    room = CA.private.length - 36
    body = (
        b"\x02"
        + bytes.fromhex("476173FF")
        + bytes.fromhex("1249")
        + b"\x00\x00\x07"
        + bytes([1, 1, small.length, len(small.exponent)])
        + small.modulus
        + b"\xbb" * (room - small.length)
    )
    cert = sign_with_recovery(CA.private, body, small.exponent)
    data = {0x5A: bytes.fromhex(PAN), 0x8F: b"\xe3", 0x90: cert, 0x9F32: small.exponent}
    result = recover_issuer_key(store(), VISA_RID, data, TODAY)
    assert result.ok, result.reason
    assert result.key == RsaPublicKey(small.modulus, small.exponent)
    assert EXPIRY  # card expiry unused here
