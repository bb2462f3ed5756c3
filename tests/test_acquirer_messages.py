"""ISO 8583:1987 message building/parsing (acquirer_client.messages)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquirer_client import messages as m
from emv import tlv
from emv.ports import AuthorisationRequest, OnlinePin

WHEN = datetime(2026, 11, 24, 12, 34, 56)
TERMINAL = m.TerminalIdentity("TERM0001", "MERCHANT000001", "123456")
PAN = "4761739001010010"


def _request(**over: object) -> AuthorisationRequest:
    base: dict[str, object] = dict(
        amount_minor=1234,
        other_amount_minor=0,
        currency_numeric=978,
        transaction_type=0x00,
        pan=PAN,
        pan_sequence_number="01",
        expiry_yymm="2512",
        emv_data={0x9F02: bytes.fromhex("000000001234"), 0x95: bytes(5), 0x9F26: bytes(8)},
        pos_entry_mode="051",
    )
    base.update(over)
    return AuthorisationRequest(**base)  # type: ignore[arg-type]


def test_purchase_0200_fields_and_round_trip() -> None:
    doc = m.card_request(_request(), TERMINAL, 42, WHEN)
    assert doc["t"] == "0200"
    assert doc["2"] == PAN
    assert doc["3"] == "000000"
    assert doc["4"] == "000000001234"
    assert doc["7"] == "1124123456"
    assert doc["11"] == "000042"
    assert (doc["12"], doc["13"], doc["14"]) == ("123456", "1124", "2512")
    assert (doc["22"], doc["23"], doc["49"]) == ("051", "001", "978")
    assert doc["41"] == "TERM0001" and doc["42"] == "MERCHANT000001 "
    assert bytes.fromhex(doc["55"]) == bytes.fromhex(
        "9F0206000000001234950500000000009F2608"
    ) + bytes(8)
    raw = m.encode(doc)
    assert raw.startswith(b"0200")
    assert m.decode(raw) == doc


@pytest.mark.parametrize(
    ("tt", "pc"), [(0x00, "000000"), (0x01, "010000"), (0x09, "090000"), (0x20, "200000")]
)
def test_processing_codes(tt: int, pc: str) -> None:
    assert m.card_request(_request(transaction_type=tt), TERMINAL, 1, WHEN)["3"] == pc


def test_cashback_goes_to_de54() -> None:
    doc = m.card_request(
        _request(transaction_type=0x09, amount_minor=3000, other_amount_minor=1000),
        TERMINAL,
        1,
        WHEN,
    )
    assert doc["4"] == "000000003000"
    assert doc["54"] == "0040978D000000001000"
    assert m.decode(m.encode(doc))["54"] == doc["54"]


def test_online_pin_and_track2() -> None:
    req = _request(
        online_pin=OnlinePin(
            bytes.fromhex("1122334455667788"), bytes.fromhex("FFFF9876543210E00001")
        ),
        track2_equivalent=bytes.fromhex("4761739001010010D25122011143804400000F"),
    )
    doc = m.decode(m.encode(m.card_request(req, TERMINAL, 7, WHEN)))
    assert doc["52"] == "1122334455667788"
    assert doc["53"] == "FFFF9876543210E00001"
    assert doc["35"] == "4761739001010010=25122011143804400000"
    summary = m.describe(doc)
    assert PAN not in summary and "476173******0010" in summary
    assert "=2512" not in summary and "1122334455667788" not in summary


@pytest.mark.parametrize(
    ("mode", "ok"), [("051", True), ("071", True), ("801", True), ("011", False), ("5", False)]
)
def test_pos_entry_mode(mode: str, ok: bool) -> None:
    if ok:
        assert m.card_request(_request(pos_entry_mode=mode), TERMINAL, 1, WHEN)["22"] == mode
    else:
        with pytest.raises(m.MessageError):
            m.card_request(_request(pos_entry_mode=mode), TERMINAL, 1, WHEN)


def test_reversal_carries_same_stan_and_de90() -> None:
    original = m.card_request(_request(), TERMINAL, 42, WHEN)
    rev = m.reversal_request(original, datetime(2026, 11, 24, 12, 35, 0))
    assert rev["t"] == "0400" and rev["11"] == "000042" and rev["4"] == "000000001234"
    assert not {"2", "14", "23", "35", "52", "55"} & rev.keys()  # no card data at rest
    assert rev["90"] == "0200" + "000042" + "1124123456" + "00000123456" + "0" * 11
    assert len(rev["90"]) == 42
    again = m.reversal_request(original, datetime(2026, 11, 24, 12, 40, 0))
    assert again["90"] == rev["90"] and again["11"] == rev["11"]
    assert m.decode(m.encode(rev)) == rev


def test_response_mapping_arpc_and_scripts() -> None:
    request = m.card_request(_request(), TERMINAL, 9, WHEN)
    arpc = bytes.fromhex("0102030405060708") + b"00"
    script71 = tlv.encode(0x71, tlv.encode(0x86, bytes.fromhex("8418000000")))
    script72 = tlv.encode(0x72, tlv.encode(0x86, bytes.fromhex("8424000000")))
    de55 = (tlv.encode(0x91, arpc) + script71 + script72).hex().upper()
    resp = m.response_to(request, "00", de37="633012000001", de38="A1B2C3", de55=de55)
    decoded = m.decode(m.encode(resp))
    m.check_response_matches(request, decoded)
    out = m.authorisation_response(decoded)
    assert out.approved and out.response_code == "00"
    assert (out.auth_code, out.rrn, out.stan) == ("A1B2C3", "633012000001", "000009")
    assert out.issuer_authentication_data == arpc
    assert out.issuer_scripts == script71 + script72


def test_response_mismatch_is_rejected() -> None:
    request = m.card_request(_request(), TERMINAL, 9, WHEN)
    other = m.card_request(_request(), TERMINAL, 10, WHEN)
    with pytest.raises(m.MessageError, match="STAN"):
        m.check_response_matches(request, m.response_to(other, "00"))
    with pytest.raises(m.MessageError, match="0210"):
        m.check_response_matches(request, m.response_to(m.reversal_request(request, WHEN), "00"))


def test_network_and_reconciliation() -> None:
    echo = m.network_request(m.NETWORK_ECHO, TERMINAL, 5, WHEN)
    assert m.decode(m.encode(echo))["70"] == "301"
    totals = m.CurrencyTotals(
        978, credits_count=1, credits_amount=500, debits_count=3, debits_amount=4000
    )
    doc = m.decode(m.encode(m.reconciliation_request(totals, TERMINAL, 6, WHEN, batch=3)))
    assert doc["97"] == "D0000000000003500"
    assert m.totals_from(doc) == totals


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"02",
        b"0200",
        b"9999" + bytes(8),
        b"0200" + bytes.fromhex("2000000000000000") + b"12",
        b"0210" + bytes.fromhex("0000000000000200") + b"0\xff",
    ],
)
def test_malformed_input_one_sentence(raw: bytes) -> None:
    with pytest.raises(m.MessageError) as info:
        m.decode(raw)
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text


def test_bad_de55_rejected() -> None:
    doc = m.response_to(m.card_request(_request(), TERMINAL, 1, WHEN), "00")
    doc["55"] = "9F"  # truncated tag
    with pytest.raises(m.MessageError, match="DE 55"):
        m.encode(doc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_crashes(data: bytes) -> None:
    try:
        m.decode(data)
    except m.MessageError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.binary(min_size=1, max_size=8))
def test_mutated_valid_message_never_crashes(pos: int, junk: bytes) -> None:
    raw = bytearray(m.encode(m.card_request(_request(), TERMINAL, 1, WHEN)))
    pos %= len(raw)
    raw[pos : pos + len(junk)] = junk
    try:
        doc = m.decode(bytes(raw))
        m.authorisation_response(doc)
    except m.MessageError:
        pass
