"""The host's rearranged card cryptography gives exactly what ``crypto.emv_cryptogram`` gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyemv import mac as pyemv_mac

from crypto import des
from crypto.des import adjust_odd_parity
from crypto.emv_cryptogram import application_cryptogram
from crypto.emv_cryptogram import arpc_method_1 as reference_arpc
from crypto.emv_keys import derive_common_session_key, derive_icc_master_key_option_a
from crypto.mac import retail_mac
from hardware_sim.host import cardcrypto
from hardware_sim.host.testcards import VISA_TEST_PAN, emv_data
from hardware_sim.test_keys import issuer_for_pan

IMK = issuer_for_pan(VISA_TEST_PAN).imk_ac  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(
    digits=st.text("0123456789", min_size=12, max_size=19),
    psn=st.text("0123456789", min_size=2, max_size=2),
    atc=st.binary(min_size=2, max_size=2),
    arc=st.sampled_from([b"00", b"05", b"51", b"55", b"91"]),
)
def test_session_key_path_matches_the_reference(
    digits: str, psn: str, atc: bytes, arc: bytes
) -> None:
    mk = cardcrypto.icc_master_key(IMK, digits, psn)
    assert mk == derive_icc_master_key_option_a(IMK, digits, psn)
    values = emv_data(VISA_TEST_PAN, 1234, atc=int.from_bytes(atc, "big"))
    values[0x9F36] = atc
    arqc = application_cryptogram(mk, values)
    sk = cardcrypto.session_key(mk, atc)
    assert sk.key == derive_common_session_key(mk, atc)
    assert sk.arqc_matches(values, arqc)
    assert not sk.arqc_matches(values, bytes(b ^ 1 for b in arqc))
    assert sk.arpc_method_1(arqc, arc) == reference_arpc(mk, atc, arqc, arc)
    # the kept context stays right after the ARQC check (ECB: no state between blocks)
    assert sk.arpc_method_1(arqc, arc) == reference_arpc(mk, atc, arqc, arc)


def test_the_icc_master_key_cache_answers_a_returning_card() -> None:
    cardcrypto.icc_master_key.cache_clear()
    first = cardcrypto.icc_master_key(IMK, VISA_TEST_PAN, "01")
    again = cardcrypto.icc_master_key(IMK, VISA_TEST_PAN, "01")
    other = cardcrypto.icc_master_key(IMK, VISA_TEST_PAN, "02")
    info = cardcrypto.icc_master_key.cache_info()
    assert first == again != other
    assert (info.hits, info.misses) == (1, 2)


def test_missing_cryptogram_data_is_an_error_not_a_match() -> None:
    sk = cardcrypto.session_key(
        derive_icc_master_key_option_a(IMK, VISA_TEST_PAN, "01"), b"\x00\x01"
    )
    values = emv_data(VISA_TEST_PAN, 100)
    del values[0x9F37]
    with pytest.raises(ValueError, match="9F37"):
        sk.arqc_matches(values, bytes(8))


def test_odd_parity_table_matches_the_reference_for_every_byte() -> None:
    """The table now lives in crypto.des; the reference is the bit count itself."""
    every = bytes(range(256))
    reference = bytes((b & 0xFE) | (bin(b & 0xFE).count("1") + 1) % 2 for b in every)
    assert adjust_odd_parity(every) == reference
    assert all(bin(b).count("1") % 2 == 1 for b in adjust_odd_parity(every))


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    data=st.binary(max_size=80),
    padding=st.sampled_from([1, 2]),
)
def test_retail_mac_with_a_kept_context_matches_pyemv(
    key: bytes, data: bytes, padding: int
) -> None:
    """ISO 9797-1 MAC algorithm 3, with and without the kept TDES context, against pyemv."""
    key = adjust_odd_parity(key)
    expected = pyemv_mac.mac_iso9797_3(key[:8], key[8:], data, padding)
    kept = des.EcbEncryptor(key)
    assert retail_mac(key, data, padding=padding) == expected
    assert retail_mac(key, data, padding=padding, tdes=kept) == expected
    assert retail_mac(key, data, padding=padding, tdes=kept) == expected  # context reused
