"""crypto/rsa_emv.py cross-checked against the `cryptography` package, plus robustness of
the ODA parsers on arbitrary input (hypothesis)."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.rsa_emv import (
    RsaEmvError,
    RsaPrivateKey,
    RsaPublicKey,
    check_public_key,
    private_operation,
    recover,
    sign_with_recovery,
)
from emv.oda import (
    OdaError,
    parse_icc_certificate,
    parse_issuer_certificate,
    parse_signed_dynamic_data,
    recover_icc_key,
    transaction_data_hash_code,
    verify_cda,
    verify_dda,
    verify_sda,
)
from hardware_sim import pki
from tests.oda_support import PAN, TODAY, VISA_RID, static_data, store

CA = pki.ca_key("A000000003").private
ISSUER = pki.issuer_pki("476173").private
ICC = pki.icc_key("476173")


def test_fixture_keys_are_consistent_rsa_keys_per_cryptography() -> None:
    """n, e, d of every shipped TEST-ONLY key satisfy m^(ed) = m, and `cryptography` accepts
    the public numbers; recover() equals cryptography's raw public operation."""
    for key in (CA, ISSUER, ICC.private):
        pub = rsa.RSAPublicNumbers(key.public.e, key.public.n).public_key()
        assert pub.public_numbers().n == key.public.n
        block = b"\x6a" + bytes(range(key.length - 2)) + b"\xbc"
        sig = private_operation(key, block)
        assert recover(key.public, sig) == block
        assert pow(int.from_bytes(sig, "big"), pub.public_numbers().e, pub.public_numbers().n) == (
            int.from_bytes(block, "big")
        )


def test_recover_against_a_fresh_cryptography_key() -> None:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    nums = priv.private_numbers()
    n = nums.public_numbers.n
    key = RsaPrivateKey(n.to_bytes(128, "big"), b"\x01\x00\x01", nums.d.to_bytes(128, "big"))
    body = bytes(range(128 - 22))
    signed = sign_with_recovery(key, body, b"extra")
    block = recover(key.public, signed)
    assert block[0] == 0x6A and block[1:-21] == body and block[-1] == 0xBC


def test_rsa_argument_checks() -> None:
    with pytest.raises(RsaEmvError, match="not 3 or 65537"):
        check_public_key(RsaPublicKey(CA.modulus, b"\x05"))
    with pytest.raises(RsaEmvError, match="leading zero"):
        check_public_key(RsaPublicKey(b"\x00" + CA.modulus[1:], b"\x03"))
    with pytest.raises(RsaEmvError, match="at most 248"):
        check_public_key(RsaPublicKey(b"\xff" * 249, b"\x03"))
    with pytest.raises(RsaEmvError, match="not smaller than the key modulus"):
        recover(CA.public, b"\xff" * CA.length)
    with pytest.raises(RsaEmvError, match="must be 154"):
        sign_with_recovery(CA, b"short")


certificates = st.one_of(
    st.binary(min_size=0, max_size=300),
    st.binary(min_size=176, max_size=176),
    st.binary(min_size=144, max_size=144),
    st.binary(min_size=128, max_size=128),
)


@settings(max_examples=150, deadline=None)
@given(
    cert=certificates,
    remainder=st.binary(max_size=8),
    exponent=st.sampled_from([b"\x03", b"\x01\x00\x01", b""]),
)
def test_random_certificates_only_raise_oda_error(
    cert: bytes, remainder: bytes, exponent: bytes
) -> None:
    pan = bytes.fromhex(PAN)
    for call in (
        lambda: parse_issuer_certificate(CA.public, cert, remainder, exponent, pan, TODAY),
        lambda: parse_icc_certificate(ISSUER.public, cert, remainder, exponent, pan, b"", TODAY),
        lambda: parse_signed_dynamic_data(ICC.public, cert, b""),
    ):
        with pytest.raises(OdaError):
            call()


def _random_block(key: RsaPrivateKey, data: bytes) -> bytes:
    """A block under a real key that passes header/trailer, with arbitrary content."""
    block = b"\x6a" + data.ljust(key.length - 2, b"\x00")[: key.length - 2] + b"\xbc"
    return private_operation(key, block)


@settings(max_examples=30, deadline=None)
@given(
    content=st.binary(min_size=0, max_size=200), today=st.dates(date(1990, 1, 1), date(2060, 1, 1))
)
def test_well_signed_garbage_only_raises_oda_error(content: bytes, today: date) -> None:
    """Correct header/trailer under the real keys but random fields inside."""
    pan = bytes.fromhex(PAN)
    for call in (
        lambda: parse_issuer_certificate(
            CA.public, _random_block(CA, b"\x02" + content), b"", b"\x03", pan, today
        ),
        lambda: parse_icc_certificate(
            ISSUER.public, _random_block(ISSUER, b"\x04" + content), b"", b"\x03", pan, b"", today
        ),
        lambda: parse_signed_dynamic_data(
            ICC.public, _random_block(ICC.private, b"\x05" + content), b""
        ),
    ):
        with pytest.raises(OdaError):
            call()


@settings(max_examples=60, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from([0x5A, 0x8F, 0x90, 0x92, 0x93, 0x9F32, 0x9F46, 0x9F47, 0x9F48]),
        st.binary(max_size=200),
    )
)
def test_verify_functions_never_raise(data: dict[int, bytes]) -> None:
    s = store()
    assert not verify_sda(s, VISA_RID, data, static_data(), TODAY).ok
    assert not recover_icc_key(s, VISA_RID, data, static_data(), TODAY).ok
    blob = data.get(0x93, b"")
    assert not verify_dda(ICC.public, blob, b"").ok
    assert not verify_cda(ICC.public, blob, b"\x40", b"\x00" * 4, bytes(20)).ok
    try:
        transaction_data_hash_code(b"", b"", None, blob)
    except OdaError:
        pass


# A real Issuer Public Key Certificate (90) read from a Visa card, published in lumag/emv-tools
# src/sda-test.c together with the Visa live CA key index 01 (1024 bits) that signed it.
PUBLISHED_ISSUER_CERT_VISA_01 = bytes.fromhex(
    "3c5fead4dd7bca44f93e90c44f76ede54a3288ecdc78469fcb1225c03b2c04f2"
    "c2f412281a0822df14649230989fb1494070daf8c9534a78819601486"
    "16ace581788120d3506ace4cee564fb27ee53341c22f0b45b31873d05de545efe"
    "33bcd29b2185d035a806ad08c6976f3505a19999930ca8a03efa321c486061f7dcec9f"
)


def test_published_visa_issuer_certificate_recovers_under_published_capk() -> None:
    """Vector: lumag/emv-tools src/sda-test.c (real card certificate, Visa CAPK A000000003/01).

    The raw recovery (X = S^3 mod n) yields a well-formed Table 6 block: header 6A, format 02,
    issuer identifier 427655FF, expiry 12/09, serial 0042B3, SHA-1, RSA, a 128-byte issuer key
    with exponent length 1, trailer BC.  The source does not publish the card's Issuer Public
    Key Remainder (92), so the hash cannot be checked; the parser must stop exactly there.
    """
    from emv.capk import CapkStore

    capk = CapkStore.load().get(bytes.fromhex("A000000003"), 0x01)
    assert capk is not None
    block = recover(capk.public_key, PUBLISHED_ISSUER_CERT_VISA_01)
    assert block[:15].hex().upper() == "6A02427655FF12090042B301018001"
    assert block[-1] == 0xBC
    with pytest.raises(OdaError, match="Issuer Public Key Remainder") as info:
        parse_issuer_certificate(
            capk.public_key,
            PUBLISHED_ISSUER_CERT_VISA_01,
            b"",
            b"\x03",
            bytes.fromhex("4276550000000000"),
            date(2009, 1, 1),
        )
    assert info.value.icc_data_missing
    with pytest.raises(OdaError, match="hash in the Issuer Public Key Certificate"):
        parse_issuer_certificate(
            capk.public_key,
            PUBLISHED_ISSUER_CERT_VISA_01,
            bytes(36),
            b"\x03",
            bytes.fromhex("4276550000000000"),
            date(2009, 1, 1),
        )
