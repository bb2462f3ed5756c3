"""Processing restrictions (EMV Book 3 Section 10.4).

Application Version Number, Application Usage Control against the transaction type and
domestic/international use, effective date and expiry date.  Each check only sets TVR
bits; terminal action analysis decides what they mean.
"""

from __future__ import annotations

from datetime import date

from emv.kernel.context import TransactionContext, TransactionType
from emv.tvr import TvrBit


def _bcd_date(raw: bytes | None) -> date | None:
    """YYMMDD in BCD -> date (years 00-49 are 20xx, 50-99 are 19xx, Book 3 10.4.3)."""
    if not raw or len(raw) != 3:
        return None
    try:
        yy, mm, dd = (int(raw[i : i + 1].hex()) for i in range(3))
        return date(2000 + yy if yy < 50 else 1900 + yy, mm, dd)
    except ValueError:
        return None


def check_application_version(ctx: TransactionContext) -> None:
    """10.4.1: a card version different from the terminal's sets the TVR bit."""
    card_version = ctx.card_data.get(0x9F08)
    terminal_version = ctx.terminal_data.get(0x9F09)
    if card_version and terminal_version and card_version != terminal_version:
        ctx.tvr.set(TvrBit.DIFFERENT_APPLICATION_VERSIONS)


def check_usage_control(ctx: TransactionContext) -> None:
    """10.4.2: Application Usage Control (9F07) against this transaction."""
    auc = ctx.card_data.get(0x9F07)
    if not auc or len(auc) != 2:
        return
    b1, b2 = auc
    # Book 4 A1: an ATM is a financial-institution unattended terminal (14, 15, 16) with
    # cash capability (9F40 byte 1 b8); a merchant unattended terminal (24-26) is not.
    is_atm = ctx.config.terminal_type in (0x14, 0x15, 0x16) and bool(
        ctx.config.additional_capabilities[0] & 0x80
    )
    if (is_atm and not b1 & 0x02) or (not is_atm and not b1 & 0x01):
        ctx.tvr.set(TvrBit.SERVICE_NOT_ALLOWED)
        return
    issuer_country = ctx.card_data.get(0x5F28)
    if issuer_country is None:
        return
    domestic = issuer_country == ctx.terminal_data.get(0x9F1A)
    kind = ctx.params.transaction_type
    allowed = True
    if kind is TransactionType.CASH:
        allowed = bool(b1 & (0x80 if domestic else 0x40))
    elif kind in (TransactionType.PURCHASE, TransactionType.CASHBACK, TransactionType.REFUND):
        allowed = bool(b1 & (0x20 if domestic else 0x10)) or bool(b1 & (0x08 if domestic else 0x04))
        if kind is TransactionType.CASHBACK and ctx.params.other_amount_minor:
            allowed = allowed and bool(b2 & (0x80 if domestic else 0x40))
    if not allowed:
        ctx.tvr.set(TvrBit.SERVICE_NOT_ALLOWED)


def check_dates(ctx: TransactionContext, today: date) -> None:
    """10.4.3: not yet effective / expired."""
    effective = _bcd_date(ctx.card_data.get(0x5F25))
    if effective and today < effective:
        ctx.tvr.set(TvrBit.APPLICATION_NOT_YET_EFFECTIVE)
    expiry = _bcd_date(ctx.card_data.get(0x5F24))
    if expiry is None or today > expiry:
        ctx.tvr.set(TvrBit.EXPIRED_APPLICATION)


def processing_restrictions(ctx: TransactionContext, today: date) -> None:
    check_application_version(ctx)
    check_usage_control(ctx)
    check_dates(ctx, today)
