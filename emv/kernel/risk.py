"""Terminal risk management (EMV Book 3 Section 10.6).

Floor limit checking (10.6.1, including the split-sales check against the terminal's
own log of that PAN), random transaction selection (10.6.2) and velocity checking (10.6.3)
with GET DATA of the ATC (9F36) and Last Online ATC Register (9F13).
"""

from __future__ import annotations

from emv import apdu
from emv.kernel.context import TransactionContext
from emv.tvr import TsiBit, TvrBit


def floor_limit_check(ctx: TransactionContext) -> None:
    aid = ctx.aid_config
    floor = aid.floor_limit if aid else 0
    total = ctx.params.amount_minor + ctx.recent_amount_same_pan
    if total >= floor:
        ctx.tvr.set(TvrBit.TRANSACTION_EXCEEDS_FLOOR_LIMIT)


def random_selection(ctx: TransactionContext) -> None:
    """10.6.2: a draw 1-99 against the (biased) Transaction Target Percent.

    Only a terminal that can go online selects transactions for online processing; a
    target of 0 with a higher maximum still biases amounts between threshold and floor.
    """
    aid = ctx.aid_config
    if aid is None or not ctx.config.online_capable:
        return
    if aid.random_selection_target_percent <= 0 and aid.random_selection_max_target_percent <= 0:
        return
    amount = ctx.params.amount_minor
    floor = aid.floor_limit
    if amount >= floor:
        return
    draw = int.from_bytes(ctx.random.random_bytes(2), "big") % 99 + 1
    threshold = aid.random_selection_threshold
    target = aid.random_selection_target_percent
    if amount < threshold:
        selected = draw <= target
    else:
        span = max(floor - threshold, 1)
        extra = (aid.random_selection_max_target_percent - target) * (amount - threshold) / span
        selected = draw <= target + extra
    if selected:
        ctx.tvr.set(TvrBit.SELECTED_RANDOMLY_FOR_ONLINE)


def _get_counter(ctx: TransactionContext, tag: int) -> int | None:
    response = ctx.send(apdu.get_data(tag))
    prefix = tag.to_bytes(2, "big") + b"\x02"
    if response.ok and len(response.data) == 5 and response.data[:3] == prefix:
        value = int.from_bytes(response.data[3:], "big")
        ctx.card_data[tag] = response.data[3:]
        return value
    return None


def velocity_check(ctx: TransactionContext) -> None:
    lower = ctx.card_data.get(0x9F14)
    upper = ctx.card_data.get(0x9F23)
    if not lower or not upper:
        return
    atc = _get_counter(ctx, 0x9F36)
    last_online = _get_counter(ctx, 0x9F13)
    if atc is None or last_online is None or atc <= last_online:
        # 10.6.3: a counter not returned, or ATC <= Last Online ATC -> both limits exceeded.
        ctx.tvr.set(TvrBit.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)
        ctx.tvr.set(TvrBit.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)
    else:
        if atc - last_online > lower[0]:
            ctx.tvr.set(TvrBit.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)
        if atc - last_online > upper[0]:
            ctx.tvr.set(TvrBit.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)
    if last_online == 0:
        # 10.6.3: a Last Online ATC Register of zero means the card was never online.
        ctx.tvr.set(TvrBit.NEW_CARD)


def exception_file_check(ctx: TransactionContext) -> None:
    if ctx.pan and ctx.pan in ctx.config.exception_file:
        ctx.tvr.set(TvrBit.CARD_ON_EXCEPTION_FILE)


def terminal_risk_management(ctx: TransactionContext) -> None:
    """Performed when AIP byte 1 b4 asks for it (or the terminal always does it)."""
    exception_file_check(ctx)
    if ctx.params.force_online:
        ctx.tvr.set(TvrBit.MERCHANT_FORCED_ONLINE)  # the merchant's choice, TRM or not
    if not (ctx.aip[0] & 0x08 or ctx.config.risk_management_always):
        return
    floor_limit_check(ctx)
    random_selection(ctx)
    velocity_check(ctx)
    ctx.tsi.set(TsiBit.TERMINAL_RISK_MANAGEMENT_PERFORMED)
