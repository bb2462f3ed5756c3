"""ICC PIN Encipherment Public Key Certificate (EMV Book 2 7.1): recovery, every check, and an
offline enciphered PIN under that key end to end (card personalised by the test PKI)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from crypto.rsa_emv import (
    HASH_ALGORITHM_SHA1,
    PUBLIC_KEY_ALGORITHM_RSA,
    RsaEmvError,
    sign_with_recovery,
)
from emv import oda, tlv
from emv.ports import FixedClock
from hardware_sim import pki
from hardware_sim.card import load_card
from hardware_sim.card.records import record_template
from hardware_sim.reader import InProcessReader
from hardware_sim.soft_pinpad import SoftPinPad
from terminal.cardholder import ScriptedCardholder
from terminal.config import load_settings
from terminal.journal import Journal
from terminal.money import currency
from terminal.oda import cda_verifier, oda_engine
from terminal.runtime import DeterministicRandom
from terminal.service import PaymentRequest, PaymentService
from tests.contactless_helpers import sim_capks

PAN = "4761739001010143"
ISSUER = "476173"
TODAY = date(2026, 11, 24)
WHEN = datetime(2026, 11, 24, 10, 30)
RID = bytes.fromhex("A000000003")


def pin_certificate(
    pan: str = PAN,
    expiry: bytes = bytes.fromhex("1230"),
    fmt: int = 0x04,
    static_data: bytes = b"",
) -> tuple[bytes, bytes]:
    """9F2D and 9F2F laid out as Table 24, with knobs to break one field at a time."""
    issuer = pki.issuer_pki(ISSUER).private
    key = pki.icc_pin_key(ISSUER).public
    room = issuer.length - 42
    leftmost, remainder = key.modulus[:room], key.modulus[room:]
    body = (
        bytes([fmt])
        + bytes.fromhex(pan.ljust(20, "F"))
        + expiry
        + b"\x00\x00\x01"
        + bytes([HASH_ALGORITHM_SHA1, PUBLIC_KEY_ALGORITHM_RSA, key.length, len(key.exponent)])
        + leftmost
    )
    cert = sign_with_recovery(issuer, body, remainder + key.exponent + static_data)
    return cert, remainder


def card_data(cert: bytes, remainder: bytes) -> dict[int, bytes]:
    tags, _ = pki.personalise_oda("dda", ISSUER, PAN, bytes.fromhex("301231"), b"\x5a", b"")
    data = {t: v for t, v in tags.items() if t in (0x8F, 0x90, 0x92, 0x9F32)}
    data[0x5A] = bytes.fromhex(PAN)
    data[0x9F2D], data[0x9F2E] = cert, pki.icc_pin_key(ISSUER).exponent
    if remainder:
        data[0x9F2F] = remainder
    return data


def recover(data: dict[int, bytes]) -> oda.IccKeyResult:
    return oda.recover_icc_pin_key(sim_capks(), RID, data, TODAY)


def test_pki_certificate_recovers_the_pin_key_not_the_icc_key() -> None:
    tags, icc = pki.personalise_oda(
        "dda", ISSUER, PAN, bytes.fromhex("301231"), b"\x5a", b"", pin_key_certificate=True
    )
    assert icc is not None and icc.pin_private is not None
    data = {**tags, 0x5A: bytes.fromhex(PAN)}
    assert set(tags) >= {0x9F2D, 0x9F2E, 0x9F2F}
    result = recover(data)
    assert result.ok, result.reason
    assert result.key == pki.icc_pin_key(ISSUER).public
    assert result.key != icc.public
    assert result.key is not None and result.key.exponent == b"\x03"


def test_hash_has_no_static_data() -> None:
    """Table 24 hash: fields 2-10 || remainder || exponent; a static-data hash is rejected."""
    assert recover(card_data(*pin_certificate())).ok
    bad = recover(card_data(*pin_certificate(static_data=b"\x5a")))
    assert not bad.ok
    assert bad.reason == (
        "the hash in the ICC PIN Encipherment Public Key Certificate does not match the data"
    )


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [
        (
            {"fmt": 0x02},
            "the recovered ICC PIN Encipherment Public Key Certificate has format 02, expected 04",
        ),
        (
            {"pan": "4761739001010150"},
            "the PAN in the ICC PIN Encipherment certificate does not match the card's PAN",
        ),
        (
            {"expiry": bytes.fromhex("1025")},
            "the ICC PIN Encipherment certificate expired at the end of 10/2025",
        ),
    ],
)
def test_each_check_fails_with_its_reason(knobs: dict[str, object], reason: str) -> None:
    result = recover(card_data(*pin_certificate(**knobs)))  # type: ignore[arg-type]
    assert not result.ok
    assert result.reason == reason


def test_missing_remainder_and_missing_exponent_are_icc_data_missing() -> None:
    cert, _ = pin_certificate()
    no_remainder = recover(card_data(cert, b""))
    assert not no_remainder.ok and no_remainder.icc_data_missing
    assert "ICC PIN Encipherment Public Key Remainder (9F2F) is missing" in no_remainder.reason
    data = card_data(*pin_certificate())
    del data[0x9F2E]
    missing = recover(data)
    assert not missing.ok and missing.icc_data_missing
    assert missing.reason == "PIN encipherment cannot be performed: the card did not supply 9F2E"


# --- end to end: kernel, card simulator, host ------------------------------------------------


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[PaymentService]:
    from terminal.hostlink import open_authoriser

    settings = load_settings(None)
    journal = Journal(tmp_path / "journal.sqlite")
    with open_authoriser(settings, "embedded", plain_tcp=True, clock=FixedClock(WHEN)) as client:
        yield PaymentService(
            settings,
            journal,
            client,
            clock=FixedClock(WHEN),
            random=DeterministicRandom(bytes.fromhex("1A2B3C4D")),
            oda_engine=oda_engine(simulated=True),
            cda_verifier=cda_verifier,
        )
    journal.close()


def _pay(service: PaymentService, card: object) -> tuple[object, list[bytes]]:
    sent: list[bytes] = []
    reader = InProcessReader(card)  # type: ignore[arg-type]
    transmit = reader.transmit

    def spy(apdu: bytes) -> bytes:
        sent.append(bytes(apdu))
        return transmit(apdu)

    reader.transmit = spy  # type: ignore[method-assign]
    holder = ScriptedCardholder(
        card.test_pin,  # type: ignore[attr-defined]
        online_pin_encryptor=SoftPinPad().encrypt_online_pin,
    )
    outcome = service.pay(PaymentRequest(999, currency("EUR")), reader, holder)
    return outcome.result, sent


def test_offline_enciphered_pin_under_the_pin_key(service: PaymentService) -> None:
    card = load_card("pin_key_card")
    result, sent = _pay(service, card)
    assert result.outcome.value == "approved", result.reason  # type: ignore[attr-defined]
    assert result.cvm_results == "440302"  # type: ignore[attr-defined]  # enciphered PIN ok
    verify = [a for a in sent if a[1] == 0x20]
    assert len(verify) == 1 and verify[0][3] == 0x88
    block = verify[0][5 : 5 + verify[0][4]]
    # Only the PIN key deciphers the block into 7F || PIN block || challenge || pad.
    assert pki.decipher_pin(pki.IccKey(pki.icc_pin_key(ISSUER)), block)[0] == 0x7F
    try:
        under_icc_key = pki.decipher_pin(pki.icc_key(ISSUER), block)[0] == 0x7F
    except RsaEmvError:  # the block is not even below the ICC key's modulus
        under_icc_key = False
    assert not under_icc_key
    assert card.pin_try_counter == card.pin_try_limit


def _replace_pin_certificate(card: object, cert: bytes) -> None:
    """Swap 9F2D in the personalised record (the record is not signed for ODA)."""
    app = card.applications[0]  # type: ignore[attr-defined]
    for key, raw in app.personal.records.items():
        items = [(o.tag, o.value) for o in tlv.decode_single(raw, 0x70).children or ()]
        if any(t == 0x9F2D for t, _ in items):
            items = [(t, cert if t == 0x9F2D else v) for t, v in items]
            app.personal.records[key] = record_template(items)
            return
    raise AssertionError("no 9F2D record")


@pytest.mark.parametrize(
    "knobs",
    [{"fmt": 0x02}, {"pan": "4761739001010150"}, {"expiry": bytes.fromhex("1025")}],
    ids=["wrong-format", "pan-mismatch", "expired"],
)
def test_bad_pin_certificate_fails_the_enciphered_pin_cvm(
    service: PaymentService, knobs: dict[str, object]
) -> None:
    """Book 2 7.1: no usable PIN key -> offline enciphered PIN fails (no fallback to the ICC
    key), the CVM List moves on to signature (5E 03)."""
    card = load_card("pin_key_card")
    cert, _ = pin_certificate(**knobs)  # type: ignore[arg-type]
    _replace_pin_certificate(card, cert)
    result, sent = _pay(service, card)
    assert not [a for a in sent if a[1] == 0x20]  # no VERIFY was sent
    assert result.cvm_results == "5E0300"  # type: ignore[attr-defined]
    assert result.tvr[:2] == "00"  # type: ignore[attr-defined]  # DDA itself still passed
