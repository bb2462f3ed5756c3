"""Offline data authentication selection (EMV Book 3 Section 10.3).

CDA is preferred when both card (AIP byte 1 b1) and terminal (9F33 byte 3 b4) support it,
then DDA (AIP b6 / 9F33 b7), then SDA (AIP b7 / 9F33 b8).  When none applies the TVR bit
'Offline data authentication was not performed' is set.
"""

from __future__ import annotations

from emv.kernel.context import TransactionContext
from emv.tvr import TvrBit


def choose_method(ctx: TransactionContext) -> str | None:
    aip = ctx.aip[0]
    if aip & 0x01 and ctx.config.supports(2, 0x08):
        return "cda"
    if aip & 0x20 and ctx.config.supports(2, 0x40):
        return "dda"
    if aip & 0x40 and ctx.config.supports(2, 0x80):
        return "sda"
    return None


def offline_data_authentication(ctx: TransactionContext) -> None:
    """Runs SDA or DDA now; CDA is requested with GENERATE AC and checked on its answer."""
    method = choose_method(ctx)
    ctx.oda_method = method
    if method is None or not ctx.oda_available():
        ctx.tvr.set(TvrBit.OFFLINE_DATA_AUTHENTICATION_NOT_PERFORMED)
        ctx.oda_method = None
        return
    ctx.run_oda(method)
