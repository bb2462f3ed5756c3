"""Kernel 2, Mastercard-like (EMV Contactless Book C-2, EMV mode only).

Flow (C-2 Section 3 / 6): GET PROCESSING OPTIONS with the PDOL data (S1) -> READ RECORD
over the AFL (S4) -> processing restrictions and the Kernel 2 reader limits
(DF8123 floor, DF8124/DF8125 transaction limits without/with on-device CVM, DF8126 CVM
required) -> CVM selection (on-device CVM for a phone, otherwise the CVM List with the
CVM Capability DF8118/DF8119) -> terminal action analysis over TVR with TAC (DF8120-22)
and IAC -> GENERATE AC with CDA requested (S9) -> "Card read OK" -> CDA verification
(Book 2 6.6) -> Outcome.

A phone that needs the cardholder to verify answers GENERATE AC with POS Cardholder
Interaction Information DF4B: the kernel returns End Application, Start B, UI "See phone"
and "Present card again" on restart (C-2 S910.50 and following).

A card that leaves the field during READ RECORD or GENERATE AC gives Try Again with
"Present card again"; a GENERATE AC torn this way is logged in :attr:`torn_log`
(C-2 4.6 Torn Transaction Log, see :mod:`emv.contactless.torn`) when the card has a DRDOL
(9F51).  On the re-tap, once the records are read, a log record for the same PAN/PSN and
amount makes the kernel send RECOVER AC first: the card's answer is the torn GENERATE AC
answer (same ATC, no second cryptogram), verified with the torn transaction's data; an
error status drops the record and a fresh GENERATE AC follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emv import dol, tlv
from emv.apdu import generate_ac, get_processing_options
from emv.contactless import common
from emv.contactless.config import Kernel2Settings
from emv.contactless.dynamic_auth import OdaError, verify_cda
from emv.contactless.entry_point import KernelContext
from emv.contactless.kernel_c3 import (
    CID_AAC,
    CID_ARQC,
    CID_TC,
    CID_TYPE_MASK,
    TVR_CDA_FAILED,
    TVR_CVM_FAILED,
    TVR_EXPIRED,
    TVR_FLOOR_LIMIT_EXCEEDED,
    TVR_ODA_NOT_PERFORMED,
    TVR_ONLINE_PIN_ENTERED,
    _end,
    _other_interface,
    _outcome_ui,
    _torn,
    set_bit,
)
from emv.contactless.outcome import (
    ContactlessMessage,
    ContactlessResult,
    Cvm,
    OutcomeStatus,
    Start,
)
from emv.contactless.torn import TAG_DRDOL, TornLog, TornRecord, pan_digest, recover_ac
from emv.errors import CardRemovedError, EmvError
from emv.ports import Message

AIP_ON_DEVICE_CVM = (0, 0x02)
AIP_CVM_SUPPORTED = (0, 0x10)
AIP_CDA = (0, 0x01)
AIP_EMV_MODE = (1, 0x80)
KERNEL_CONFIG_ON_DEVICE_CVM = 0x20
P1_CDA = 0x10
SEE_PHONE_MASK = bytes.fromhex("00030F")  # DF4B bits asking for action on the device


def _has(value: bytes, bit: tuple[int, int]) -> bool:
    return len(value) > bit[0] and bool(value[bit[0]] & bit[1])


def _over(amount: int, limit: int) -> bool:
    return amount > limit


@dataclass
class KernelC2:
    torn_log: TornLog = field(default_factory=TornLog)

    def run(self, ctx: KernelContext) -> ContactlessResult:
        settings = ctx.combination.kernel2
        result = ContactlessResult(OutcomeStatus.END_APPLICATION)
        if settings is None:
            return _end(result, ctx, "kernel 2 has no reader limits configured")
        un = ctx.random.random_bytes(4)
        term = common.terminal_data(ctx, un)
        card = common.CardData()
        try:
            pdol = ctx.fci.get(0x9F38, b"")
            pdol_data = dol.build(pdol, term) if pdol else b""
            response = ctx.channel.send(get_processing_options(pdol_data))
            if not response.ok:
                result.outcome = OutcomeStatus.SELECT_NEXT
                result.reason = f"GET PROCESSING OPTIONS failed ({response.sw_hex})"
                return result
            gpo = tlv.decode_single(response.data)
            if gpo.tag == 0x80:  # format 1: AIP || AFL
                if len(gpo.value) < 2:
                    return _end(result, ctx, "the GPO response is too short")
                card.values[0x82], card.values[0x94] = gpo.value[:2], gpo.value[2:]
            elif gpo.tag == 0x77:
                card.add([gpo])
            else:
                return _end(result, ctx, "the GPO response is not a 77 or 80 template")
            aip = card.values.get(0x82, b"")
            if not _has(aip, AIP_EMV_MODE):
                return _other_interface(result, ctx, "the card offers only mag-stripe mode")
            common.read_records(ctx.channel, card.values.get(0x94, b""), card)
            pan, expiry = common.pan_and_expiry(card.values)
            for tag in (0x5A, 0x5F24, 0x8C):
                if tag not in card.values:
                    return _end(result, ctx, f"the card lacks mandatory {tlv.tag_hex(tag)}")
        except CardRemovedError:
            return _torn(result, ctx, "the card left the field during READ RECORD")
        except EmvError as exc:
            return _end(result, ctx, str(exc))
        return self._after_read(ctx, settings, result, card, term, pdol_data, pan, expiry)

    def _after_read(
        self,
        ctx: KernelContext,
        settings: Kernel2Settings,
        result: ContactlessResult,
        card: common.CardData,
        term: dict[int, bytes],
        pdol_data: bytes,
        pan: str,
        expiry: str,
    ) -> ContactlessResult:
        v = card.values
        aip = v[0x82]
        amount = ctx.transaction.amount_minor
        recovered = self._recover(ctx, result, card, pan, expiry)
        if recovered is not None:
            return recovered
        tvr = bytearray(5)
        on_device = _has(aip, AIP_ON_DEVICE_CVM) and bool(
            settings.kernel_configuration[0] & KERNEL_CONFIG_ON_DEVICE_CVM
        )
        # C-2 S456: the contactless transaction limit depends on on-device CVM support.
        limit = settings.on_device_cvm_limit if on_device else settings.no_on_device_cvm_limit
        if _over(amount, limit):  # C-2 uses "greater than" (Book B pre-processing uses >=)
            return _other_interface(result, ctx, "the amount is over the contactless limit")
        now = ctx.clock.now()
        if expiry < now.strftime("%y%m"):
            set_bit(tvr, TVR_EXPIRED)
        if _over(amount, settings.floor_limit):
            set_bit(tvr, TVR_FLOOR_LIMIT_EXCEEDED)
        cda = _has(aip, AIP_CDA)
        if not cda:
            set_bit(tvr, TVR_ODA_NOT_PERFORMED)
        self._cvm(settings, result, card, amount, on_device, tvr)
        if result.outcome is OutcomeStatus.DECLINED:
            _outcome_ui(ctx, result)
            return result
        cryptogram = self._action_analysis(settings, v, tvr)
        result.tvr = bytes(tvr)
        data = {**term, **v, 0x95: result.tvr, 0x9F34: result.cvm_results}
        try:
            cdol1_data = dol.build(v[0x8C], data)
        except EmvError as exc:
            return _end(result, ctx, f"the card's CDOL1 is malformed: {exc}")
        p1 = cryptogram | (P1_CDA if cda and cryptogram != CID_AAC else 0)
        try:
            response = ctx.channel.send(generate_ac(p1, cdol1_data))
        except CardRemovedError:
            self._log_torn(ctx, result, v, term, data, pan, p1, pdol_data, cdol1_data)
            return _torn(result, ctx, "the card left the field during GENERATE AC")
        result.card_read_ok_at_apdu = ctx.channel.count
        if not response.ok:
            return _end(result, ctx, f"GENERATE AC failed ({response.sw_hex})")
        return self._complete(
            ctx, result, card, data, pan, expiry, p1, pdol_data, cdol1_data, response.data
        )

    def _log_torn(
        self,
        ctx: KernelContext,
        result: ContactlessResult,
        v: dict[int, bytes],
        term: dict[int, bytes],
        data: dict[int, bytes],
        pan: str,
        p1: int,
        pdol_data: bytes,
        cdol1_data: bytes,
    ) -> None:
        """C-2 4.6: a card with a DRDOL that is torn in GENERATE AC gets a log record."""
        drdol = v.get(TAG_DRDOL)
        if drdol is None:
            return
        try:
            drdol_data = dol.build(drdol, data)
        except EmvError:
            return
        self.torn_log.add(
            TornRecord(
                common.mask_pan(pan),
                pan_digest(pan),
                v.get(0x5F34, b"\x00"),
                ctx.transaction.amount_minor,
                cdol1_data,
                pdol_data,
                drdol_data,
                p1,
                dict(term),
                result.tvr,
                result.cvm,
                result.cvm_results,
                ctx.clock.now(),
            )
        )

    def _recover(
        self,
        ctx: KernelContext,
        result: ContactlessResult,
        card: common.CardData,
        pan: str,
        expiry: str,
    ) -> ContactlessResult | None:
        """C-2 S456 / S10: RECOVER AC for a torn record of this card, before anything else.

        Returns the finished result, or None when the kernel goes on with GENERATE AC."""
        self.torn_log.clean(ctx.clock.now())
        v = card.values
        record = self.torn_log.find(pan, v.get(0x5F34, b"\x00"))
        if record is None or record.amount_minor != ctx.transaction.amount_minor:
            return None
        try:
            response = ctx.channel.send(recover_ac(record.drdol_data))
        except CardRemovedError:  # the record stays for the next tap
            return _torn(result, ctx, "the card left the field during RECOVER AC")
        self.torn_log.remove(record)
        if not response.ok:  # 6A88: the card has nothing to recover
            return None
        result.card_read_ok_at_apdu = ctx.channel.count
        result.tvr, result.cvm, result.cvm_results = record.tvr, record.cvm, record.cvm_results
        data = {**record.terminal_data, **v, 0x95: record.tvr, 0x9F34: record.cvm_results}
        return self._complete(
            ctx,
            result,
            card,
            data,
            pan,
            expiry,
            record.reference_control,
            record.pdol_data,
            record.cdol1_data,
            response.data,
        )

    def _complete(
        self,
        ctx: KernelContext,
        result: ContactlessResult,
        card: common.CardData,
        data: dict[int, bytes],
        pan: str,
        expiry: str,
        p1: int,
        pdol_data: bytes,
        cdol1_data: bytes,
        answer: bytes,
    ) -> ContactlessResult:
        """The GENERATE AC (or RECOVER AC) answer: see-phone, CDA (Book 2 6.6), outcome."""
        v = card.values
        tvr = bytearray(result.tvr)
        now = ctx.clock.now()
        try:
            ac_response = tlv.decode_single(answer)
            if ac_response.tag != 0x77:
                return _end(result, ctx, "the GENERATE AC response is not a 77 template")
            ac_objects = list(ac_response.children or ())
            ac_values = tlv.flatten(ac_objects)
            cid_raw = ac_values.get(0x9F27)
            if cid_raw is None or 0x9F36 not in ac_values:
                return _end(result, ctx, "the GENERATE AC response lacks 9F27 or 9F36")
        except EmvError as exc:
            return _end(result, ctx, f"the GENERATE AC response is malformed: {exc}")
        interaction = ac_values.get(0xDF4B, b"")
        if len(interaction) == 3 and any(
            a & b for a, b in zip(interaction, SEE_PHONE_MASK, strict=True)
        ):
            # C-2 S910.50: the phone wants the cardholder to act on it, then tap again.
            result.outcome = OutcomeStatus.END_APPLICATION
            result.start = Start.B
            result.ui_on_restart = ContactlessMessage.PRESENT_CARD_AGAIN
            result.reason = "the phone asks the cardholder to verify on the device"
            result.cvm = Cvm.CONFIRMATION_CODE_VERIFIED
            ctx.ui(Message.SEE_PHONE)
            return result
        ctx.ui(Message.CARD_READ_OK)  # the tap is over before any host round trip
        if len(interaction) == 3 and interaction[1] & 0x10:  # byte 2 b5: OD-CVM successful
            result.cvm, result.cvm_results = Cvm.CONFIRMATION_CODE_VERIFIED, b"\x01\x00\x02"
        cid = cid_raw[0] & CID_TYPE_MASK
        data.update(ac_values)
        data[0x9F34] = result.cvm_results
        if p1 & P1_CDA and cid != CID_AAC:
            result.oda_performed = True
            try:
                cda_result = verify_cda(
                    ctx.capks,
                    ctx.adf_name[:5],
                    {**v, **ac_values},
                    common.static_data_to_authenticate(card),
                    ac_response.value,
                    pdol_data,
                    cdol1_data,
                    data[0x9F37],
                    now.date(),
                    ctx.revocation,
                )
                data[0x9F26] = cda_result.application_cryptogram
            except (OdaError, common.CardDataError) as exc:
                result.oda_failed = True
                set_bit(tvr, TVR_CDA_FAILED)
                result.tvr = bytes(tvr)
                data[0x95] = result.tvr
                result.reason = f"CDA failed: {exc}"
                result.outcome = OutcomeStatus.DECLINED
                result.cryptogram_type = "AAC"
                _outcome_ui(ctx, result)
                return result
        result.cryptogram_type = {CID_AAC: "AAC", CID_TC: "TC", CID_ARQC: "ARQC"}.get(cid, "")
        result.outcome = {
            CID_AAC: OutcomeStatus.DECLINED,
            CID_TC: OutcomeStatus.APPROVED,
            CID_ARQC: OutcomeStatus.ONLINE_REQUEST,
        }.get(cid, OutcomeStatus.END_APPLICATION)
        if result.outcome in (OutcomeStatus.ONLINE_REQUEST, OutcomeStatus.APPROVED):
            result.authorisation = common.authorisation_request(ctx, data, pan, expiry)
        _outcome_ui(ctx, result)
        return result

    @staticmethod
    def _cvm(
        settings: Kernel2Settings,
        result: ContactlessResult,
        card: common.CardData,
        amount: int,
        on_device: bool,
        tvr: bytearray,
    ) -> None:
        """C-2 S456/S7: on-device CVM for phones, else the CVM List (Book 3 10.5)."""
        cvm_required = _over(amount, settings.cvm_required_limit)
        if on_device:
            if cvm_required:
                result.cvm, result.cvm_results = Cvm.CONFIRMATION_CODE_VERIFIED, b"\x01\x00\x02"
            else:
                result.cvm, result.cvm_results = Cvm.NO_CVM, b"\x3f\x00\x02"
            return
        capability = (
            settings.cvm_capability_cvm_required[0]
            if cvm_required
            else settings.cvm_capability_no_cvm[0]
        )
        cvm_list = card.values.get(0x8E, b"")
        if not _has(card.values[0x82], AIP_CVM_SUPPORTED) or len(cvm_list) < 10:
            result.cvm, result.cvm_results = Cvm.NO_CVM, b"\x3f\x00\x00"
            return
        rules = cvm_list[8:]
        for i in range(0, len(rules) - 1, 2):
            code, condition = rules[i], rules[i + 1]
            method = code & 0x3F
            supported = {
                0x02: bool(capability & 0x40),  # enciphered PIN verified online
                0x1E: bool(capability & 0x20),  # signature
                0x1F: bool(capability & 0x08),  # no CVM required
            }.get(method, False)
            if condition not in (0x00, 0x03) or (condition == 0x03 and not supported):
                continue
            if supported:
                if method == 0x02:
                    result.cvm = Cvm.ONLINE_PIN
                    set_bit(tvr, TVR_ONLINE_PIN_ENTERED)
                elif method == 0x1E:
                    result.cvm = Cvm.SIGNATURE
                else:
                    result.cvm = Cvm.NO_CVM
                outcome = 0x02 if method == 0x1F else 0x00
                result.cvm_results = bytes([code, condition, outcome])
                return
            if not code & 0x40:
                break
        result.cvm, result.cvm_results = Cvm.NA, b"\x3f\x00\x01"
        set_bit(tvr, TVR_CVM_FAILED)
        if cvm_required:
            result.outcome = OutcomeStatus.DECLINED
            result.reason = "a CVM is required but none the card lists is possible here"

    @staticmethod
    def _action_analysis(settings: Kernel2Settings, v: dict[int, bytes], tvr: bytearray) -> int:
        """Book 3 10.7 with the Kernel 2 TACs (DF8120-22) and the card's IACs."""
        iac_denial = v.get(0x9F0E, bytes(5))
        iac_online = v.get(0x9F0F, b"\xff" * 5)

        def hits(tac: bytes, iac: bytes) -> bool:
            return any(t & (a | b) for t, a, b in zip(tvr, tac, iac, strict=True))

        if hits(settings.tac_denial, iac_denial):
            return CID_AAC
        if hits(settings.tac_online, iac_online):
            return CID_ARQC
        return CID_TC
