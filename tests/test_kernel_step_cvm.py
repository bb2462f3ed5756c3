"""Cardholder verification (EMV Book 3 Section 10.5, Annex C3/C4): CVM Results, TVR, TSI.

Terminal: 9F33 E0F8C8 (plaintext PIN, online PIN, signature, enciphered PIN, no CVM),
PIN pad present, attended online terminal (22), EUR 978.  Each CVM List is X, Y and CV
Rules in hex.  TVR byte 3: 80 CVM not successful, 40 unrecognised CVM, 20 PIN try limit
exceeded, 10 PIN pad not present/working, 08 PIN not entered, 04 online PIN entered.
"""

from __future__ import annotations

import pytest

from emv.kernel import cvm
from emv.kernel.context import KernelTermination, TransactionType
from emv.ports import Message, PinEntry, PinEntryStatus
from tests.kernel_step_support import (
    ScriptedCard,
    StepCardholder,
    config,
    make_ctx,
    offline_pin,
    online_pin,
    params,
    pin_status,
    rsp,
)

P, CASH, CB = TransactionType.PURCHASE, TransactionType.CASH, TransactionType.CASHBACK
X_Y = "000003E8000007D0"  # X = 10.00, Y = 20.00


def _ctx(
    cvm_list: str | None,
    *,
    card: dict | None = None,
    pins: list[PinEntry] | None = None,
    kind: TransactionType = P,
    amount: int = 999,
    terminal_type: int = 0x22,
    app_currency: str | None = "0978",
    aip: str = "1C00",
    **cfg: object,
) -> tuple:
    holder = StepCardholder(pins or [])
    data = {0x82: bytes.fromhex(aip)}
    if cvm_list is not None:
        data[0x8E] = bytes.fromhex(cvm_list)
    if app_currency:
        data[0x9F42] = bytes.fromhex(app_currency)
    scripted = ScriptedCard(card or {})
    ctx = make_ctx(
        scripted,
        cfg=config(terminal_type=terminal_type, **cfg),
        txn=params(amount, transaction_type=kind, other_amount_minor=100 if kind is CB else 0),
        cardholder=holder,
        card_data=data,
    )
    return ctx, holder, scripted


# (case, condition code, transaction type, terminal type, amount, 9F42, satisfied?)
CONDITION_ROWS = [
    ("00 always", "00", P, 0x22, 999, "0978", True),
    ("01 unattended cash: yes", "01", CASH, 0x14, 999, "0978", True),
    ("01 unattended cash: attended", "01", CASH, 0x22, 999, "0978", False),
    ("01 unattended cash: purchase", "01", P, 0x14, 999, "0978", False),
    ("02 not cash/cashback: purchase", "02", P, 0x22, 999, "0978", True),
    ("02 not cash/cashback: manual cash", "02", CASH, 0x22, 999, "0978", False),
    ("02 not cash/cashback: unattended cash", "02", CASH, 0x14, 999, "0978", False),
    ("02 not cash/cashback: cashback", "02", CB, 0x22, 999, "0978", False),
    ("03 terminal supports the CVM", "03", P, 0x22, 999, "0978", True),
    ("04 manual cash: yes", "04", CASH, 0x22, 999, "0978", True),
    ("04 manual cash: unattended", "04", CASH, 0x14, 999, "0978", False),
    ("05 cashback: yes", "05", CB, 0x22, 999, "0978", True),
    ("05 cashback: purchase", "05", P, 0x22, 999, "0978", False),
    ("06 under X", "06", P, 0x22, 999, "0978", True),
    ("06 under X: equal", "06", P, 0x22, 1000, "0978", False),
    ("06 under X: other app currency", "06", P, 0x22, 999, "0840", False),
    ("06 under X: no app currency", "06", P, 0x22, 999, None, False),
    ("07 over X", "07", P, 0x22, 1001, "0978", True),
    ("07 over X: equal", "07", P, 0x22, 1000, "0978", False),
    ("07 over X: no app currency", "07", P, 0x22, 1001, None, False),
    ("08 under Y", "08", P, 0x22, 1999, "0978", True),
    ("08 under Y: equal", "08", P, 0x22, 2000, "0978", False),
    ("09 over Y", "09", P, 0x22, 2001, "0978", True),
    ("09 over Y: equal", "09", P, 0x22, 2000, "0978", False),
    ("09 over Y: other app currency", "09", P, 0x22, 2001, "0840", False),
    ("0A RFU: skipped", "0A", P, 0x22, 999, "0978", False),
    ("80 proprietary: skipped", "80", P, 0x22, 999, "0978", False),
]


@pytest.mark.parametrize(
    ("cc", "kind", "terminal_type", "amount", "currency", "satisfied"),
    [r[1:] for r in CONDITION_ROWS],
    ids=[r[0] for r in CONDITION_ROWS],
)
def test_condition_codes(
    cc: str,
    kind: TransactionType,
    terminal_type: int,
    amount: int,
    currency: str | None,
    satisfied: bool,
) -> None:
    """Rule 1: No CVM required under condition cc; rule 2: signature, always."""
    ctx, _, _ = _ctx(
        X_Y + "1F" + cc + "1E00",
        kind=kind,
        amount=amount,
        terminal_type=terminal_type,
        app_currency=currency,
    )
    cvm.CardholderVerification(ctx).run()
    expected = f"1F{cc}02" if satisfied else "1E0000"
    assert (ctx.cvm_results.hex(), ctx.tvr.hex(), ctx.tsi.hex()) == (expected, "0000000000", "4000")


def test_condition_03_unsupported_cvm_is_skipped() -> None:
    """03 'if terminal supports the CVM': plaintext PIN without 9F33 byte 2 b8 -> next rule."""
    ctx, holder, _ = _ctx(X_Y + "01031E00", terminal_capabilities=bytes.fromhex("E078C8"))
    cvm.CardholderVerification(ctx).run()
    assert (ctx.cvm_results.hex(), ctx.tvr.hex()) == ("1E0000", "0000000000")
    assert holder.pin_requests == []


TC_03 = {"80CA9F17": rsp(bytes.fromhex("9F170103")), "00200080": rsp()}

# (case, CVM list, card answers, PIN pad answers, CVM Results, TVR, signature, extra config)
CODE_ROWS = [
    ("1F no CVM required", X_Y + "1F00", {}, [], "1F0002", "0000000000", False, {}),
    ("1E signature", X_Y + "1E00", {}, [], "1E0000", "0000000000", True, {}),
    ("01 plaintext PIN", X_Y + "0100", TC_03, [offline_pin()], "010002", "0000000000", False, {}),
    ("02 online PIN", X_Y + "0200", {}, [online_pin()], "020000", "0000040000", False, {}),
    (
        "03 plaintext PIN and signature",
        X_Y + "0300",
        TC_03,
        [offline_pin()],
        "030000",
        "0000000000",
        True,
        {},
    ),
    # Book 3 10.5: Fail CVM always fails.
    ("00 fail CVM", X_Y + "0000", {}, [], "000001", "0000800000", False, {}),
    # Book 3 10.5: a CVM code the terminal does not recognise -> 'Unrecognised CVM'.
    ("1D unrecognised", X_Y + "1D00", {}, [], "1D0001", "0000C00000", False, {}),
    ("unrecognised, then next", X_Y + "5D001F00", {}, [], "1F0002", "0000400000", False, {}),
    # Biometric finger (08) without a sensor: 'biometric type not supported' (byte 4 b2).
    ("08 finger, no sensor", X_Y + "0800", {}, [], "080001", "0000800200", False, {}),
    # Book 3 10.5.1: PIN CVM the terminal cannot do -> 'PIN pad not present or not working'.
    (
        "41 PIN without PIN pad, then signature",
        X_Y + "41001E00",
        {},
        [],
        "1E0000",
        "0000100000",
        True,
        {"pin_pad_present": False},
    ),
    (
        "42 online PIN at an offline-only terminal",
        X_Y + "42001F00",
        {},
        [],
        "1F0002",
        "0000100000",
        False,
        {"terminal_type": 0x23},
    ),
    (
        "PIN pad not working",
        X_Y + "41001E00",
        TC_03,
        [pin_status(PinEntryStatus.PAD_NOT_WORKING)],
        "1E0000",
        "0000100000",
        True,
        {},
    ),
    # Book 3 10.5.1 PIN bypass: 'PIN entry required, PIN pad present, PIN not entered'.
    (
        "bypass, b7 set: next rule",
        X_Y + "41001E00",
        TC_03,
        [pin_status(PinEntryStatus.BYPASSED)],
        "1E0000",
        "0000080000",
        True,
        {},
    ),
    (
        "bypass, b7 clear: CVM fails",
        X_Y + "01001E00",
        TC_03,
        [pin_status(PinEntryStatus.BYPASSED)],
        "010001",
        "0000880000",
        False,
        {},
    ),
    (
        "bypass of online PIN",
        X_Y + "42001E00",
        {},
        [pin_status(PinEntryStatus.BYPASSED)],
        "1E0000",
        "0000080000",
        True,
        {},
    ),
    # Book 3 10.5.1: PIN Try Counter 0 -> 'PIN try limit exceeded', no VERIFY.
    (
        "try counter 0",
        X_Y + "41001E00",
        {"80CA9F17": rsp(bytes.fromhex("9F170100"))},
        [],
        "1E0000",
        "0000200000",
        True,
        {},
    ),
    # GET DATA 9F17 not answered: PIN entry still goes ahead.
    (
        "try counter unreadable",
        X_Y + "0100",
        {"80CA9F17": rsp(b"", "6A88"), "00200080": rsp()},
        [offline_pin()],
        "010002",
        "0000000000",
        False,
        {},
    ),
    # VERIFY 63Cx: wrong PIN, x tries left -> prompt again.
    (
        "63C2 then right PIN",
        X_Y + "0100",
        {"80CA9F17": rsp(bytes.fromhex("9F170103")), "00200080": [rsp(b"", "63C2"), rsp()]},
        [offline_pin(), offline_pin()],
        "010002",
        "0000000000",
        False,
        {},
    ),
    (
        "63C1 then 63C0: limit exceeded",
        X_Y + "0100",
        {
            "80CA9F17": rsp(bytes.fromhex("9F170102")),
            "00200080": [rsp(b"", "63C1"), rsp(b"", "63C0")],
        },
        [offline_pin(), offline_pin()],
        "010001",
        "0000A00000",
        False,
        {},
    ),
    (
        "6983 PIN blocked",
        X_Y + "41001F00",
        {"80CA9F17": rsp(bytes.fromhex("9F170103")), "00200080": rsp(b"", "6983")},
        [offline_pin()],
        "1F0002",
        "0000200000",
        False,
        {},
    ),
]


@pytest.mark.parametrize(
    ("cvm_list", "card", "pins", "results", "tvr", "signature", "extra"),
    [r[1:] for r in CODE_ROWS],
    ids=[r[0] for r in CODE_ROWS],
)
def test_cvm_codes(
    cvm_list: str,
    card: dict,
    pins: list[PinEntry],
    results: str,
    tvr: str,
    signature: bool,
    extra: dict,
) -> None:
    ctx, _, _ = _ctx(
        cvm_list,
        card={k: (list(v) if isinstance(v, list) else v) for k, v in card.items()},
        pins=list(pins),
        **extra,
    )
    verification = cvm.CardholderVerification(ctx)
    verification.run()
    assert (ctx.cvm_results.hex(), ctx.tvr.hex(), ctx.tsi.hex()) == (results, tvr, "4000")
    assert verification.signature_required is signature


def test_wrong_pin_prompts_show_the_retry_messages() -> None:
    ctx, holder, card = _ctx(
        X_Y + "0100",
        card={"80CA9F17": rsp(bytes.fromhex("9F170102")), "00200080": [rsp(b"", "63C1"), rsp()]},
        pins=[offline_pin(), offline_pin()],
    )
    cvm.CardholderVerification(ctx).run()
    assert [r.pin_try_counter for r in holder.pin_requests] == [2, 1]
    assert Message.INCORRECT_PIN in holder.messages and Message.LAST_PIN_TRY in holder.messages
    assert card.sent("00200080") == 2


def test_bypass_applies_to_later_pin_cvms_without_a_second_prompt() -> None:
    """Book 3 10.5.1: once PIN entry is bypassed, later PIN CVMs count as bypassed too."""
    ctx, holder, _ = _ctx(
        X_Y + "410042001E00", card=dict(TC_03), pins=[pin_status(PinEntryStatus.BYPASSED)]
    )
    cvm.CardholderVerification(ctx).run()
    assert (ctx.cvm_results.hex(), ctx.tvr.hex()) == ("1E0000", "0000080000")
    assert len(holder.pin_requests) == 1


def test_pin_cancel_terminates() -> None:
    ctx, _, _ = _ctx(X_Y + "0100", card=dict(TC_03), pins=[pin_status(PinEntryStatus.CANCELLED)])
    with pytest.raises(KernelTermination, match="cancelled"):
        cvm.CardholderVerification(ctx).run()


@pytest.mark.parametrize(
    ("code", "results", "signature"), [("04", "040002", False), ("05", "050000", True)]
)
def test_enciphered_offline_pin(code: str, results: str, signature: bool) -> None:
    """Book 2 7.2: GET CHALLENGE, then VERIFY P2=88 with the RSA-enciphered PIN block."""
    modulus = (1 << 1023) + 0x1D  # TEST-ONLY public key: only the length matters to the card
    ctx, _, card = _ctx(
        X_Y + code + "00",
        card={
            "80CA9F17": rsp(bytes.fromhex("9F170103")),
            "00840000": rsp(bytes(range(8))),
            "00200088": rsp(),
        },
        pins=[offline_pin()],
    )
    ctx.icc_public_key = (modulus, 3)
    verification = cvm.CardholderVerification(ctx)
    verification.run()
    assert (ctx.cvm_results.hex(), verification.signature_required) == (results, signature)
    verify = next(c for c in card.commands if c[:4] == bytes.fromhex("00200088"))
    assert verify[4] == 128  # one modulus-length block


def test_enciphered_pin_without_an_icc_key_fails_that_cvm() -> None:
    ctx, holder, _ = _ctx(X_Y + "44001E00", card=dict(TC_03), pins=[offline_pin()])
    cvm.CardholderVerification(ctx).run()
    assert (ctx.cvm_results.hex(), ctx.tvr.hex()) == ("1E0000", "0000000000")
    assert holder.pin_requests == []


# (case, AIP, CVM list, CVM Results, TVR, TSI) - Book 3 10.5 entry conditions.
LIST_ROWS = [
    # AIP byte 1 b5 clear: no cardholder verification, 3F0000, TSI bit not set.
    ("AIP: CVM not supported", "0C00", X_Y + "0100", "3F0000", "0000000000", "0000"),
    # CVM List absent: 'ICC data missing', 3F0000, TSI bit not set.
    ("CVM list absent", "1C00", None, "3F0000", "2000000000", "0000"),
    ("CVM list without rules", "1C00", X_Y, "3F0000", "2000000000", "0000"),
    # No rule's condition satisfied: 3F0001 and 'CVM not successful'.
    ("no rule applies", "1C00", X_Y + "1F05", "3F0001", "0000800000", "4000"),
]


@pytest.mark.parametrize(
    ("aip", "cvm_list", "results", "tvr", "tsi"),
    [r[1:] for r in LIST_ROWS],
    ids=[r[0] for r in LIST_ROWS],
)
def test_cvm_list_presence(
    aip: str, cvm_list: str | None, results: str, tvr: str, tsi: str
) -> None:
    ctx, _, _ = _ctx(cvm_list, aip=aip)
    cvm.CardholderVerification(ctx).run()
    assert (ctx.cvm_results.hex(), ctx.tvr.hex(), ctx.tsi.hex()) == (results, tvr, tsi)
