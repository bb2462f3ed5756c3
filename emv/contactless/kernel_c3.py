"""Kernel 3, Visa-like qVSDC (EMV Contactless Book C-3, Section 5 and Annex).

Flow: PDOL with TTQ 9F66, amount, UN (C-3 5.2) -> GET PROCESSING OPTIONS, in which the
card decides: it returns AIP, AFL, 9F26/9F27/9F10/9F36, CTQ 9F6C and, for an offline
approval, the fDDA signature 9F4B (C-3 5.3) -> READ RECORD (5.4) -> "Card read OK,
remove card" -> offline processing: fDDA (5.8) for a TC, CVM from the CTQ (5.7) ->
Outcome.  No issuer update processing (the reader never re-taps for scripts).

GPO status words: 6986 is the phone's "see phone" answer (Book A 6.2 / C-3 5.3.1: Try
Again, restart B, hold "See phone"), 6984 is Try Another Interface, 6985 Select Next.
"""

from __future__ import annotations

from emv import dol, tlv
from emv.apdu import get_processing_options
from emv.contactless import common
from emv.contactless.dynamic_auth import OdaError, verify_fdda
from emv.contactless.entry_point import KernelContext
from emv.contactless.outcome import (
    ContactlessMessage,
    ContactlessResult,
    Cvm,
    OutcomeStatus,
    Start,
)
from emv.errors import CardRemovedError, EmvError
from emv.ports import Message

CID_TYPE_MASK = 0xC0
CID_AAC, CID_TC, CID_ARQC = 0x00, 0x40, 0x80

# Terminal Verification Results bits (Book 3 Annex C5) used by the contactless kernels.
TVR_ODA_NOT_PERFORMED = (0, 0x80)
TVR_DDA_FAILED = (0, 0x08)
TVR_CDA_FAILED = (0, 0x04)
TVR_EXPIRED = (1, 0x40)
TVR_CVM_FAILED = (2, 0x80)
TVR_ONLINE_PIN_ENTERED = (2, 0x04)
TVR_FLOOR_LIMIT_EXCEEDED = (3, 0x80)


def set_bit(tvr: bytearray, bit: tuple[int, int]) -> None:
    tvr[bit[0]] |= bit[1]


class KernelC3:
    """Stateless; one :meth:`run` per tap."""

    def run(self, ctx: KernelContext) -> ContactlessResult:
        ttq = ctx.indicators.ttq
        pdol = ctx.fci.get(0x9F38)
        result = ContactlessResult(OutcomeStatus.END_APPLICATION, ttq=ttq)
        if pdol is None or all(e.tag != 0x9F66 for e in _entries(pdol)):
            result.outcome = OutcomeStatus.SELECT_NEXT
            result.reason = "the card's PDOL does not ask for the TTQ, so it is not qVSDC"
            return result
        un = ctx.random.random_bytes(4)
        term = common.terminal_data(ctx, un)
        try:
            pdol_data = dol.build(pdol, term)
            response = ctx.channel.send(get_processing_options(pdol_data))
        except CardRemovedError:
            return _torn(result, ctx, "the card left the field during GET PROCESSING OPTIONS")
        except EmvError as exc:
            return _end(result, ctx, f"the card's PDOL is malformed: {exc}")
        if response.sw == 0x6986:
            result.outcome = OutcomeStatus.TRY_AGAIN
            result.start = Start.B
            result.reason = "the phone asks the cardholder to verify on the device"
            result.ui_on_restart = ContactlessMessage.PRESENT_CARD_AGAIN
            ctx.ui(Message.SEE_PHONE)
            return result
        if response.sw == 0x6984:
            return _other_interface(result, ctx, "the card refused contactless (6984)")
        if response.sw == 0x6985:
            result.outcome = OutcomeStatus.SELECT_NEXT
            result.reason = "the card refused GET PROCESSING OPTIONS (6985)"
            return result
        if not response.ok:
            return _end(result, ctx, f"GET PROCESSING OPTIONS failed ({response.sw_hex})")
        card = common.CardData()
        try:
            gpo = tlv.decode_single(response.data)
            if gpo.tag != 0x77:
                return _end(result, ctx, "the card answered GPO in format 1, not qVSDC")
            card.add([gpo])
            for tag in (0x82, 0x9F36, 0x9F26, 0x9F27, 0x9F10):
                if tag not in card.values:
                    return _end(result, ctx, f"the GPO response lacks {tlv.tag_hex(tag)}")
            common.read_records(ctx.channel, card.values.get(0x94, b""), card)
            pan, expiry = common.pan_and_expiry(card.values)
        except CardRemovedError:
            return _torn(result, ctx, "the card left the field during READ RECORD")
        except EmvError as exc:
            return _end(result, ctx, str(exc))
        # C-3 5.4.3: all records read, the card may leave before any further processing.
        result.card_read_ok_at_apdu = ctx.channel.count
        ctx.ui(Message.CARD_READ_OK)
        return self._process(ctx, result, card, term, pan, expiry)

    def _process(
        self,
        ctx: KernelContext,
        result: ContactlessResult,
        card: common.CardData,
        term: dict[int, bytes],
        pan: str,
        expiry: str,
    ) -> ContactlessResult:
        ttq = ctx.indicators.ttq
        v = card.values
        ctq = v.get(0x9F6C, b"\x00\x00")
        result.ctq = v.get(0x9F6C)
        tvr = bytearray(5)
        cid = v[0x9F27][0] & CID_TYPE_MASK
        result.cryptogram_type = {CID_AAC: "AAC", CID_TC: "TC", CID_ARQC: "ARQC"}.get(cid, "")
        if ctx.indicators.floor_limit_exceeded:
            set_bit(tvr, TVR_FLOOR_LIMIT_EXCEEDED)
        if (expiry[:2], expiry[2:]) < (
            ctx.clock.now().strftime("%y"),
            ctx.clock.now().strftime("%m"),
        ):
            set_bit(tvr, TVR_EXPIRED)
        result.outcome = {
            CID_AAC: OutcomeStatus.DECLINED,
            CID_TC: OutcomeStatus.APPROVED,
            CID_ARQC: OutcomeStatus.ONLINE_REQUEST,
        }.get(cid, OutcomeStatus.END_APPLICATION)
        online_capable = not ttq[0] & 0x08
        if cid == CID_TC:
            result.oda_performed = True
            try:
                # C-3 5.8: fDDA, terminal dynamic data = UN || amount || currency || 9F69.
                dynamic = term[0x9F37] + term[0x9F02] + term[0x5F2A] + v.get(0x9F69, b"")
                static = common.static_data_to_authenticate(card)
                verify_fdda(
                    ctx.capks,
                    ctx.adf_name[:5],
                    v,
                    static,
                    dynamic,
                    ctx.clock.now().date(),
                    ctx.revocation,
                )
            except (OdaError, common.CardDataError) as exc:
                result.oda_failed = True
                result.reason = f"fDDA failed: {exc}"
                set_bit(tvr, TVR_DDA_FAILED)
                if ctq[0] & 0x20 and online_capable:
                    result.outcome = OutcomeStatus.ONLINE_REQUEST  # CTQ: go online
                elif ctq[0] & 0x10 and ttq[0] & 0x10:
                    result.outcome = OutcomeStatus.TRY_ANOTHER_INTERFACE
                else:
                    result.outcome = OutcomeStatus.DECLINED
            if result.outcome is OutcomeStatus.APPROVED and tvr[1] & 0x40:
                result.outcome = (
                    OutcomeStatus.ONLINE_REQUEST if online_capable else OutcomeStatus.DECLINED
                )
                result.reason = "the application has expired"
        else:
            set_bit(tvr, TVR_ODA_NOT_PERFORMED)
        self._cvm(ctx, result, ctq, tvr)
        result.tvr = bytes(tvr)
        # DE 55 carries the TVR the card saw in the PDOL: the cryptogram covers that value.
        data = {**term, **v, 0x9F34: result.cvm_results}
        if result.outcome in (OutcomeStatus.ONLINE_REQUEST, OutcomeStatus.APPROVED):
            result.authorisation = common.authorisation_request(ctx, data, pan, expiry)
        _outcome_ui(ctx, result)
        return result

    @staticmethod
    def _cvm(ctx: KernelContext, result: ContactlessResult, ctq: bytes, tvr: bytearray) -> None:
        """C-3 5.7: the CVM comes from the CTQ, then from the reader's TTQ support."""
        ttq = ctx.indicators.ttq
        cvm_required = bool(ttq[1] & 0x40)
        if ctq[0] & 0x80 and ttq[0] & 0x04:
            result.cvm, result.cvm_results = Cvm.ONLINE_PIN, b"\x02\x00\x00"
            set_bit(tvr, TVR_ONLINE_PIN_ENTERED)
            if result.outcome is OutcomeStatus.APPROVED:
                result.outcome = OutcomeStatus.ONLINE_REQUEST  # online PIN needs the issuer
        elif ctq[1] & 0x80:
            result.cvm, result.cvm_results = Cvm.CONFIRMATION_CODE_VERIFIED, b"\x01\x00\x02"
        elif ctq[0] & 0x40 and ttq[0] & 0x02:
            result.cvm, result.cvm_results = Cvm.SIGNATURE, b"\x1e\x00\x00"
        elif cvm_required and ttq[0] & 0x02:
            result.cvm, result.cvm_results = Cvm.SIGNATURE, b"\x1e\x00\x00"
        elif cvm_required and ttq[0] & 0x04 and result.outcome is OutcomeStatus.ONLINE_REQUEST:
            result.cvm, result.cvm_results = Cvm.ONLINE_PIN, b"\x02\x00\x00"
        elif cvm_required:
            result.cvm, result.cvm_results = Cvm.NA, b"\x3f\x00\x01"
            set_bit(tvr, TVR_CVM_FAILED)
            result.outcome = OutcomeStatus.DECLINED
            result.reason = "a CVM is required but neither card nor reader offers one"
        else:
            result.cvm, result.cvm_results = Cvm.NO_CVM, b"\x1f\x00\x02"


def _entries(pdol: bytes) -> list[dol.DolEntry]:
    try:
        return dol.parse(pdol)
    except EmvError:
        return []


def _torn(result: ContactlessResult, ctx: KernelContext, reason: str) -> ContactlessResult:
    """Book A 6.2: card removed mid-dialogue -> Try Again, restart B ("tap again")."""
    result.outcome = OutcomeStatus.TRY_AGAIN
    result.start = Start.B
    result.reason = reason
    ctx.ui(Message.TRY_AGAIN)
    result.ui_on_restart = Message.PRESENT_CARD
    return result


def _end(result: ContactlessResult, ctx: KernelContext, reason: str) -> ContactlessResult:
    result.outcome = OutcomeStatus.END_APPLICATION
    result.reason = reason
    ctx.ui(ContactlessMessage.INSERT_SWIPE_OR_TRY_ANOTHER_CARD)
    return result


def _other_interface(
    result: ContactlessResult, ctx: KernelContext, reason: str
) -> ContactlessResult:
    result.outcome = OutcomeStatus.TRY_ANOTHER_INTERFACE
    result.reason = reason
    ctx.ui(ContactlessMessage.INSERT_OR_SWIPE_CARD)
    return result


def _outcome_ui(ctx: KernelContext, result: ContactlessResult) -> None:
    """Book A 7.1 / Book B 3.5: the UI request that goes with the final outcome."""
    if result.outcome is OutcomeStatus.APPROVED:
        signature = result.cvm is Cvm.SIGNATURE
        ctx.ui(ContactlessMessage.APPROVED_PLEASE_SIGN if signature else Message.APPROVED)
    elif result.outcome is OutcomeStatus.DECLINED:
        ctx.ui(Message.DECLINED)
    elif result.outcome is OutcomeStatus.ONLINE_REQUEST:
        ctx.ui(ContactlessMessage.AUTHORISING_PLEASE_WAIT)
    elif result.outcome is OutcomeStatus.TRY_ANOTHER_INTERFACE:
        ctx.ui(ContactlessMessage.INSERT_OR_SWIPE_CARD)
