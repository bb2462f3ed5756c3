"""Initiate application processing (EMV Book 3 Section 10.1).

Builds the PDOL-related data, sends GET PROCESSING OPTIONS, and accepts response format 1
(tag 80: AIP || AFL) or format 2 (template 77 with 82 and 94).  ``6985`` means the
application cannot be used for this transaction: the caller removes it from the candidate
list and returns to selection.
"""

from __future__ import annotations

from emv import apdu, dol, tlv
from emv.errors import DolError, TlvError
from emv.kernel.context import KernelTermination, TransactionContext

SW_CONDITIONS_NOT_SATISFIED = 0x6985


class ConditionsNotSatisfied(Exception):
    """GPO answered 6985: back to application selection (Book 3 10.1)."""


def build_pdol_data(ctx: TransactionContext) -> bytes:
    pdol = ctx.card_data.get(0x9F38)
    if not pdol:
        return b""
    try:
        return dol.build(pdol, ctx.value)
    except DolError as exc:
        raise KernelTermination(f"card PDOL is malformed: {exc}") from exc


def get_processing_options(ctx: TransactionContext) -> None:
    ctx.pdol_data = build_pdol_data(ctx)
    command = apdu.get_processing_options(ctx.pdol_data)
    response = ctx.send(command)
    if response.sw == SW_CONDITIONS_NOT_SATISFIED:
        raise ConditionsNotSatisfied()
    ctx.expect_ok(command, response)
    try:
        obj = tlv.decode_single(response.data)
    except TlvError as exc:
        raise KernelTermination(f"card GPO response is malformed: {exc}") from exc
    if obj.tag == 0x80:
        if len(obj.value) < 2 or (len(obj.value) - 2) % 4:
            raise KernelTermination("card GPO response format 1 has a bad length")
        aip, afl = obj.value[:2], obj.value[2:]
    elif obj.tag == 0x77:
        fields = tlv.flatten(obj.children or ())
        if 0x82 not in fields or 0x94 not in fields:
            raise KernelTermination("card GPO response lacks the AIP (82) or the AFL (94)")
        aip, afl = fields[0x82], fields[0x94]
        for tag, value in fields.items():
            ctx.card_data.setdefault(tag, value)
    else:
        raise KernelTermination(f"card GPO response has unexpected tag {tlv.tag_hex(obj.tag)}")
    if len(aip) != 2:
        raise KernelTermination("card AIP is not 2 bytes")
    ctx.card_data[0x82] = aip
    ctx.card_data[0x94] = afl
