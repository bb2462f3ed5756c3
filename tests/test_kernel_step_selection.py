"""Application selection, one table row per EMV Book 1 Section 12 rule.

Each row is a scripted card and the terminal's AID list; the expected value is the
ordered candidate list (Book 1 12.3), or the termination reason.
"""

from __future__ import annotations

import pytest

from emv.config import AidConfig
from emv.kernel import selection as sel
from emv.kernel.context import KernelTermination
from emv.ports import Message
from tests.kernel_step_support import (
    AID_MC,
    AID_VISA,
    AID_VISA_ELECTRON,
    PSE,
    ScriptedCard,
    StepCardholder,
    card_table,
    config,
    fci,
    make_ctx,
    pse_fci,
    pse_record,
    rsp,
    run_kernel,
    select_cmd,
    visa_aid,
)

A000000003 = bytes.fromhex("A000000003")
MC_CFG = AidConfig(AID_MC, "MASTERCARD")

# (case, card table, terminal AIDs, expected candidate AIDs in order, or an error fragment)
CANDIDATE_ROWS = [
    # Book 1 12.3.2: PSE directory entries that the terminal supports, in priority order;
    # no ADF is selected while the list is built.
    (
        "pse, two supported entries, priority order",
        {
            select_cmd(PSE): rsp(pse_fci(1)),
            "00B2010C": rsp(pse_record((AID_MC, "MC", 2), (AID_VISA, "VISA", 1))),
        },
        (visa_aid(), MC_CFG),
        [AID_VISA, AID_MC],
    ),
    # Book 1 12.3.2: an entry whose ADF name begins with a partial-selection terminal AID.
    (
        "pse, partial match of a terminal AID",
        {
            select_cmd(PSE): rsp(pse_fci(1)),
            "00B2010C": rsp(pse_record((AID_VISA_ELECTRON, "ELECTRON", None))),
        },
        (AidConfig(A000000003, "VISA", partial_selection=True),),
        [AID_VISA_ELECTRON],
    ),
    # Book 1 12.3.2: a PSE with no mutually supported entry -> the list of AIDs method.
    (
        "pse without a supported entry falls back to the AID list",
        {
            select_cmd(PSE): rsp(pse_fci(1)),
            "00B2010C": rsp(pse_record((bytes.fromhex("A0000009990001"), "OTHER", None))),
            select_cmd(AID_VISA): rsp(fci(AID_VISA)),
        },
        (visa_aid(),),
        [AID_VISA],
    ),
    # Book 1 12.3.2 step 1: PSE blocked (6283) -> list of AIDs.
    (
        "pse blocked 6283 falls back to the AID list",
        {select_cmd(PSE): rsp(pse_fci(1), "6283"), select_cmd(AID_VISA): rsp(fci(AID_VISA))},
        (visa_aid(),),
        [AID_VISA],
    ),
    # Book 1 12.3.2: a PSE FCI without a usable SFI (88 in 1-10), a malformed PSE FCI or
    # a directory record that cannot be read -> the list of AIDs method.
    (
        "pse SFI 11 falls back to the AID list",
        {select_cmd(PSE): rsp(pse_fci(11)), select_cmd(AID_VISA): rsp(fci(AID_VISA))},
        (visa_aid(),),
        [AID_VISA],
    ),
    (
        "pse FCI malformed falls back to the AID list",
        {select_cmd(PSE): rsp(bytes.fromhex("6F0584")), select_cmd(AID_VISA): rsp(fci(AID_VISA))},
        (visa_aid(),),
        [AID_VISA],
    ),
    (
        "pse record unreadable falls back to the AID list",
        {
            select_cmd(PSE): rsp(pse_fci(1)),
            "00B2010C": rsp(b"", "6A82"),
            select_cmd(AID_VISA): rsp(fci(AID_VISA)),
        },
        (visa_aid(),),
        [AID_VISA],
    ),
    # Book 1 12.3.2 step 1: card blocked (6A81) on SELECT PSE -> terminate.
    ("pse 6A81: card blocked", {select_cmd(PSE): rsp(b"", "6A81")}, (visa_aid(),), "blocked"),
    # Book 1 12.3.3 step 3: exact match.
    (
        "aid list exact match",
        {select_cmd(AID_VISA): rsp(fci(AID_VISA))},
        (visa_aid(), MC_CFG),
        [AID_VISA],
    ),
    # Book 1 12.3.3 steps 4-5: partial match, then SELECT next occurrence until 6A82.
    (
        "partial match with next occurrence",
        {
            select_cmd(A000000003): rsp(fci(AID_VISA)),
            select_cmd(A000000003, True): [rsp(fci(AID_VISA_ELECTRON)), rsp(b"", "6A82")],
        },
        (AidConfig(A000000003, "VISA", partial_selection=True),),
        [AID_VISA, AID_VISA_ELECTRON],
    ),
    # Book 1 12.3.1: ASI 'exact only' -> a longer DF name does not match.
    (
        "exact-only ASI rejects a longer DF name",
        {select_cmd(A000000003): rsp(fci(AID_VISA))},
        (AidConfig(A000000003, "VISA", partial_selection=False),),
        [],
    ),
    # Book 1 12.3.3: 6283 (application blocked) is not added; next occurrence continues.
    (
        "6283 blocked application skipped",
        {
            select_cmd(A000000003): rsp(fci(AID_VISA), "6283"),
            select_cmd(A000000003, True): [rsp(fci(AID_VISA_ELECTRON)), rsp(b"", "6A82")],
        },
        (AidConfig(A000000003, "VISA", partial_selection=True),),
        [AID_VISA_ELECTRON],
    ),
    # Book 1 12.3.3 step 2: 6A81 to the first SELECT -> card blocked, terminate.
    (
        "aid list 6A81: card blocked",
        {select_cmd(AID_VISA): rsp(b"", "6A81")},
        (visa_aid(),),
        "blocked",
    ),
    # Book 1 12.4 step 1: priority 1 first, unprioritised applications last.
    (
        "priority order",
        {
            select_cmd(AID_VISA): rsp(fci(AID_VISA)),
            select_cmd(AID_VISA_ELECTRON): rsp(fci(AID_VISA_ELECTRON, priority=2)),
            select_cmd(AID_MC): rsp(fci(AID_MC, priority=1)),
        },
        (visa_aid(), AidConfig(AID_VISA_ELECTRON), MC_CFG),
        [AID_MC, AID_VISA_ELECTRON, AID_VISA],
    ),
]


@pytest.mark.parametrize(
    ("table", "aids", "expected"),
    [r[1:] for r in CANDIDATE_ROWS],
    ids=[r[0] for r in CANDIDATE_ROWS],
)
def test_candidate_list(table: dict, aids: tuple, expected: list | str) -> None:
    ctx = make_ctx(ScriptedCard(table), cfg=config(*aids))
    if isinstance(expected, str):
        with pytest.raises(KernelTermination, match=expected):
            sel.build_candidate_list(ctx)
        return
    assert [c.aid for c in sel.build_candidate_list(ctx)] == expected


def test_pse_list_selects_no_adf_while_building() -> None:
    card = ScriptedCard(
        {select_cmd(PSE): rsp(pse_fci(1)), "00B2010C": rsp(pse_record((AID_VISA, "V", None)))}
    )
    sel.build_candidate_list(make_ctx(card))
    assert card.sent("00A40400") == 1  # only the PSE itself (Book 1 12.3.2)


def _candidate(aid: bytes, priority: int | None = None, confirm: bool = False) -> sel.Candidate:
    return sel.Candidate(aid, aid.hex(), priority, confirm)


# (case, candidates, terminal supports confirmation, cardholder answer, expected AID or error)
CHOICE_ROWS = [
    # Book 1 12.4 step 2: one application, no confirmation needed -> selected silently.
    ("single, no confirmation", [_candidate(AID_VISA)], True, 0, AID_VISA),
    # Book 1 12.4 step 2: 87 b8 = 1 and the terminal offers confirmation -> cardholder confirms.
    ("single, confirmed", [_candidate(AID_VISA, 1, True)], True, 0, AID_VISA),
    ("single, confirmation refused", [_candidate(AID_VISA, 1, True)], True, None, "not confirm"),
    # Book 1 12.4 step 2: 87 b8 = 1 and no confirmation facility -> not selectable.
    ("single, confirmation unsupported", [_candidate(AID_VISA, 1, True)], False, 0, "confirmation"),
    # Book 1 12.4 step 3: cardholder choice among several.
    ("choice, second", [_candidate(AID_MC, 1), _candidate(AID_VISA, 2)], True, 1, AID_VISA),
    ("choice cancelled", [_candidate(AID_MC, 1), _candidate(AID_VISA, 2)], True, None, "cancelled"),
    # Book 1 12.4 step 4: no cardholder choice -> highest priority not needing confirmation.
    (
        "automatic, skips confirmation-only",
        [_candidate(AID_MC, 1, True), _candidate(AID_VISA, 2)],
        False,
        0,
        AID_VISA,
    ),
    # Book 1 12.4: an empty candidate list ends the transaction ('Not accepted').
    ("no match", [], True, 0, "no application"),
]


@pytest.mark.parametrize(
    ("candidates", "supports", "answer", "expected"),
    [r[1:] for r in CHOICE_ROWS],
    ids=[r[0] for r in CHOICE_ROWS],
)
def test_choice(candidates: list, supports: bool, answer: int | None, expected: object) -> None:
    holder = StepCardholder(choice=answer, confirm=answer is not None)
    ctx = make_ctx(cfg=config(cardholder_confirmation=supports), cardholder=holder)
    if isinstance(expected, str):
        with pytest.raises(KernelTermination, match=expected):
            sel.choose(ctx, candidates)
        if expected == "no application":
            assert holder.messages == [Message.NOT_ACCEPTED]
        return
    assert sel.choose(ctx, candidates).aid == expected


def test_final_select_keeps_fci_data_and_hands_language_to_the_ui() -> None:
    holder = StepCardholder()
    card = ScriptedCard({select_cmd(AID_VISA): rsp(fci(AID_VISA, "VISA", 1, "9F3501", "defr"))})
    ctx = make_ctx(card, cardholder=holder)
    sel.final_select(ctx, _candidate(AID_VISA), reuse_fci=False)
    assert ctx.card_data[0x9F38] == bytes.fromhex("9F3501")
    assert ctx.card_data[0x87] == b"\x01"
    assert holder.languages == ["de", "fr"]  # 5F2D, Book 1 11.3.4


def test_final_select_different_df_name_terminates() -> None:
    card = ScriptedCard({select_cmd(AID_VISA): rsp(fci(AID_MC))})
    with pytest.raises(KernelTermination, match="different application"):
        sel.final_select(make_ctx(card), _candidate(AID_VISA), reuse_fci=False)


def test_blocked_at_final_select_goes_back_to_selection() -> None:
    """Book 1 12.4: final SELECT not 9000 -> remove it, 'Try again', choose among the rest."""
    table = card_table(aid=AID_VISA)
    table.update(
        {
            select_cmd(PSE): rsp(pse_fci(1)),
            "00B2010C": [
                rsp(pse_record((AID_MC, "MC", 1), (AID_VISA, "VISA", 2))),
                table["00B2010C"],  # type: ignore[list-item]
            ],
            select_cmd(AID_MC): rsp(fci(AID_MC), "6283"),
        }
    )
    holder = StepCardholder(choice=0)
    result = run_kernel(ScriptedCard(table), cfg=config(visa_aid(), MC_CFG), cardholder=holder)
    assert result.aid == AID_VISA.hex().upper()
    assert Message.TRY_AGAIN in holder.messages
    assert len(holder.offered[0]) == 2  # first choice among both; Visa is then the only one


def test_gpo_6985_returns_to_selection_without_that_application() -> None:
    """Book 3 10.1: GPO 6985 -> remove the application, back to selection (Book 1 12.4)."""
    table = card_table(aid=AID_VISA)
    table.update(
        {
            select_cmd(AID_MC): rsp(fci(AID_MC, priority=1)),
            select_cmd(AID_VISA): rsp(fci(AID_VISA, priority=2)),
            "80A8": [rsp(b"", "6985"), table["80A8"]],  # type: ignore[list-item]
        }
    )
    holder = StepCardholder(choice=0)
    result = run_kernel(ScriptedCard(table), cfg=config(MC_CFG, visa_aid()), cardholder=holder)
    assert result.aid == AID_VISA.hex().upper()
    assert result.apdus[-1].command[:2] == b"\x80\xae"  # the Visa application ran on
    assert Message.TRY_AGAIN in holder.messages
    assert [c.aid for c in holder.offered[0]] == [AID_MC, AID_VISA]


def test_gpo_6985_on_the_only_application_ends_with_not_accepted() -> None:
    table = card_table(aid=AID_VISA)
    table["80A8"] = rsp(b"", "6985")
    holder = StepCardholder()
    result = run_kernel(ScriptedCard(table), cardholder=holder)
    assert result.outcome.value == "aborted"
    assert "no application" in result.reason
    assert Message.NOT_ACCEPTED in holder.messages
