"""Online processing and completion (EMV Book 3 Sections 10.9 and 10.11).

Builds the authorisation request (the ICC data becomes ISO 8583 DE 55), hands it to the
:class:`emv.ports.OnlineAuthoriser`, performs issuer authentication (EXTERNAL
AUTHENTICATE when AIP byte 1 b3 says so, else Issuer Authentication Data in CDOL2),
runs issuer scripts, and takes the card's final decision with the second GENERATE AC.
If no usable answer comes back, the Authorisation Response Code is ``Y3``/``Z3`` and the
Default action codes decide (Book 3 10.7, Book 4 A6).
"""

from __future__ import annotations

from dataclasses import dataclass

from emv import apdu
from emv.kernel.action import CryptogramType, default_action_analysis
from emv.kernel.context import TransactionContext
from emv.ports import AuthorisationRequest, AuthorisationResponse, OnlineUnavailable
from emv.tvr import TsiBit, TvrBit

# ICC and terminal data sent in DE 55 (the usual scheme minimum plus CVM/capability data).
DE55_TAGS: tuple[int, ...] = (
    0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82,
    0x9F1A, 0x9F03, 0x9F34, 0x9F33, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41, 0x5F34, 0x9F6E,
)  # fmt: skip


@dataclass
class OnlineResult:
    response: AuthorisationResponse | None
    unable_to_go_online: bool
    error: str = ""


def pos_entry_mode(ctx: TransactionContext) -> str:
    """ISO 8583 DE 22 (positions 1-2 = 05 chip; position 3 = PIN capability)."""
    return "051" if ctx.config.pin_pad_present else "052"


def authorisation_request(ctx: TransactionContext) -> AuthorisationRequest:
    emv_data = {tag: value for tag in DE55_TAGS if (value := ctx.value(tag)) is not None}
    expiry = ctx.card_data.get(0x5F24, b"\x00\x00\x00").hex()[:4]
    psn = ctx.card_data.get(0x5F34)
    return AuthorisationRequest(
        amount_minor=ctx.params.amount_minor,
        other_amount_minor=ctx.params.other_amount_minor,
        currency_numeric=ctx.params.currency_numeric,
        transaction_type=ctx.params.transaction_type.value,
        pan=ctx.pan,
        pan_sequence_number=psn.hex() if psn else "00",
        expiry_yymm=expiry,
        emv_data=emv_data,
        pos_entry_mode=pos_entry_mode(ctx),
        online_pin=ctx.online_pin,
        track2_equivalent=ctx.card_data.get(0x57),
        biometric_block=ctx.biometric_block or None,
    )


def go_online(ctx: TransactionContext) -> OnlineResult:
    if ctx.authoriser is None:
        return OnlineResult(None, True, "no host link is configured")
    try:
        response = ctx.authoriser.authorise(authorisation_request(ctx))
    except OnlineUnavailable as exc:
        return OnlineResult(None, True, str(exc) or "the host did not answer")
    return OnlineResult(response, False)


def issuer_authentication(ctx: TransactionContext, response: AuthorisationResponse) -> None:
    data = response.issuer_authentication_data
    if not data:
        return
    if ctx.aip[0] & 0x04:  # AIP byte 1 b3: issuer authentication is supported
        result = ctx.send(apdu.external_authenticate(data))
        ctx.tsi.set(TsiBit.ISSUER_AUTHENTICATION_PERFORMED)
        if not result.ok:
            ctx.tvr.set(TvrBit.ISSUER_AUTHENTICATION_FAILED)
    else:
        ctx.terminal_data[0x91] = data
        if 0x91 in _cdol2_tags(ctx):
            ctx.tsi.set(TsiBit.ISSUER_AUTHENTICATION_PERFORMED)


def _cdol2_tags(ctx: TransactionContext) -> set[int]:
    from emv import dol

    raw = ctx.card_data.get(0x8D, b"")
    try:
        return {entry.tag for entry in dol.parse(raw)}
    except Exception:  # noqa: BLE001 - a broken CDOL2 is reported by GENERATE AC
        return set()


def second_cryptogram_request(ctx: TransactionContext, online: OnlineResult) -> CryptogramType:
    """Decide what to ask of the card in the second GENERATE AC, and set the ARC (8A)."""
    if online.unable_to_go_online or online.response is None:
        decision = default_action_analysis(ctx)
        ctx.terminal_data[0x8A] = b"Y3" if decision is CryptogramType.TC else b"Z3"
        return decision
    code = online.response.response_code.encode("ascii", "replace")[:2].ljust(2, b"0")
    ctx.terminal_data[0x8A] = code
    # Referrals (01/02, Book 3 10.9 / Book 4 6.3.6) need a voice call by the attendant.
    # Terminal policy: no voice referrals, so a referral is a decline - the card gets the
    # issuer's ARC (01/02) in CDOL2 and an AAC request, and the result says why.
    return CryptogramType.TC if online.response.approved else CryptogramType.AAC
