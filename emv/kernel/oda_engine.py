"""Offline data authentication for the contact kernel (EMV Book 3 10.3, Book 2 5-6).

Binds the pure checks of :mod:`emv.oda` to a transaction: the static data to be
authenticated collected while reading records, INTERNAL AUTHENTICATE for DDA, and the CDA
signature on each GENERATE AC response.  The CA public keys and the revocation list are
data handed in by the terminal.

When the card carries an ICC PIN Encipherment Public Key Certificate (9F2D) the engine also
recovers that key (Book 2 7.1) into ``ctx.icc_pin_key`` for offline enciphered PIN.  If that
recovery fails the ICC public key must not stand in for it, so ``ctx.icc_public_key`` is
left unset too: the enciphered-PIN CVM then fails (Book 2 7.1, Book 3 10.5.1).
"""

from __future__ import annotations

from collections.abc import Callable

from crypto.rsa_emv import RsaPublicKey
from emv import apdu, dol, oda, tlv
from emv.capk import CapkStore, RevocationList
from emv.errors import DolError, TlvError
from emv.kernel.action import GenerateAcResponse
from emv.kernel.context import TransactionContext
from emv.tvr import TsiBit, TvrBit

_BITS = {
    0x40: TvrBit.SDA_FAILED,
    0x20: TvrBit.ICC_DATA_MISSING,
    0x08: TvrBit.DDA_FAILED,
    0x04: TvrBit.CDA_FAILED,
    0x02: TvrBit.SDA_SELECTED,
}


def _apply(ctx: TransactionContext, bits: int) -> None:
    for mask, bit in _BITS.items():
        if bits & mask:
            ctx.tvr.set(bit)


def static_data(ctx: TransactionContext) -> bytes | None:
    """Book 3 10.3: the ODA records, then the values of the tags in 9F4A (only 82 allowed)."""
    if "oda-record-not-70" in ctx.notes:
        return None
    data = bytes(ctx.oda_records)
    tag_list = ctx.card_data.get(0x9F4A)
    if tag_list:
        try:
            tags = oda.parse_tag_list(tag_list)
        except oda.OdaError:
            return None
        if tags != [0x82]:
            return None
        data += ctx.aip
    return data


def make_oda_engine(
    capks: CapkStore, revocation: RevocationList | None = None
) -> Callable[[TransactionContext, str], None]:
    def engine(ctx: TransactionContext, method: str) -> None:
        rid = ctx.card_data.get(0x4F, b"")[:5]
        today = ctx.clock.now().date()
        static = static_data(ctx)
        if static is None:
            ctx.tsi.set(TsiBit.OFFLINE_DATA_AUTHENTICATION_PERFORMED)
            _apply(ctx, oda.tvr_byte1(method, oda.SdaResult(False, "bad static data")))
            if method == "cda":
                ctx.oda_method = None
            return
        if method == "sda":
            result = oda.verify_sda(capks, rid, ctx.card_data, static, today, revocation)
            ctx.tsi.set(TsiBit.OFFLINE_DATA_AUTHENTICATION_PERFORMED)
            _apply(ctx, oda.tvr_byte1("sda", result))
            if result.ok and result.data_authentication_code:
                ctx.card_data[0x9F45] = result.data_authentication_code
            ctx.oda_reason = result.reason
            if result.ok:
                pin_key(ctx, capks, revocation)
            return
        key = oda.recover_icc_key(capks, rid, ctx.card_data, static, today, revocation)
        if not key.ok or key.key is None:
            ctx.tsi.set(TsiBit.OFFLINE_DATA_AUTHENTICATION_PERFORMED)
            _apply(ctx, oda.tvr_byte1(method, key))
            ctx.oda_reason = key.reason
            if method == "cda":
                ctx.oda_method = None  # Book 2 6.6: no CDA request without an ICC key
            if key.issuer_key is not None:
                pin_key(ctx, capks, revocation, key.issuer_key)
            return
        ctx.icc_key_object = key.key
        ctx.icc_public_key = (key.key.n, int.from_bytes(key.key.exponent, "big"))
        pin_key(ctx, capks, revocation, key.issuer_key)
        if method == "dda":
            _dynamic_data_authentication(ctx, key.key)

    return engine


def pin_key(
    ctx: TransactionContext,
    capks: CapkStore,
    revocation: RevocationList | None = None,
    issuer_key: RsaPublicKey | None = None,
) -> None:
    """Book 2 7.1: the ICC PIN Encipherment Public Key from 9F2D, when the card has one."""
    if 0x9F2D not in ctx.card_data:
        return
    rid = ctx.card_data.get(0x4F, b"")[:5]
    today = ctx.clock.now().date()
    result = oda.recover_icc_pin_key(capks, rid, ctx.card_data, today, revocation, issuer_key)
    if result.ok and result.key is not None:
        ctx.icc_pin_key = (result.key.n, int.from_bytes(result.key.exponent, "big"))
        return
    ctx.icc_pin_key = None
    ctx.icc_public_key = None  # 9F2D present but unusable: never fall back to the ICC key
    ctx.notes.append(f"icc-pin-key: {result.reason}")


def _dynamic_data_authentication(ctx: TransactionContext, key: object) -> None:
    """Book 2 6.5: INTERNAL AUTHENTICATE with the card's DDOL (or the terminal default)."""
    ctx.tsi.set(TsiBit.OFFLINE_DATA_AUTHENTICATION_PERFORMED)
    ddol = ctx.card_data.get(0x9F49)
    if not ddol:
        default = ctx.aid_config.default_ddol if ctx.aid_config else b""
        if not default:
            ctx.tvr.set(TvrBit.DDA_FAILED)
            ctx.tvr.set(TvrBit.ICC_DATA_MISSING)
            return
        ddol = default
    try:
        entries = dol.parse(ddol)
    except DolError:
        ctx.tvr.set(TvrBit.DDA_FAILED)
        return
    if 0x9F37 not in {e.tag for e in entries}:
        ctx.tvr.set(TvrBit.DDA_FAILED)  # Book 2 6.5.1: the DDOL must include the UN
        return
    ddol_data = dol.build(entries, ctx.value)
    response = ctx.send(apdu.internal_authenticate(ddol_data))
    if not response.ok:
        ctx.tvr.set(TvrBit.DDA_FAILED)
        return
    try:
        obj = tlv.decode_single(response.data)
    except TlvError:
        ctx.tvr.set(TvrBit.DDA_FAILED)
        return
    if obj.tag == 0x80:
        sdad = obj.value
    else:
        found = obj.find(0x9F4B) if obj.tag == 0x77 else None
        sdad = found.value if found else b""
    result = oda.verify_dda(key, sdad, ddol_data)  # type: ignore[arg-type]
    _apply(ctx, oda.tvr_byte1("dda", result))
    ctx.oda_reason = result.reason
    if result.ok and result.icc_dynamic_number:
        ctx.card_data[0x9F4C] = result.icc_dynamic_number


def verify_cda_response(ctx: TransactionContext, response: GenerateAcResponse) -> bool:
    """Book 2 6.6.2 on a GENERATE AC answer; sets TSI and the TVR CDA bits."""
    key = ctx.icc_key_object
    ctx.tsi.set(TsiBit.OFFLINE_DATA_AUTHENTICATION_PERFORMED)
    if key is None or response.template_value is None:
        ctx.tvr.set(TvrBit.CDA_FAILED)
        return False
    second = bool(ctx.cdol2_data)
    result = oda.verify_cda_response(
        key,  # type: ignore[arg-type]
        response.template_value,
        ctx.pdol_data,
        ctx.cdol1_data,
        ctx.cdol2_data if second else None,
        ctx.terminal_data.get(0x9F37, b""),
    )
    _apply(ctx, oda.tvr_byte1("cda", result))
    ctx.oda_reason = result.reason
    if result.ok and result.application_cryptogram:
        ctx.card_data[0x9F26] = result.application_cryptogram
        if result.icc_dynamic_number:
            ctx.card_data[0x9F4C] = result.icc_dynamic_number
    return result.ok
