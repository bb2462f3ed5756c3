"""Terminal risk management (EMV Book 3 Section 10.6): TVR byte 4 (and byte 2 'new card').

TVR byte 4: 80 floor limit exceeded, 40 lower / 20 upper consecutive offline limit
exceeded, 10 selected randomly for online, 08 merchant forced online.  Byte 2 08 is
'new card'; byte 1 10 'card on exception file'.  TSI 08 00: TRM performed.
"""

from __future__ import annotations

import pytest

from emv.kernel import risk
from emv.kernel.contact import ContactKernel
from emv.ports import FixedClock
from tests.kernel_step_support import (
    WHEN,
    ScriptedCard,
    ScriptedRandom,
    StepCardholder,
    base_records,
    card_table,
    config,
    make_ctx,
    params,
    rsp,
    run_kernel,
    t,
    visa_aid,
)

PAN = base_records()[0x5A]


def _draw(value: int) -> bytes:
    """The 2 random bytes that give draw ``value`` (1-99) in random transaction selection."""
    return (value - 1).to_bytes(2, "big")


# (case, amount, recent amount for this PAN, AIP, always-TRM, expected TVR, TSI)
FLOOR_ROWS = [
    ("under the floor limit", 999, 0, "1C00", False, "0000000000", "0800"),
    ("at the floor limit", 1000, 0, "1C00", False, "0000008000", "0800"),
    # Book 3 10.6.1: split sales - the last logged amount for this PAN is added.
    ("split sale reaches the floor", 600, 400, "1C00", False, "0000008000", "0800"),
    ("split sale stays under", 600, 399, "1C00", False, "0000000000", "0800"),
    # AIP byte 1 b4 clear: TRM is not performed (unless the terminal always does it).
    ("AIP says no TRM", 5000, 0, "1400", False, "0000000000", "0000"),
    ("AIP says no TRM, terminal always does it", 5000, 0, "1400", True, "0000008000", "0800"),
]


@pytest.mark.parametrize(
    ("amount", "recent", "aip", "always", "tvr", "tsi"),
    [r[1:] for r in FLOOR_ROWS],
    ids=[r[0] for r in FLOOR_ROWS],
)
def test_floor_limit(amount: int, recent: int, aip: str, always: bool, tvr: str, tsi: str) -> None:
    cfg = config(visa_aid(floor_limit=1000), risk_management_always=always)
    ctx = make_ctx(cfg=cfg, txn=params(amount), card_data={0x82: bytes.fromhex(aip)})
    ctx.recent_amount_same_pan = recent
    risk.terminal_risk_management(ctx)
    assert (ctx.tvr.hex(), ctx.tsi.hex()) == (tvr, tsi)


def test_split_sales_hook_gets_the_pan_from_the_kernel() -> None:
    """ContactKernel.run(recent_amount_same_pan=...) is asked with the card's PAN."""
    asked: list[str] = []

    def recent(pan: str) -> int:
        asked.append(pan)
        return 400

    kernel = ContactKernel(
        config(visa_aid(floor_limit=1000)),
        StepCardholder(),
        None,
        FixedClock(WHEN),
        ScriptedRandom(),
    )
    result = kernel.run(ScriptedCard(card_table()), params(600), recent_amount_same_pan=recent)
    assert asked == [PAN.hex().upper()]
    assert result.tvr[6:8] == "80"
    assert (
        run_kernel(
            ScriptedCard(card_table()), cfg=config(visa_aid(floor_limit=1000)), txn=params(600)
        ).tvr[6:8]
        == "00"
    )


# Floor 1000, threshold 500, target 20 %, maximum target 50 % (Book 3 10.6.2):
# under the threshold a draw <= 20 selects; between threshold and floor the target grows
# linearly: 750 -> 20 + 30 * 250 / 500 = 35.
# (case, amount, target, max, terminal type, draw, selected?)
RANDOM_ROWS = [
    ("under threshold, draw = target", 400, 20, 50, 0x22, 20, True),
    ("under threshold, draw > target", 400, 20, 50, 0x22, 21, False),
    ("biased, draw = 35", 750, 20, 50, 0x22, 35, True),
    ("biased, draw = 36", 750, 20, 50, 0x22, 36, False),
    ("target 0, max 50: biased 15", 750, 0, 50, 0x22, 15, True),
    ("target 0, max 50: under threshold never", 400, 0, 50, 0x22, 1, False),
    ("offline-only terminal never selects", 400, 20, 50, 0x23, 1, False),
]


@pytest.mark.parametrize(
    ("amount", "target", "maximum", "terminal_type", "draw", "selected"),
    [r[1:] for r in RANDOM_ROWS],
    ids=[r[0] for r in RANDOM_ROWS],
)
def test_random_selection(
    amount: int, target: int, maximum: int, terminal_type: int, draw: int, selected: bool
) -> None:
    aid = visa_aid(
        floor_limit=1000,
        random_selection_threshold=500,
        random_selection_target_percent=target,
        random_selection_max_target_percent=maximum,
    )
    ctx = make_ctx(
        cfg=config(aid, terminal_type=terminal_type),
        txn=params(amount),
        random=ScriptedRandom([_draw(draw)]),
    )
    risk.terminal_risk_management(ctx)
    assert ctx.tvr.hex() == ("0000001000" if selected else "0000000000")


def test_no_random_selection_at_or_over_the_floor_limit() -> None:
    aid = visa_aid(
        floor_limit=1000, random_selection_target_percent=99, random_selection_max_target_percent=99
    )
    random = ScriptedRandom([_draw(1)])
    ctx = make_ctx(cfg=config(aid), txn=params(1000), random=random)
    risk.terminal_risk_management(ctx)
    assert ctx.tvr.hex() == "0000008000"
    assert random.draws == [_draw(1)]  # not drawn


def _counter(tag: int, value: int) -> bytes:
    return rsp(t(tag, value.to_bytes(2, "big")))


FAIL = rsp(b"", "6A88")

# LCOL 9F14 = 2, UCOL 9F23 = 4 (Book 3 10.6.3).
# (case, GET DATA ATC answer, GET DATA Last Online ATC answer, expected TVR)
VELOCITY_ROWS = [
    ("1 offline since online", _counter(0x9F36, 5), _counter(0x9F13, 4), "0000000000"),
    ("3 > LCOL", _counter(0x9F36, 7), _counter(0x9F13, 4), "0000004000"),
    ("5 > UCOL", _counter(0x9F36, 9), _counter(0x9F13, 4), "0000006000"),
    ("new card", _counter(0x9F36, 1), _counter(0x9F13, 0), "0008000000"),
    ("ATC <= last online ATC", _counter(0x9F36, 3), _counter(0x9F13, 4), "0000006000"),
    ("GET DATA ATC fails", FAIL, _counter(0x9F13, 4), "0000006000"),
    ("GET DATA last online ATC fails", _counter(0x9F36, 5), FAIL, "0000006000"),
    ("wrong tag in the answer", _counter(0x9F13, 5), _counter(0x9F13, 4), "0000006000"),
]


@pytest.mark.parametrize(
    ("atc", "last_online", "tvr"), [r[1:] for r in VELOCITY_ROWS], ids=[r[0] for r in VELOCITY_ROWS]
)
def test_velocity_checking(atc: bytes, last_online: bytes, tvr: str) -> None:
    card = ScriptedCard({"80CA9F36": atc, "80CA9F13": last_online})
    ctx = make_ctx(
        card,
        cfg=config(visa_aid(floor_limit=100_000)),
        card_data={0x9F14: b"\x02", 0x9F23: b"\x04"},
    )
    risk.terminal_risk_management(ctx)
    assert (ctx.tvr.hex(), ctx.tsi.hex()) == (tvr, "0800")


def test_no_velocity_check_without_the_card_limits() -> None:
    card = ScriptedCard({})
    ctx = make_ctx(card, cfg=config(visa_aid(floor_limit=100_000)))
    risk.terminal_risk_management(ctx)
    assert card.commands == []  # no GET DATA the card's data does not call for
    assert ctx.tvr.hex() == "0000000000"


@pytest.mark.parametrize(("listed", "tvr"), [(True, "1000000000"), (False, "0000000000")])
def test_exception_file(listed: bool, tvr: str) -> None:
    pans = (PAN.hex().upper(),) if listed else ("4000000000000002",)
    ctx = make_ctx(
        cfg=config(visa_aid(floor_limit=100_000), exception_file=pans),
        card_data={0x5A: PAN, 0x82: b"\x14\x00"},
    )  # even without TRM in the AIP
    risk.terminal_risk_management(ctx)
    assert ctx.tvr.hex() == tvr


@pytest.mark.parametrize("aip", ["1C00", "1400"])
def test_merchant_forced_online(aip: str) -> None:
    ctx = make_ctx(
        cfg=config(visa_aid(floor_limit=100_000)),
        txn=params(force_online=True),
        card_data={0x82: bytes.fromhex(aip)},
    )
    risk.terminal_risk_management(ctx)
    assert ctx.tvr.hex() == "0000000800"
