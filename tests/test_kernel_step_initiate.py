"""Initiate application processing (EMV Book 3 Section 10.1): PDOL data and GPO formats."""

from __future__ import annotations

import pytest

from emv.kernel import initiate
from emv.kernel.context import KernelTermination
from tests.kernel_step_support import (
    ScriptedCard,
    config,
    make_ctx,
    params,
    rsp,
    t,
    visa_aid,
)

# (case, PDOL, terminal tag overrides, expected PDOL-related data in hex)
PDOL_ROWS = [
    # Book 3 10.1: no PDOL -> GPO carries an empty 83 template.
    ("no PDOL", None, {}, ""),
    # Book 3 5.4: each terminal data element in PDOL order, at the length the card asks.
    (
        "amount, country, currency, date, type, UN",
        "9F02065F2A029F1A029A039C019F3704",
        {},
        "00000000099909780276261124005A5A5A5A",
    ),
    # Terminal type, capabilities, additional capabilities (Book 4 A1-A3).
    ("terminal type and capabilities", "9F35019F33039F4005", {}, "22E0F8C8F000F0A001"),
    # Book 3 5.4: numeric data longer than the DOL length loses its leftmost digits.
    ("numeric truncated on the left", "9F0204", {}, "00000999"),
    # Book 3 5.4: data the terminal does not have (a TTQ at a contact terminal, a
    # proprietary tag) is sent as zeros of the requested length.
    ("TTQ absent -> zeros", "9F6604DF0102", {}, "000000000000"),
    # A TTQ (9F66) configured for this AID is sent as is.
    ("TTQ configured", "9F6604", {0x9F66: bytes.fromhex("36000000")}, "36000000"),
]


@pytest.mark.parametrize(
    ("pdol", "overrides", "expected"), [r[1:] for r in PDOL_ROWS], ids=[r[0] for r in PDOL_ROWS]
)
def test_pdol_related_data(pdol: str | None, overrides: dict, expected: str) -> None:
    card = ScriptedCard({"80A8": rsp(t(0x80, "1C0008010100"))})
    ctx = make_ctx(card, cfg=config(visa_aid(tag_overrides=overrides)))
    if pdol is not None:
        ctx.card_data[0x9F38] = bytes.fromhex(pdol)
    initiate.get_processing_options(ctx)
    data = bytes.fromhex(expected)
    assert (
        card.commands[0]
        == bytes.fromhex("80A80000") + bytes([len(data) + 2, 0x83, len(data)]) + data + b"\x00"
    )


def test_pdol_amount_and_other_amount_for_cashback() -> None:
    card = ScriptedCard({"80A8": rsp(t(0x80, "1C0008010100"))})
    ctx = make_ctx(card, txn=params(1500, other_amount_minor=500))
    ctx.card_data[0x9F38] = bytes.fromhex("9F02069F0306")
    initiate.get_processing_options(ctx)
    assert ctx.pdol_data.hex() == "000000001500000000000500"


# (case, GPO answer, expected (AIP, AFL) or a termination fragment)
GPO_ROWS = [
    # Book 3 6.5.8.4 format 1: 80 { AIP || AFL }.
    ("format 1", rsp(t(0x80, "1C000801010010010201")), ("1C00", "0801010010010201")),
    # Format 2: 77 { 82, 94, ... }; other data objects are kept.
    (
        "format 2",
        rsp(t(0x77, t(0x82, "5800") + t(0x94, "08010100") + t(0x9F36, "0007"))),
        ("5800", "08010100"),
    ),
    ("format 1, AFL not a multiple of 4", rsp(t(0x80, "1C00080101")), "bad length"),
    ("format 1, no AIP", rsp(t(0x80, "1C")), "bad length"),
    ("format 2 without AFL", rsp(t(0x77, t(0x82, "1C00"))), "AIP \\(82\\) or the AFL"),
    (
        "format 2 with a 1-byte AIP",
        rsp(t(0x77, t(0x82, "1C") + t(0x94, "08010100"))),
        "AIP is not 2",
    ),
    ("other template", rsp(t(0x70, t(0x82, "1C00"))), "unexpected tag"),
    ("malformed TLV", rsp(bytes.fromhex("800A1C00")), "malformed"),
    # Book 3 10.1: any SW other than 9000 and 6985 terminates.
    ("6A88", rsp(b"", "6A88"), "6A88"),
]


@pytest.mark.parametrize(
    ("answer", "expected"), [r[1:] for r in GPO_ROWS], ids=[r[0] for r in GPO_ROWS]
)
def test_gpo_response_formats(answer: bytes, expected: tuple[str, str] | str) -> None:
    ctx = make_ctx(ScriptedCard({"80A8": answer}))
    ctx.card_data.pop(0x82)
    if isinstance(expected, str):
        with pytest.raises(KernelTermination, match=expected):
            initiate.get_processing_options(ctx)
        return
    initiate.get_processing_options(ctx)
    assert (ctx.card_data[0x82].hex().upper(), ctx.card_data[0x94].hex().upper()) == expected
    if answer[0] == 0x77:
        assert ctx.card_data[0x9F36] == b"\x00\x07"


def test_gpo_6985_means_back_to_selection() -> None:
    """Book 3 10.1: 'conditions of use not satisfied' -> the caller returns to selection."""
    ctx = make_ctx(ScriptedCard({"80A8": rsp(b"", "6985")}))
    with pytest.raises(initiate.ConditionsNotSatisfied):
        initiate.get_processing_options(ctx)
