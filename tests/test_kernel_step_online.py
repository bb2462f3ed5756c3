"""Online processing, issuer authentication, scripts and completion (EMV Book 3 10.9-10.11).

The scripted card has no ODA (TVR byte 1 80) and the floor limit is 0 (TVR byte 4 80), so
the first GENERATE AC asks for an ARQC.  TSI: 40 CVM, 20 card risk management, 10 issuer
authentication, 08 terminal risk management, 04 script processing.  TVR byte 5: 40 issuer
authentication failed, 20 / 10 script failed before / after the final GENERATE AC.
"""

from __future__ import annotations

import pytest

from emv import dol
from emv.ports import AuthorisationResponse, Message
from tests.kernel_step_support import (
    CDOL2,
    ScriptedCard,
    ScriptedHost,
    StepCardholder,
    base_records,
    card_table,
    config,
    genac,
    rsp,
    run_kernel,
    t,
    visa_aid,
)

ARPC = bytes.fromhex("0A0B0C0D0E0F1011") + b"00"  # ARPC || ARC (Book 2 8.2.1)
TVR_BASE = "8000008000"


def _run(
    response: AuthorisationResponse | None,
    *,
    aip: str = "1C00",
    table: dict | None = None,
    genac2: bytes | None = None,
    holder: StepCardholder | None = None,
) -> tuple:
    card = ScriptedCard(table or card_table(aip=aip, genac2=genac2))
    host = ScriptedHost(response)
    result = run_kernel(card, host=host, cardholder=holder)
    return result, card, host


def _second_genac(card: ScriptedCard) -> tuple[int, dict[int, bytes]]:
    """P1 and the CDOL2 data values of the second GENERATE AC."""
    command = [c for c in card.commands if c[:2] == b"\x80\xae"][1]
    data = command[5 : 5 + command[4]]
    return command[2], dol.split(bytes.fromhex(CDOL2), data)


def test_online_approval_with_external_authenticate() -> None:
    """Book 3 10.9: AIP b3 set -> EXTERNAL AUTHENTICATE with 91; ARC 00 in CDOL2; TC."""
    result, card, host = _run(AuthorisationResponse("00", "123456", ARPC))
    assert (result.outcome.value, result.tvr, result.tsi) == ("approved", TVR_BASE, "7800")
    assert card.sent("00820000" + "0A" + ARPC.hex().upper()) == 1
    p1, cdol2 = _second_genac(card)
    assert (p1, cdol2[0x8A]) == (0x40, b"00")
    assert len(host.requests) == 1 and host.requests[0].emv_data[0x9F27] == b"\x80"


def test_external_authenticate_failure_sets_the_tvr_bit() -> None:
    table = card_table()
    table["0082"] = rsp(b"", "6300")
    result, card, _ = _run(AuthorisationResponse("00", "", ARPC), table=table)
    assert (result.tvr, result.tsi) == ("8000008040", "7800")
    _, cdol2 = _second_genac(card)
    assert cdol2[0x95] == bytes.fromhex("8000008040")  # the card sees the failure


def test_arpc_through_cdol2_when_the_aip_has_no_issuer_authentication() -> None:
    """AIP b3 clear: no EXTERNAL AUTHENTICATE; 91 travels in the CDOL2 data."""
    result, card, _ = _run(AuthorisationResponse("00", "", ARPC), aip="1800")
    assert card.sent("0082") == 0
    _, cdol2 = _second_genac(card)
    assert cdol2[0x91] == ARPC
    assert (result.outcome.value, result.tsi) == ("approved", "7800")


def test_no_issuer_authentication_data() -> None:
    result, card, _ = _run(AuthorisationResponse("00", "", None))
    assert card.sent("0082") == 0
    assert (result.outcome.value, result.tsi, result.tvr) == ("approved", "6800", TVR_BASE)


def _script(template: int, identifier: str | None, *commands: str) -> bytes:
    body = t(0x9F18, identifier) if identifier else b""
    return t(template, body + b"".join(t(0x86, c) for c in commands))


PUT_DATA = "04DA9F580A" + "00" * 10  # an issuer script command (case 3)
UNBLOCK = "842400000A" + "00" * 10

# (case, scripts, card answers to the script commands, 9F5B, TVR, TSI,
#  (script commands before, after the final GENERATE AC))
SCRIPT_ROWS = [
    (
        "71 runs before the final GENERATE AC",
        _script(0x71, "11223344", PUT_DATA, UNBLOCK),
        {"04DA": rsp(), "8424": rsp()},
        "2011223344",
        TVR_BASE,
        "7C00",
        (["04DA", "8424"], []),
    ),
    (
        "71 second command fails",
        _script(0x71, "11223344", PUT_DATA, UNBLOCK),
        {"04DA": rsp(), "8424": rsp(b"", "6A80")},
        "1211223344",
        "8000008020",
        "7C00",
        (["04DA", "8424"], []),
    ),
    (
        "72 first command fails",
        _script(0x72, "55667788", UNBLOCK),
        {"8424": rsp(b"", "6985")},
        "1155667788",
        "8000008010",
        "7C00",
        ([], ["8424"]),
    ),
    (
        "71 and 72, no identifier on the second",
        _script(0x71, "11223344", PUT_DATA) + _script(0x72, None, UNBLOCK),
        {"04DA": rsp(), "8424": rsp(b"", "6283")},  # 62xx / 63xx count as processed
        "20112233442000000000",
        TVR_BASE,
        "7C00",
        (["04DA"], ["8424"]),
    ),
]


@pytest.mark.parametrize(
    ("scripts", "answers", "results", "tvr", "tsi", "order"),
    [r[1:] for r in SCRIPT_ROWS],
    ids=[r[0] for r in SCRIPT_ROWS],
)
def test_issuer_scripts(
    scripts: bytes, answers: dict, results: str, tvr: str, tsi: str, order: tuple
) -> None:
    table = card_table()
    table.update(answers)
    result, card, _ = _run(AuthorisationResponse("00", "", ARPC, scripts), table=table)
    assert (result.issuer_script_results, result.tvr, result.tsi) == (results, tvr, tsi)
    # 71 commands precede the final GENERATE AC, 72 commands follow it (Book 3 10.10).
    names = [c[:2].hex().upper() for c in card.commands]
    second = [i for i, n in enumerate(names) if n == "80AE"][1]
    script_names = {"04DA", "8424"}
    before = [n for n in names[:second] if n in script_names]
    after = [n for n in names[second:] if n in script_names]
    assert (before, after) == order


# Unable to go online (Book 3 10.7): Default action codes decide; ARC Y3 / Z3 in CDOL2.
# (case, TAC-Default, IAC-Default (None = absent), 2nd GENERATE AC P1, ARC, outcome)
OFFLINE_ROWS = [
    ("TAC-Default matches", "DC4000A800", None, 0x00, "Z3", "declined"),
    ("IAC-Default absent = FF..", "0000000000", None, 0x00, "Z3", "declined"),
    ("defaults clear -> TC", "0000000000", "0000000000", 0x40, "Y3", "approved"),
]


@pytest.mark.parametrize(
    ("tac_default", "iac_default", "p1", "arc", "outcome"),
    [r[1:] for r in OFFLINE_ROWS],
    ids=[r[0] for r in OFFLINE_ROWS],
)
def test_unable_to_go_online(
    tac_default: str, iac_default: str | None, p1: int, arc: str, outcome: str
) -> None:
    records = base_records({0x9F0D: bytes.fromhex(iac_default)} if iac_default else None)
    second = genac(0x40, 1) if p1 == 0x40 else genac(0x00, 1)
    card = ScriptedCard(card_table(records=records, genac2=second))
    result = run_kernel(
        card,
        host=ScriptedHost(None),
        cfg=config(visa_aid(tac_default=bytes.fromhex(tac_default))),
    )
    got_p1, cdol2 = _second_genac(card)
    assert (got_p1, cdol2[0x8A].decode(), result.outcome.value) == (p1, arc, outcome)
    assert result.unable_to_go_online and result.authorisation_response_code == arc
    assert result.tvr == TVR_BASE  # unable to go online sets no TVR bit of its own


# (case, host response code, outcome, 2nd GENERATE AC P1, referral flag)
RESPONSE_ROWS = [
    ("approved 00", "00", "approved", 0x40, False),
    ("declined 05", "05", "declined", 0x00, False),
    # Referrals: terminal policy - no voice referral, so decline (AAC) with ARC 01/02.
    ("referral 01", "01", "declined", 0x00, True),
    ("referral 02", "02", "declined", 0x00, True),
]


@pytest.mark.parametrize(
    ("code", "outcome", "p1", "referral"),
    [r[1:] for r in RESPONSE_ROWS],
    ids=[r[0] for r in RESPONSE_ROWS],
)
def test_issuer_response_codes(code: str, outcome: str, p1: int, referral: bool) -> None:
    genac2 = genac(0x40, 1) if p1 == 0x40 else genac(0x00, 1)
    holder = StepCardholder()
    result, card, _ = _run(AuthorisationResponse(code, "", None), genac2=genac2, holder=holder)
    got_p1, cdol2 = _second_genac(card)
    assert (result.outcome.value, got_p1, cdol2[0x8A].decode()) == (outcome, p1, code)
    assert result.referral is referral
    assert (Message.CALL_YOUR_BANK in holder.messages) is referral
    if referral:
        assert "referral" in result.reason


def test_card_declines_after_issuer_approval_needs_a_reversal() -> None:
    result, _, _ = _run(AuthorisationResponse("00", "", None), genac2=genac(0x00, 1))
    assert result.outcome.value == "declined" and result.needs_reversal


def test_card_answers_arqc_to_the_second_generate_ac() -> None:
    result, _, _ = _run(AuthorisationResponse("00", "", None), genac2=genac(0x80, 1))
    assert result.outcome.value == "aborted" and "second GENERATE AC" in result.reason
    assert result.needs_reversal  # the host approved: the terminal must reverse it
