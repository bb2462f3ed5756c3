"""Processing restrictions (EMV Book 3 Section 10.4): TVR byte 2 per row.

Terminal: country 276 (Germany), type 22 (attended merchant) unless stated; today is
2026-11-24.  TVR byte 2: 80 different versions, 40 expired, 20 not yet effective,
10 service not allowed.
"""

from __future__ import annotations

import pytest

from emv.kernel import restrictions
from emv.kernel.context import TransactionType
from tests.kernel_step_support import WHEN, config, make_ctx, params, visa_aid

DE, US = "0276", "0840"
BASE = {0x5F24: "301231"}

# (case, card data (hex), terminal version 9F09, expected TVR)
VERSION_ROWS = [
    ("card version absent: assume compatible", {}, "008C", "0000000000"),  # 10.4.1
    ("same version", {0x9F08: "008C"}, "008C", "0000000000"),
    ("different version", {0x9F08: "0096"}, "008C", "0080000000"),
]


@pytest.mark.parametrize(
    ("data", "version", "tvr"), [r[1:] for r in VERSION_ROWS], ids=[r[0] for r in VERSION_ROWS]
)
def test_application_version(data: dict[int, str], version: str, tvr: str) -> None:
    cfg = config(visa_aid(application_version=bytes.fromhex(version)))
    ctx = make_ctx(cfg=cfg, card_data=_hex({**BASE, **data}))
    restrictions.processing_restrictions(ctx, WHEN.date())
    assert ctx.tvr.hex() == tvr


P, CASH, CB = TransactionType.PURCHASE, TransactionType.CASH, TransactionType.CASHBACK

# (case, AUC, issuer country, transaction type, terminal type, expected TVR byte 2)
# Book 3 10.4.2; AUC byte 1: 80 dom cash, 40 intl cash, 20 dom goods, 10 intl goods,
# 08 dom services, 04 intl services, 02 ATMs, 01 other terminals; byte 2: 80 dom cashback,
# 40 intl cashback.
AUC_ROWS = [
    ("AUC absent", None, DE, P, 0x22, "00"),
    ("not valid at non-ATM terminals", "FC00", DE, P, 0x22, "10"),
    ("valid at non-ATM terminals only", "FD00", DE, P, 0x22, "00"),
    ("ATM, AUC not valid at ATMs", "FD00", DE, CASH, 0x14, "10"),
    ("ATM, AUC valid at ATMs", "FE00", DE, CASH, 0x14, "00"),
    ("merchant unattended with cash is not an ATM", "FD00", DE, P, 0x24, "00"),
    ("no issuer country: only the terminal check", "0100", None, CASH, 0x22, "00"),
    ("domestic goods allowed", "2100", DE, P, 0x22, "00"),
    ("domestic services allowed", "0900", DE, P, 0x22, "00"),
    ("domestic purchase, only international", "1500", DE, P, 0x22, "10"),
    ("international goods allowed", "1100", US, P, 0x22, "00"),
    ("international services allowed", "0500", US, P, 0x22, "00"),
    ("international purchase, only domestic", "2900", US, P, 0x22, "10"),
    ("domestic cash allowed", "8100", DE, CASH, 0x22, "00"),
    ("domestic cash, only international cash", "4100", DE, CASH, 0x22, "10"),
    ("international cash allowed", "4100", US, CASH, 0x22, "00"),
    ("international cash, only domestic cash", "8100", US, CASH, 0x22, "10"),
    ("domestic cashback allowed", "2180", DE, CB, 0x22, "00"),
    ("domestic cashback not allowed", "2140", DE, CB, 0x22, "10"),
    ("international cashback allowed", "1140", US, CB, 0x22, "00"),
    ("international cashback not allowed", "1180", US, CB, 0x22, "10"),
]


@pytest.mark.parametrize(
    ("auc", "country", "kind", "terminal_type", "byte2"),
    [r[1:] for r in AUC_ROWS],
    ids=[r[0] for r in AUC_ROWS],
)
def test_application_usage_control(
    auc: str | None, country: str | None, kind: TransactionType, terminal_type: int, byte2: str
) -> None:
    data = dict(BASE)
    if auc is not None:
        data[0x9F07] = auc
    if country is not None:
        data[0x5F28] = country
    other = 500 if kind is CB else 0
    ctx = make_ctx(
        cfg=config(terminal_type=terminal_type),
        txn=params(1500, transaction_type=kind, other_amount_minor=other),
        card_data=_hex(data),
    )
    restrictions.processing_restrictions(ctx, WHEN.date())
    assert ctx.tvr.hex() == f"00{byte2}000000"


# (case, effective 5F25, expiry 5F24, expected TVR) - Book 3 10.4.3, YY < 50 -> 20YY.
DATE_ROWS = [
    ("effective yesterday", "261123", "301231", "0000000000"),
    ("effective today", "261124", "301231", "0000000000"),
    ("effective tomorrow", "261125", "301231", "0020000000"),
    ("no effective date", None, "301231", "0000000000"),
    ("expires today", None, "261124", "0000000000"),
    ("expired yesterday", None, "261123", "0040000000"),
    ("expiry 2049", None, "491231", "0000000000"),
    ("expiry 1950", None, "500101", "0040000000"),
    ("expiry not a date", None, "261301", "0040000000"),
    ("not yet effective and expired", "261201", "261101", "0060000000"),
]


@pytest.mark.parametrize(
    ("effective", "expiry", "tvr"), [r[1:] for r in DATE_ROWS], ids=[r[0] for r in DATE_ROWS]
)
def test_dates(effective: str | None, expiry: str, tvr: str) -> None:
    data = {0x5F24: expiry} | ({0x5F25: effective} if effective else {})
    ctx = make_ctx(card_data=_hex(data))
    restrictions.processing_restrictions(ctx, WHEN.date())
    assert ctx.tvr.hex() == tvr


def _hex(data: dict[int, str]) -> dict[int, bytes]:
    return {tag: bytes.fromhex(value) for tag, value in data.items()}
