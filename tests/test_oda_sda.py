"""SDA round trips (card side hardware_sim/pki.py -> terminal side emv/oda.py, Book 2 5)."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from emv.oda import verify_sda
from tests.oda_support import (
    MC_PAN,
    MC_RID,
    PAN,
    TODAY,
    VISA_RID,
    card,
    revocation,
    static_data,
    store,
)


def test_sda_round_trip_returns_the_data_authentication_code() -> None:
    data, key = card("sda")
    assert key is None
    assert set(data) == {0x5A, 0x82, 0x8F, 0x90, 0x92, 0x9F32, 0x93}
    result = verify_sda(store(), VISA_RID, data, static_data(), TODAY, revocation())
    assert result.ok, result.reason
    assert result.data_authentication_code == hashlib.sha1(b"DAC" + PAN.encode()).digest()[:2]


def test_sda_round_trip_mastercard_test_ca() -> None:
    data, _ = card("sda", issuer="541333", pan=MC_PAN)
    assert data[0x8F] == b"\xe4"
    assert verify_sda(store(), MC_RID, data, static_data(MC_PAN), TODAY).ok


def test_sda_tampered_static_data_fails_on_hash() -> None:
    data, _ = card("sda", tampered=True)
    result = verify_sda(store(), VISA_RID, data, static_data(), TODAY)
    assert not result.ok and not result.icc_data_missing
    assert result.reason == "the hash in the Signed Static Application Data does not match the data"


def test_sda_record_changed_after_personalisation_fails() -> None:
    data, _ = card("sda")
    altered = bytearray(static_data())
    altered[3] ^= 0x10
    assert not verify_sda(store(), VISA_RID, data, bytes(altered), TODAY).ok


def test_sda_revoked_issuer_certificate() -> None:
    data, _ = card("sda", revoked=True)
    assert verify_sda(store(), VISA_RID, data, static_data(), TODAY).ok  # no list: accepted
    result = verify_sda(store(), VISA_RID, data, static_data(), TODAY, revocation())
    assert not result.ok
    assert result.reason == "the issuer certificate (serial DEAD01) is revoked"


def test_sda_missing_capk() -> None:
    from emv.capk import CapkStore

    data, _ = card("sda")
    result = verify_sda(CapkStore.load(), VISA_RID, data, static_data(), TODAY)
    assert not result.ok and not result.icc_data_missing
    assert result.reason == "the terminal has no valid CA public key for RID A000000003 index E3"


def test_sda_capk_expired_counts_as_missing() -> None:
    data, _ = card("sda")
    result = verify_sda(store(), VISA_RID, data, static_data(), date(2050, 1, 1))
    assert not result.ok and "no valid CA public key" in result.reason


def test_sda_issuer_certificate_expired() -> None:
    data, _ = card("sda")
    # the issuer certificate is valid to 12/2049 and the test CAPK to 2049-12-31
    result = verify_sda(store(), VISA_RID, data, static_data(), date(2049, 12, 31))
    assert result.ok
    from tests.test_oda_certificates import issuer_cert_card

    data = issuer_cert_card(expiry=bytes.fromhex("1025"))
    result = verify_sda(store(), VISA_RID, data, static_data(), TODAY)
    assert result.reason == "the issuer certificate expired at the end of 10/2025"


@pytest.mark.parametrize("tag", [0x8F, 0x90, 0x9F32, 0x92, 0x93])
def test_sda_missing_data_sets_icc_data_missing(tag: int) -> None:
    data, _ = card("sda")
    del data[tag]
    result = verify_sda(store(), VISA_RID, data, static_data(), TODAY)
    assert not result.ok and result.icc_data_missing, result.reason


def test_sda_wrong_rid_for_the_card() -> None:
    data, _ = card("sda")
    assert not verify_sda(store(), MC_RID, data, static_data(), TODAY).ok


def test_tvr_byte1_bits() -> None:
    from emv.oda import CdaResult, DdaResult, SdaResult, tvr_byte1

    assert tvr_byte1("sda", SdaResult(True)) == 0x02
    assert tvr_byte1("sda", SdaResult(False, "x")) == 0x42
    assert tvr_byte1("sda", SdaResult(False, "x", True)) == 0x62
    assert tvr_byte1("dda", DdaResult(False, "x")) == 0x08
    assert tvr_byte1("cda", CdaResult(False, "x", True)) == 0x24
    assert tvr_byte1("cda", CdaResult(True)) == 0x00
