"""Host simulator issuer rules, ARQC/ARPC, PIN, ledger and de-duplication (no sockets)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquirer_client import messages as m
from crypto import dukpt_aes, dukpt_tdes, pinblock
from crypto.emv_cryptogram import arpc_method_1
from crypto.emv_keys import derive_icc_master_key_option_a
from emv import tlv
from emv.ports import OnlinePin
from hardware_sim.card.secure_messaging import card_keys, session_key, verify_command_mac
from hardware_sim.host.config import default_rules
from hardware_sim.host.issuer import Issuer, original_key
from hardware_sim.host.ledger import CardState, Ledger
from hardware_sim.host.testcards import VISA_TEST_PAN, online_request
from hardware_sim.test_keys import issuer_for_pan

TERMINAL = m.TerminalIdentity("TERM0001", "MERCHANT000001", "123456")
WHEN = datetime(2026, 11, 24, 10, 0, 0)
NOW = datetime(2026, 11, 24, 10, 0, 5).timestamp()


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(default_rules(), Ledger(), now=lambda: NOW)


def _send(issuer: Issuer, doc: m.IsoDoc) -> m.IsoDoc:
    return m.decode(issuer.handle(m.decode(m.encode(doc))))


def _auth(issuer: Issuer, stan: int = 1, **kw: object) -> tuple[m.IsoDoc, m.IsoDoc]:
    req = m.card_request(online_request(**kw), TERMINAL, stan, WHEN)  # type: ignore[arg-type]
    return req, _send(issuer, req)


def test_approval_with_valid_arpc(issuer: Issuer) -> None:
    req, resp = _auth(issuer, amount_minor=1000)
    assert resp["t"] == "0210" and resp["39"] == "00" and len(resp["38"]) == 6
    assert resp["11"] == req["11"] and len(resp["37"]) == 12
    icc = tlv.flatten(m.icc_data(resp))
    arqc = tlv.flatten(m.icc_data(req))[0x9F26]
    keys = issuer_for_pan(VISA_TEST_PAN)
    assert keys is not None
    mk = derive_icc_master_key_option_a(keys.imk_ac, VISA_TEST_PAN, "01")
    assert icc[0x91] == arpc_method_1(mk, b"\x00\x01", arqc, b"00") + b"00"
    assert issuer.ledger.net_charged() == 1000
    assert issuer.ledger.balance(VISA_TEST_PAN, 0) == 1_000_000 - 1000


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"amount_minor": 1005}, "05"),
        ({"amount_minor": 1051}, "51"),
        ({"amount_minor": 1091}, "91"),
        ({"pan": "4000000000000002"}, "15"),
        ({"pan": "4761739001010011"}, "14"),
        ({"expiry_yymm": "2610"}, "54"),
        ({"pan": "4761739001010200", "amount_minor": 1200}, "51"),
        ({"transaction_type": 0x31}, "12"),
    ],
)
def test_decline_codes(issuer: Issuer, kw: dict[str, object], code: str) -> None:
    tt = kw.pop("transaction_type", None)
    if tt is not None:
        req = m.card_request(online_request(), TERMINAL, 1, WHEN)
        req["3"] = f"{tt:02X}0000"
        resp = _send(issuer, req)
    else:
        _, resp = _auth(issuer, **kw)
    assert resp["39"] == code
    assert "38" not in resp
    assert issuer.ledger.net_charged() == 0
    assert issuer.ledger.rows()[0].status == "declined"


def test_decline_still_carries_arpc_when_arqc_good(issuer: Issuer) -> None:
    _, resp = _auth(issuer, amount_minor=1005)
    assert tlv.flatten(m.icc_data(resp))[0x91][-2:] == b"05"


def test_bad_arqc_declines_without_arpc(issuer: Issuer) -> None:
    _, resp = _auth(issuer, valid_arqc=False)
    assert resp["39"] == "05"
    assert "55" not in resp
    assert issuer.ledger.net_charged() == 0


def test_chip_without_arqc_declines(issuer: Issuer) -> None:
    req = m.card_request(online_request(), TERMINAL, 1, WHEN)
    del req["55"]
    assert _send(issuer, req)["39"] == "05"


def test_fallback_without_arqc_is_approved(issuer: Issuer) -> None:
    req = m.card_request(online_request(pos_entry_mode="801"), TERMINAL, 1, WHEN)
    del req["55"]
    resp = _send(issuer, req)
    assert resp["39"] == "00" and "55" not in resp


def _tdes_pin(pin: str, pan: str = VISA_TEST_PAN) -> OnlinePin:
    bdk = bytes.fromhex(default_rules()["dukpt_bdk_tdes"])
    device = dukpt_tdes.TdesDukptOriginator.from_bdk(bdk, bytes.fromhex("FFFF9876543210E00000"))
    block, ksn = device.encrypt_pin_block(pinblock.encode_format0(pin, pan))
    return OnlinePin(block, ksn, 0)


def _aes_pin(pin: str, pan: str = VISA_TEST_PAN) -> OnlinePin:
    bdk = bytes.fromhex(default_rules()["dukpt_bdk_aes128"])
    ikid = bytes.fromhex("1234567890123456")
    device = dukpt_aes.AesDukptOriginator.from_bdk(bdk, ikid)
    txn = device.next_transaction()
    key = dukpt_aes.pin_encryption_key(txn.key, txn.ksn)
    return OnlinePin(pinblock.encipher_format4(pin, pan, key), txn.ksn, 4)


@pytest.mark.parametrize(
    ("pin", "code"),
    [
        (_tdes_pin("1234"), "00"),
        (_tdes_pin("9999"), "55"),
        (_aes_pin("1234"), "00"),
        (_aes_pin("4321"), "55"),
    ],
)
def test_online_pin(issuer: Issuer, pin: OnlinePin, code: str) -> None:
    _, resp = _auth(issuer, online_pin=pin)
    assert resp["39"] == code


def test_duplicate_is_replayed_not_charged_twice(issuer: Issuer) -> None:
    req, first = _auth(issuer, amount_minor=2500)
    second = _send(issuer, req)
    assert second == first
    assert issuer.ledger.net_charged() == 2500
    assert len(issuer.ledger.rows()) == 1


def test_reversal_restores_and_is_idempotent(issuer: Issuer) -> None:
    req, _ = _auth(issuer, amount_minor=3000)
    rev = m.reversal_request(req, WHEN)
    for _ in range(3):
        assert _send(issuer, rev)["39"] == "00"
    assert issuer.ledger.net_charged() == 0
    assert issuer.ledger.balance(VISA_TEST_PAN, 0) == 1_000_000
    kinds = [(r.kind, r.status) for r in issuer.ledger.rows()]
    assert kinds == [("financial", "reversed"), ("reversal", "applied")]


def test_reversal_before_original(issuer: Issuer) -> None:
    req = m.card_request(online_request(amount_minor=700), TERMINAL, 9, WHEN)
    assert _send(issuer, m.reversal_request(req, WHEN))["t"] == "0410"
    assert _send(issuer, req)["39"] == "00"  # the terminal has given up on this answer
    assert issuer.ledger.net_charged() == 0


def test_advice_cannot_be_declined_and_dedupes(issuer: Issuer) -> None:
    req = m.card_request(online_request(amount_minor=1051), TERMINAL, 4, WHEN, mti="0220")
    assert _send(issuer, req)["39"] == "00"
    assert _send(issuer, req)["t"] == "0230"
    assert issuer.ledger.net_charged() == 1051


def test_refund_credits_the_card(issuer: Issuer) -> None:
    _auth(issuer, stan=1, amount_minor=5000)
    _, resp = _auth(issuer, stan=2, amount_minor=2000, transaction_type=0x20)
    assert resp["39"] == "00"
    assert issuer.ledger.net_charged() == 3000


def test_velocity_and_aml(issuer: Issuer) -> None:
    issuer.rules = dict(issuer.rules)
    issuer.rules["velocity"] = {"window_seconds": 60, "max_count": 3, "max_amount_minor": 10**9}
    issuer.rules["aml"] = {"large_amount_minor": 5000, "window_seconds": 60, "max_count": 2}
    codes = [_auth(issuer, stan=i, amount_minor=6000, atc=i)[1]["39"] for i in range(1, 5)]
    assert codes == ["00", "00", "00", "65"]
    reasons = [r for _, _, r in issuer.ledger.alerts()]
    assert reasons.count("large amount 6000") == 4
    assert any("transactions in the window" in r for r in reasons)
    assert all("476173******0010" == p for _, p, _ in issuer.ledger.alerts())


def test_issuer_script_is_maced_for_the_card() -> None:
    issuer = Issuer(default_rules(), Ledger(), now=lambda: NOW)
    pan = "4761739001010150"  # the issuer_script card profile
    req, resp = _auth(issuer, pan=pan)
    scripts = m.authorisation_response(resp).issuer_scripts
    template = tlv.decode_single(scripts, 0x72)
    assert template.find(0x9F18) is not None
    assert template.find(0x9F18).value == bytes.fromhex("00000007")  # type: ignore[union-attr]
    command = template.find(0x86)
    assert command is not None and command.value[:4] == bytes.fromhex("841E0000")
    icc = tlv.flatten(m.icc_data(req))
    mk_smi, _ = card_keys(pan, "01")
    sk = session_key(mk_smi, icc[0x9F26])
    assert verify_command_mac(sk, command.value, icc[0x9F36], icc[0x9F26]) == b""


def test_no_script_on_decline_or_other_cards(issuer: Issuer) -> None:
    _, resp = _auth(issuer, pan="4761739001010150", amount_minor=1005)
    assert m.authorisation_response(resp).issuer_scripts == b""
    _, resp = _auth(issuer, stan=2)
    assert m.authorisation_response(resp).issuer_scripts == b""


def test_reconciliation(issuer: Issuer) -> None:
    _auth(issuer, stan=1, amount_minor=1000)
    _auth(issuer, stan=2, amount_minor=500)
    req3, _ = _auth(issuer, stan=3, amount_minor=200)
    _send(issuer, m.reversal_request(req3, WHEN))
    good = m.CurrencyTotals(
        978, debits_count=3, debits_amount=1700, debit_reversals_count=1, debit_reversals_amount=200
    )
    bad = m.CurrencyTotals(978, debits_count=1, debits_amount=1000)
    out = _send(issuer, m.reconciliation_request(bad, TERMINAL, 10, WHEN, batch=1))
    assert (out["39"], out["66"]) == ("95", "2")
    out = _send(issuer, m.reconciliation_request(good, TERMINAL, 11, WHEN, batch=1))
    assert (out["39"], out["66"]) == ("00", "1")


def test_network_echo(issuer: Issuer) -> None:
    out = _send(issuer, m.network_request(m.NETWORK_ECHO, TERMINAL, 3, WHEN))
    assert (out["t"], out["39"], out["70"]) == ("0810", "00", "301")


def test_ledger_stores_no_full_pan(tmp_path: object) -> None:
    ledger = Ledger()
    issuer = Issuer(default_rules(), ledger, now=time.time)
    _auth(issuer)
    dump = "\n".join(ledger._db.iterdump())  # noqa: SLF001 - inspecting storage on purpose
    assert VISA_TEST_PAN not in dump


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 400),
    st.binary(min_size=1, max_size=6),
    st.sampled_from(["0200", "0400", "0500", "0220"]),
)
def test_host_survives_mutated_requests(pos: int, junk: bytes, mti: str) -> None:
    """Whatever a terminal sends, the host either answers or rejects with a MessageError."""
    issuer = Issuer(default_rules(), Ledger(), now=lambda: NOW)
    req = m.card_request(online_request(), TERMINAL, 1, WHEN)
    if mti == "0400":
        req = m.reversal_request(req, WHEN)
    elif mti == "0500":
        req = m.reconciliation_request(m.CurrencyTotals(978), TERMINAL, 1, WHEN, 1)
    elif mti == "0220":
        req["t"] = "0220"
    raw = bytearray(m.encode(req))
    pos %= len(raw)
    raw[pos : pos + len(junk)] = junk
    try:
        doc = m.decode(bytes(raw))
    except m.MessageError:
        return
    try:
        answer = issuer.handle(doc)
    except (m.MessageError, KeyError, ValueError):
        return  # the server closes that connection (HostSimulator._answer)
    assert m.decode(answer)["t"] == f"{int(doc['t']) + 10:04d}"


def test_card_state_counts_each_window_and_reads_the_balance() -> None:
    """One read gives velocity (approved debits in its window), the AML count (card requests
    of any outcome in its window) and the balance; credits and reversals are not debits."""
    ledger = Ledger()
    key = "ab" * 32
    rows = [  # (kind, status, signed amount, age in seconds)
        ("financial", "approved", 1000, 30),
        ("financial", "approved", 2000, 300),  # in the velocity window only
        ("financial", "declined", 4000, 20),  # AML counts it, velocity does not
        ("financial", "approved", -500, 10),  # a refund: not a debit
        ("financial", "reversed", 800, 5),
        ("reversal", "applied", 0, 5),  # not a card request
        ("financial", "approved", 9000, 7200),  # outside both windows
    ]
    for n, (kind, status, signed, age) in enumerate(rows):
        ledger.record(
            dedupe_key=f"k{n}",
            kind=kind,
            mti="0200",
            terminal_id="T1",
            stan=f"{n:06d}",
            pan_hash=key,
            amount_minor=abs(signed),
            signed_minor=signed,
            status=status,
            created=NOW - age,
        )
    assert ledger.card_state(key, NOW - 3600, NOW - 60) == CardState(2, 3000, 4, None)
    ledger.adjust_balance_by_hash(key, "476173******0010", -1000, 50_000)
    assert ledger.card_state(key, NOW - 60, NOW - 3600).balance == 49_000
    assert ledger.card_state("cd" * 32, NOW - 60, NOW - 60) == CardState(0, 0, 0, None)


def test_velocity_amount_limit_and_window(issuer: Issuer) -> None:
    issuer.rules = dict(issuer.rules)
    issuer.rules["velocity"] = {"window_seconds": 60, "max_count": 99, "max_amount_minor": 9000}
    codes = [_auth(issuer, stan=i, amount_minor=4000, atc=i)[1]["39"] for i in range(1, 4)]
    assert codes == ["00", "00", "61"]
    issuer.now = lambda: NOW + 120  # the first two left the window
    assert _auth(issuer, stan=4, amount_minor=4000, atc=4)[1]["39"] == "00"


def test_lookup_finds_the_stored_answer_and_a_reversal_that_came_first(issuer: Issuer) -> None:
    req = m.card_request(online_request(amount_minor=700), TERMINAL, 9, WHEN)
    key = original_key(req)
    assert issuer.ledger.lookup(key) == (None, False)
    _send(issuer, m.reversal_request(req, WHEN))
    assert issuer.ledger.lookup(key) == (None, True)
    _send(issuer, req)
    stored, reversed_first = issuer.ledger.lookup(key)
    assert reversed_first and stored is not None and m.decode(stored)["39"] == "00"


def test_rrn_date_and_expiry_follow_the_clock_across_midnight() -> None:
    """The issuer keeps the local day between requests; a new day changes both uses of it."""
    clock = [datetime(2026, 12, 31, 23, 59, 59).timestamp()]
    issuer = Issuer(default_rules(), Ledger(), now=lambda: clock[0])
    _, late = _auth(issuer, stan=1, amount_minor=1000, expiry_yymm="2612")
    assert late["39"] == "00" and late["37"].startswith("26365")
    clock[0] += 2  # 2027-01-01 00:00:01: a card that expired in December 2026 is now refused
    _, early = _auth(issuer, stan=2, amount_minor=1000, expiry_yymm="2612")
    assert early["39"] == "54" and early["37"].startswith("27001")
    assert int(early["37"][6:]) == int(late["37"][6:]) + 1  # one sequence across the day
