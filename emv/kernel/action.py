"""Terminal action analysis and card action analysis (EMV Book 3 Sections 10.7, 10.8, 9.3).

Compares the TVR with the Issuer and Terminal Action Codes (denial, online, default) to
choose the cryptogram to request, sends GENERATE AC with the CDOL-related data, and checks
the card's answer: a card may lower but never raise the requested cryptogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from emv import apdu, dol, tlv
from emv.errors import DolError, TlvError
from emv.kernel.context import KernelTermination, TransactionContext, TransactionType
from emv.tvr import TsiBit

NO_IAC = bytes(5)
ALL_IAC = b"\xff" * 5


CID_REASONS = {
    0x01: "service not allowed",
    0x02: "PIN try limit exceeded",
    0x03: "issuer authentication failed",
}


class CryptogramType(Enum):
    """Reference control parameter b8-b7 (Book 3 Table 12) and CID b8-b7 (Table 14)."""

    AAC = 0x00
    TC = 0x40
    ARQC = 0x80

    @property
    def rank(self) -> int:
        """Book 3 9.3 Table 13: a TC request may get TC, ARQC or AAC; ARQC gets ARQC or AAC."""
        return {CryptogramType.AAC: 0, CryptogramType.ARQC: 1, CryptogramType.TC: 2}[self]


def _matches(tvr: bytes, *codes: bytes) -> bool:
    return any(t & c for code in codes for t, c in zip(tvr, code, strict=False))


def terminal_action_analysis(ctx: TransactionContext) -> CryptogramType:
    """Book 3 10.7: denial, then online (if online capable), then default (offline only)."""
    tvr = ctx.tvr.to_bytes()
    aid = ctx.aid_config
    tac_denial = aid.tac_denial if aid else NO_IAC
    tac_online = aid.tac_online if aid else NO_IAC
    tac_default = aid.tac_default if aid else NO_IAC
    iac_denial = ctx.card_data.get(0x9F0E, NO_IAC)
    iac_online = ctx.card_data.get(0x9F0F, ALL_IAC)
    iac_default = ctx.card_data.get(0x9F0D, ALL_IAC)
    if _matches(tvr, tac_denial, iac_denial):
        return CryptogramType.AAC
    if ctx.params.transaction_type is TransactionType.REFUND:
        return CryptogramType.AAC  # refunds are authorised by the host, never by the card
    if ctx.config.online_capable:
        if ctx.params.force_online or _matches(tvr, tac_online, iac_online):
            return CryptogramType.ARQC
        return CryptogramType.TC
    if _matches(tvr, tac_default, iac_default):
        return CryptogramType.AAC
    return CryptogramType.TC


def default_action_analysis(ctx: TransactionContext) -> CryptogramType:
    """Book 3 10.7: unable to go online -> Default action codes decide TC or AAC."""
    tvr = ctx.tvr.to_bytes()
    aid = ctx.aid_config
    tac_default = aid.tac_default if aid else NO_IAC
    iac_default = ctx.card_data.get(0x9F0D, ALL_IAC)
    return CryptogramType.AAC if _matches(tvr, tac_default, iac_default) else CryptogramType.TC


@dataclass(frozen=True)
class GenerateAcResponse:
    cid: int
    atc: bytes
    cryptogram: bytes | None  # 9F26 (None when CDA carries it inside 9F4B)
    issuer_application_data: bytes | None
    signed_dynamic_data: bytes | None  # 9F4B (CDA)
    raw_objects: tuple[tlv.Tlv, ...]
    template_value: bytes | None = None  # value of template 77 (CDA hashes it)

    @property
    def advice_required(self) -> bool:
        """CID b4 (Book 3 Table 14): the card asks for an advice to the issuer."""
        return bool(self.cid & 0x08)

    @property
    def reason(self) -> str:
        """CID b3-b1 reason/advice code (Book 3 Table 14), '' for none or RFU."""
        return CID_REASONS.get(self.cid & 0x07, "")

    @property
    def cryptogram_type(self) -> CryptogramType:
        kind = self.cid & 0xC0
        if kind == 0xC0:
            raise KernelTermination("card returned a reserved cryptogram type")
        return CryptogramType(kind)


def parse_generate_ac(data: bytes) -> GenerateAcResponse:
    """Book 3 6.5.5.4: format 1 (80) or format 2 (77)."""
    try:
        obj = tlv.decode_single(data)
    except TlvError as exc:
        raise KernelTermination(f"card GENERATE AC response is malformed: {exc}") from exc
    if obj.tag == 0x80:
        value = obj.value
        if len(value) < 11:
            raise KernelTermination("card GENERATE AC response format 1 is too short")
        return GenerateAcResponse(
            value[0], value[1:3], value[3:11], value[11:] or None, None, (obj,)
        )
    if obj.tag != 0x77:
        raise KernelTermination(f"card GENERATE AC response has tag {tlv.tag_hex(obj.tag)}")
    fields = tlv.flatten(obj.children or ())
    cid, atc = fields.get(0x9F27), fields.get(0x9F36)
    if not cid or len(cid) != 1 or not atc or len(atc) != 2:
        raise KernelTermination("card GENERATE AC response lacks the CID or the ATC")
    cryptogram = fields.get(0x9F26)
    sdad = fields.get(0x9F4B)
    if cryptogram is None and sdad is None:
        raise KernelTermination("card GENERATE AC response has no cryptogram")
    if cryptogram is not None and len(cryptogram) != 8:
        raise KernelTermination("card application cryptogram is not 8 bytes")
    return GenerateAcResponse(
        cid[0], atc, cryptogram, fields.get(0x9F10), sdad, tuple(obj.children or ()), obj.value
    )


def generate_ac(
    ctx: TransactionContext, requested: CryptogramType, cdol_tag: int, cda: bool
) -> GenerateAcResponse:
    """Send GENERATE AC with the CDOL1 (8C) or CDOL2 (8D) related data."""
    cdol = ctx.card_data.get(cdol_tag, b"")
    try:
        data = dol.build(cdol, ctx.value)
    except DolError as exc:
        raise KernelTermination(f"card CDOL is malformed: {exc}") from exc
    if cdol_tag == 0x8C:
        ctx.cdol1_data = data
    else:
        ctx.cdol2_data = data
    command = apdu.generate_ac(requested.value | (0x10 if cda else 0x00), data)
    response = ctx.expect_ok(command, ctx.send(command))
    result = parse_generate_ac(response.data)
    returned = result.cryptogram_type
    if returned.rank > requested.rank:
        raise KernelTermination(
            f"card answered {returned.name} to a {requested.name} request (Book 3 9.3)"
        )
    if cdol_tag == 0x8D and returned is CryptogramType.ARQC:
        # Book 3 9.3 Table 13: the second GENERATE AC ends in a TC or an AAC, never an ARQC.
        raise KernelTermination("card answered ARQC to the second GENERATE AC (Book 3 9.3)")
    ctx.card_data[0x9F27] = bytes([result.cid])
    ctx.card_data[0x9F36] = result.atc
    if result.cryptogram is not None:
        ctx.card_data[0x9F26] = result.cryptogram
    if result.issuer_application_data is not None:
        ctx.card_data[0x9F10] = result.issuer_application_data
    if cdol_tag == 0x8C:
        ctx.tsi.set(TsiBit.CARD_RISK_MANAGEMENT_PERFORMED)
    return result
