"""Terminal and card action analysis (EMV Book 3 Sections 10.7, 10.8, 9.3).

TVR bits used: byte 2 40 'expired application', byte 4 80 'floor limit exceeded'.
Absent IACs count as IAC-Denial 0000000000, IAC-Online and IAC-Default FFFFFFFFFF.
"""

from __future__ import annotations

import pytest

from emv.kernel import action
from emv.kernel.action import CryptogramType
from emv.kernel.context import KernelTermination, TransactionType
from emv.tvr import TerminalVerificationResults, TsiBit
from tests.kernel_step_support import (
    ScriptedCard,
    base_records,
    card_table,
    config,
    genac,
    make_ctx,
    params,
    rsp,
    run_kernel,
    t,
    visa_aid,
)

Z = "0000000000"
EXPIRED, FLOOR = "0040000000", "0000008000"
AAC, TC, ARQC = CryptogramType.AAC, CryptogramType.TC, CryptogramType.ARQC

# (case, TVR, TACs (denial, online, default), IACs (denial, online, default; None = absent),
#  terminal type, force online, expected request)
TAA_ROWS = [
    # Book 3 10.7: nothing set, IACs absent: IAC-Online FF.. matches nothing in a zero TVR.
    ("clean TVR, IACs absent", Z, (Z, Z, Z), (None, None, None), 0x22, False, TC),
    # Absent IAC-Online = FFFFFFFFFF: any TVR bit sends an online-capable terminal online.
    ("floor, IACs absent -> online", FLOOR, (Z, Z, Z), (None, None, None), 0x22, False, ARQC),
    ("floor, IAC-Online 0 -> offline", FLOOR, (Z, Z, Z), (None, Z, None), 0x22, False, TC),
    ("floor, IAC-Online has it", FLOOR, (Z, Z, Z), (None, FLOOR, None), 0x22, False, ARQC),
    ("floor, TAC-Online has it", FLOOR, (Z, FLOOR, Z), (None, Z, None), 0x22, False, ARQC),
    # Denial first: absent IAC-Denial = 0000000000 denies nothing.
    ("expired, IAC-Denial absent", EXPIRED, (Z, Z, Z), (None, Z, Z), 0x22, False, TC),
    ("expired, IAC-Denial has it", EXPIRED, (Z, Z, Z), (EXPIRED, Z, Z), 0x22, False, AAC),
    ("expired, TAC-Denial has it", EXPIRED, (EXPIRED, Z, Z), (None, Z, Z), 0x22, False, AAC),
    ("denial beats online", EXPIRED, (EXPIRED, EXPIRED, Z), (None, None, None), 0x22, False, AAC),
    # Offline-only terminal (23): the Default codes decide at the first GENERATE AC.
    ("offline-only, IAC-Default absent", FLOOR, (Z, Z, Z), (None, None, None), 0x23, False, AAC),
    ("offline-only, defaults clear", FLOOR, (Z, Z, Z), (None, None, Z), 0x23, False, TC),
    ("offline-only, TAC-Default has it", FLOOR, (Z, Z, FLOOR), (None, None, Z), 0x23, False, AAC),
    ("offline-only, clean TVR", Z, (Z, Z, Z), (None, None, None), 0x23, False, TC),
    # Merchant forced online.
    ("forced online", Z, (Z, Z, Z), (None, Z, None), 0x22, True, ARQC),
]


@pytest.mark.parametrize(
    ("tvr", "tacs", "iacs", "terminal_type", "forced", "expected"),
    [r[1:] for r in TAA_ROWS],
    ids=[r[0] for r in TAA_ROWS],
)
def test_terminal_action_analysis(
    tvr: str,
    tacs: tuple[str, str, str],
    iacs: tuple[str | None, str | None, str | None],
    terminal_type: int,
    forced: bool,
    expected: CryptogramType,
) -> None:
    aid = visa_aid(
        tac_denial=bytes.fromhex(tacs[0]),
        tac_online=bytes.fromhex(tacs[1]),
        tac_default=bytes.fromhex(tacs[2]),
    )
    data = {
        tag: bytes.fromhex(value)
        for tag, value in zip((0x9F0E, 0x9F0F, 0x9F0D), iacs, strict=True)
        if value is not None
    }
    ctx = make_ctx(
        cfg=config(aid, terminal_type=terminal_type),
        txn=params(force_online=forced),
        card_data=data,
    )
    ctx.tvr = TerminalVerificationResults(bytes.fromhex(tvr))
    assert action.terminal_action_analysis(ctx) is expected


def test_refund_asks_for_an_aac() -> None:
    ctx = make_ctx(txn=params(transaction_type=TransactionType.REFUND))
    assert action.terminal_action_analysis(ctx) is AAC


def test_default_action_analysis_when_unable_to_go_online() -> None:
    """Book 3 10.7: absent IAC-Default = FF..: any TVR bit -> AAC."""
    ctx = make_ctx(cfg=config(visa_aid(tac_default=bytes(5))))
    assert action.default_action_analysis(ctx) is TC
    ctx.tvr = TerminalVerificationResults(bytes.fromhex(FLOOR))
    assert action.default_action_analysis(ctx) is AAC
    ctx.card_data[0x9F0D] = bytes(5)
    assert action.default_action_analysis(ctx) is TC


# Book 3 9.3 Table 13 / 10.8: the card may answer with a lower cryptogram, never a higher
# one (AAC < ARQC < TC).  (requested, CID returned, accepted?)
CARD_ROWS = [
    (TC, 0x40, True),
    (TC, 0x80, True),
    (TC, 0x00, True),
    (ARQC, 0x80, True),
    (ARQC, 0x00, True),
    (ARQC, 0x40, False),
    (AAC, 0x00, True),
    (AAC, 0x40, False),
    (AAC, 0x80, False),
]


@pytest.mark.parametrize(
    ("requested", "cid", "accepted"),
    CARD_ROWS,
    ids=[f"{r[0].name}->{r[1]:02X}" for r in CARD_ROWS],
)
def test_card_action_analysis(requested: CryptogramType, cid: int, accepted: bool) -> None:
    card = ScriptedCard({"80AE": rsp(genac(cid, 7))})
    ctx = make_ctx(card, card_data=base_records())
    if not accepted:
        with pytest.raises(KernelTermination, match="Book 3 9.3"):
            action.generate_ac(ctx, requested, 0x8C, cda=False)
        return
    answer = action.generate_ac(ctx, requested, 0x8C, cda=False)
    assert answer.cryptogram_type.value == cid
    assert card.commands[0][2] == requested.value  # P1 = the requested type, no CDA bit
    assert ctx.card_data[0x9F27] == bytes([cid]) and ctx.card_data[0x9F36] == b"\x00\x07"
    assert ctx.tsi.has(TsiBit.CARD_RISK_MANAGEMENT_PERFORMED)  # Book 3 10.8


def test_cda_request_sets_p1_b5() -> None:
    card = ScriptedCard({"80AE": rsp(genac(0x80))})
    action.generate_ac(make_ctx(card, card_data=base_records()), ARQC, 0x8C, cda=True)
    assert card.commands[0][2] == 0x90


def test_second_generate_ac_never_accepts_an_arqc() -> None:
    card = ScriptedCard({"80AE": rsp(genac(0x80))})
    with pytest.raises(KernelTermination, match="second GENERATE AC"):
        action.generate_ac(make_ctx(card, card_data=base_records()), TC, 0x8D, cda=False)


def test_format_1_answer() -> None:
    """Book 3 6.5.5.4 format 1: 80 { CID, ATC, AC, IAD }."""
    card = ScriptedCard({"80AE": rsp(t(0x80, "80000301020304050607080601"))})
    answer = action.generate_ac(make_ctx(card, card_data=base_records()), TC, 0x8C, cda=False)
    assert (answer.cid, answer.atc, answer.cryptogram) == (0x80, b"\x00\x03", bytes(range(1, 9)))
    assert answer.issuer_application_data == b"\x06\x01"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (rsp(genac(0xC0)), "reserved cryptogram type"),  # CID b8-b7 = 11: RFU
        (rsp(t(0x77, t(0x9F36, "0001"))), "lacks the CID"),
        (rsp(t(0x80, "800001")), "too short"),
        (rsp(b"", "6985"), "6985"),
    ],
    ids=["CID 11", "no CID", "format 1 short", "6985"],
)
def test_bad_generate_ac_answers_terminate(answer: bytes, error: str) -> None:
    ctx = make_ctx(ScriptedCard({"80AE": answer}), card_data=base_records())
    with pytest.raises(KernelTermination, match=error):
        action.generate_ac(ctx, TC, 0x8C, cda=False)


# CID b4 'advice required' and b3-b1 reason code (Book 3 Table 14) reach the result.
# (CID of the first GENERATE AC, advice required, reason)
CID_ROWS = [
    (0x00, False, ""),
    (0x08, True, ""),
    (0x09, True, "service not allowed"),
    (0x0A, True, "PIN try limit exceeded"),
    (0x03, False, "issuer authentication failed"),
    (0x0C, True, ""),  # 100: RFU reason
]


@pytest.mark.parametrize(
    ("cid", "advice", "reason"), CID_ROWS, ids=[f"{r[0]:02X}" for r in CID_ROWS]
)
def test_cid_advice_and_reason(cid: int, advice: bool, reason: str) -> None:
    result = run_kernel(ScriptedCard(card_table(genac1=genac(cid))))
    assert result.outcome.value == "declined" and result.cryptogram_type == "AAC"
    assert (result.advice_required, result.card_reason) == (advice, reason)
    assert result.authorisation_response_code == "Z1"
    if reason:
        assert reason in result.reason


def test_offline_approval_at_the_first_generate_ac() -> None:
    """Book 3 10.7/10.8: no online code matches -> TC requested; a TC answer is Y1."""
    records = base_records({0x9F0F: bytes(5)})  # IAC-Online present and clear
    aid = visa_aid(floor_limit=100_000, tac_online=bytes(5))
    card = ScriptedCard(card_table(records=records, genac1=genac(0x40)))
    result = run_kernel(card, cfg=config(aid))
    assert (result.outcome.value, result.cryptogram_type) == ("approved", "TC")
    assert (result.tvr, result.tsi, result.cvm_results) == ("8000000000", "6800", "1F0002")
    assert result.authorisation_response_code == "Y1"
    assert result.authorisation_request is not None  # the advice data for the acquirer
    assert card.sent("80AE40") == 1 and card.sent("80AE") == 1
