"""The contact kernel: EMV Book 3 Section 10 from selection to completion.

Deterministic: every outside effect goes through the ports given to the constructor.
Whatever the card or the host does, :meth:`ContactKernel.run` returns a
:class:`~emv.kernel.result.TransactionResult` that says approved, declined or aborted
with a reason; it never raises for bad card data.
"""

from __future__ import annotations

from collections.abc import Callable

from emv.apdu import ApduChannel
from emv.config import TerminalConfig
from emv.errors import CardRemovedError, CardTransportError, EmvError
from emv.kernel import action, cvm, initiate, online, read_data, restrictions, risk, scripts
from emv.kernel import selection as sel
from emv.kernel.action import CryptogramType
from emv.kernel.context import (
    KernelTermination,
    Outcome,
    TransactionContext,
    TransactionParameters,
    TransactionType,
    bcd,
)
from emv.kernel.oda_step import offline_data_authentication
from emv.kernel.result import TransactionResult, mask_pan
from emv.ports import CardholderInterface, CardTransport, Clock, Message, OnlineAuthoriser
from emv.ports import RandomSource as RandomPort

OdaEngine = Callable[[TransactionContext, str], None]
CdaVerifier = Callable[[TransactionContext, action.GenerateAcResponse], bool]


def terminal_data(ctx: TransactionContext) -> dict[int, bytes]:
    """Terminal data elements for this transaction (Book 4 Annex A), before overrides."""
    cfg, p = ctx.config, ctx.params
    now = ctx.clock.now()
    data = {
        0x9F02: bcd(p.amount_minor, 6),
        0x9F03: bcd(p.other_amount_minor, 6),
        0x81: p.amount_minor.to_bytes(4, "big"),
        0x9F04: p.other_amount_minor.to_bytes(4, "big"),
        0x5F2A: bcd(p.currency_numeric, 2),
        0x5F36: bcd(p.currency_exponent, 1),
        0x9A: bytes.fromhex(now.strftime("%y%m%d")),
        0x9F21: bytes.fromhex(now.strftime("%H%M%S")),
        0x9C: bcd(p.transaction_type.value, 1) if p.transaction_type.value < 100 else b"\x00",
        0x9F37: ctx.random.random_bytes(4),
        0x9F1A: bcd(cfg.country_code, 2),
        0x9F35: bytes([cfg.terminal_type]),
        0x9F33: cfg.terminal_capabilities,
        0x9F40: cfg.additional_capabilities,
        0x9F1C: cfg.terminal_id.encode("ascii")[:8].ljust(8),
        0x9F16: cfg.merchant_id.encode("ascii")[:15].ljust(15),
        0x9F15: bcd(cfg.merchant_category_code, 2),
        0x9F4E: cfg.merchant_name_location.encode("ascii", "replace"),
        0x9F01: bcd(int(cfg.acquirer_id or "0"), 6),
        0x9F1E: cfg.ifd_serial.encode("ascii")[:8].ljust(8),
        0x9F41: bcd(p.sequence_counter % 10**8, 4),
        0x9F39: b"\x05",
    }
    # Transaction Type 9C is two digits taken from the ISO 8583 processing code.
    data[0x9C] = bytes.fromhex(f"{p.transaction_type.value:02X}")
    data.update(cfg.tag_overrides)
    return data


class ContactKernel:
    def __init__(
        self,
        config: TerminalConfig,
        cardholder: CardholderInterface,
        authoriser: OnlineAuthoriser | None,
        clock: Clock,
        random: RandomPort,
        *,
        oda_engine: OdaEngine | None = None,
        cda_verifier: CdaVerifier | None = None,
    ) -> None:
        self.config = config
        self.cardholder = cardholder
        self.authoriser = authoriser
        self.clock = clock
        self.random = random
        self.oda_engine = oda_engine
        self.cda_verifier = cda_verifier

    def run(
        self,
        transport: CardTransport,
        params: TransactionParameters,
        *,
        recent_amount_same_pan: Callable[[str], int] | None = None,
    ) -> TransactionResult:
        channel = ApduChannel(transport)
        ctx = TransactionContext(
            self.config, params, channel, self.cardholder, self.authoriser, self.clock, self.random
        )
        ctx.oda_engine = self.oda_engine
        result = TransactionResult(Outcome.ABORTED, "not started")
        try:
            self._run(ctx, result, recent_amount_same_pan)
        except KernelTermination as exc:
            result.outcome, result.reason = exc.outcome, exc.reason
        except CardRemovedError:
            result.outcome, result.reason = Outcome.ABORTED, "card removed"
            result.card_removed = True
            self.cardholder.show(Message.CARD_ERROR)
        except CardTransportError as exc:
            result.outcome, result.reason = Outcome.ABORTED, f"card reader error: {exc}"
            self.cardholder.show(Message.CARD_ERROR)
        except EmvError as exc:
            result.outcome, result.reason = Outcome.ABORTED, f"card error: {exc}"
            self.cardholder.show(Message.CARD_ERROR)
        except (ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:
            # A hostile card must never crash the kernel (Book 3: terminate the transaction).
            result.outcome = Outcome.ABORTED
            result.reason = f"card sent data the terminal cannot process ({type(exc).__name__})"
            self.cardholder.show(Message.PROCESSING_ERROR)
        self._finish(ctx, result)
        return result

    # ------------------------------------------------------------------------------------
    def _run(
        self,
        ctx: TransactionContext,
        result: TransactionResult,
        recent_amount_same_pan: Callable[[str], int] | None,
    ) -> None:
        ui = ctx.cardholder
        ui.progress("selecting application")
        ctx.terminal_data = terminal_data(ctx)
        candidates = sel.build_candidate_list(ctx)
        while True:
            chosen = sel.choose(ctx, candidates)
            last = ctx.channel.trace[-1] if ctx.channel.trace else None
            reuse = (
                last is not None
                and last.command[1:2] == b"\xa4"
                and chosen.fci is not None
                and last.response[:-2] == chosen.fci
                and last.response[-2:] == b"\x90\x00"
            )
            if not sel.final_select(ctx, chosen, reuse):
                # Book 1 12.4: not selectable (e.g. 6283) -> remove it and choose again.
                ui.show(Message.TRY_AGAIN)
                candidates = [c for c in candidates if c.aid != chosen.aid]
                continue
            self._apply_aid_data(ctx)
            result.aid = chosen.aid.hex().upper()
            result.application_label = chosen.label
            ui.progress("initiating application processing")
            try:
                initiate.get_processing_options(ctx)
                break
            except initiate.ConditionsNotSatisfied:
                # Book 3 10.1 / Book 1 12.4: remove it, 'Try again', back to the choice.
                ui.show(Message.TRY_AGAIN)
                candidates = [c for c in candidates if c.aid != chosen.aid]
                ctx.card_data.clear()

        ui.progress("reading card data")
        read_data.read_application_data(ctx)
        result.pan_masked = mask_pan(ctx.pan)
        result.expiry_yymm = ctx.card_data.get(0x5F24, b"\x00\x00").hex()[:4]
        if recent_amount_same_pan is not None and ctx.pan:
            ctx.recent_amount_same_pan = recent_amount_same_pan(ctx.pan)

        ui.progress("authenticating card data")
        offline_data_authentication(ctx)

        restrictions.processing_restrictions(ctx, ctx.clock.now().date())

        ui.progress("verifying cardholder")
        verification = cvm.CardholderVerification(ctx)
        verification.run()
        result.signature_required = verification.signature_required
        code = ctx.cvm_results.code & 0x3F
        result.cvm_description = (
            cvm.describe(code) if ctx.cvm_results.result.value != 0x01 else "CVM failed"
        )

        ui.progress("risk management")
        risk.terminal_risk_management(ctx)

        ui.progress("requesting card decision")
        requested = action.terminal_action_analysis(ctx)
        cda = ctx.oda_method == "cda" and requested is not CryptogramType.AAC
        first = action.generate_ac(ctx, requested, 0x8C, cda)
        # Book 2 6.6: an AAC is not signed; only a TC or ARQC answer carries the CDA signature.
        cda = cda and first.cryptogram_type is not CryptogramType.AAC
        if cda and not self._verify_cda(ctx, first):
            # Book 3 10.8 / Book 2 6.6: CDA failure -> the transaction is declined offline.
            result.cryptogram_type = first.cryptogram_type.name
            raise KernelTermination(
                "card signature (CDA) did not verify; offline declined", Outcome.DECLINED
            )
        kind = first.cryptogram_type
        result.cryptogram_type = kind.name
        result.advice_required, result.card_reason = first.advice_required, first.reason

        if ctx.params.transaction_type is TransactionType.REFUND:
            self._refund_online(ctx, result)
            return
        if kind is CryptogramType.TC:
            ctx.terminal_data[0x8A] = b"Y1"
            result.outcome, result.reason = Outcome.APPROVED, "approved offline by the card"
            # The data of the advice (0220) the acquirer must receive later (Book 3 10.8).
            result.authorisation_request = online.authorisation_request(ctx)
            return
        if kind is CryptogramType.AAC:
            ctx.terminal_data[0x8A] = b"Z1"
            result.outcome, result.reason = Outcome.DECLINED, "declined offline by the card"
            if first.reason:
                result.reason += f" ({first.reason})"
            return

        ui.progress("authorising online")
        ui.show(Message.PLEASE_WAIT)
        result.online_attempted = True
        result.authorisation_request = online.authorisation_request(ctx)
        outcome = online.go_online(ctx)
        result.unable_to_go_online = outcome.unable_to_go_online
        response = outcome.response
        result.host_response = response
        if response is not None:
            result.host_approved = response.approved
            online.issuer_authentication(ctx, response)
            scripts.run_scripts(ctx, response.issuer_scripts, 0x71)
        second_request = online.second_cryptogram_request(ctx, outcome)
        ui.progress("completing with the card")
        second = action.generate_ac(
            ctx, second_request, 0x8D, cda and second_request is CryptogramType.TC
        )
        signed = cda and second_request is CryptogramType.TC
        signed = signed and second.cryptogram_type is not CryptogramType.AAC
        if signed and not self._verify_cda(ctx, second):
            result.cryptogram_type = second.cryptogram_type.name
            raise KernelTermination("card signature (CDA) on completion did not verify")
        if response is not None:
            scripts.run_scripts(ctx, response.issuer_scripts, 0x72)
        final = second.cryptogram_type
        result.cryptogram_type = final.name
        result.advice_required = result.advice_required or second.advice_required
        result.card_reason = second.reason or result.card_reason
        if final is CryptogramType.TC:
            result.outcome = Outcome.APPROVED
            result.reason = (
                "approved by the issuer"
                if response is not None
                else "approved offline: the host could not be reached"
            )
            if response is None:
                # Y3: the acquirer learns of it by advice, with the final TC (Book 3 10.9).
                result.authorisation_request = online.authorisation_request(ctx)
        elif response is not None and response.approved:
            result.outcome = Outcome.DECLINED
            result.reason = "declined by the card after issuer approval"
        elif response is not None and response.referral:
            result.outcome, result.referral = Outcome.DECLINED, True
            ui.show(Message.CALL_YOUR_BANK)  # Book 4 11.2 message 04, shown on a referral
            result.reason = (
                f"declined: the issuer asked for a voice referral ({response.response_code}), "
                "which this terminal does not take"
            )
        elif response is not None:
            result.outcome = Outcome.DECLINED
            result.reason = response.message or f"declined by the issuer ({response.response_code})"
        else:
            result.outcome = Outcome.DECLINED
            why = str(outcome.error).rstrip(".")  # it is quoted inside this sentence
            result.reason = f"declined: the host could not be reached ({why})"

    def _refund_online(self, ctx: TransactionContext, result: TransactionResult) -> None:
        result.online_attempted = True
        result.authorisation_request = online.authorisation_request(ctx)
        outcome = online.go_online(ctx)
        result.unable_to_go_online = outcome.unable_to_go_online
        result.host_response = outcome.response
        if outcome.response is None:
            raise KernelTermination(
                "refund not possible: the host could not be reached "
                f"({str(outcome.error).rstrip('.')})"
            )
        result.host_approved = outcome.response.approved
        if outcome.response.approved:
            result.outcome, result.reason = Outcome.APPROVED, "refund approved by the acquirer"
        else:
            result.outcome = Outcome.DECLINED
            result.reason = f"refund declined ({outcome.response.response_code})"

    def _verify_cda(self, ctx: TransactionContext, response: action.GenerateAcResponse) -> bool:
        if self.cda_verifier is None:
            return False
        return self.cda_verifier(ctx, response)

    @staticmethod
    def _apply_aid_data(ctx: TransactionContext) -> None:
        aid = ctx.aid_config
        if aid is None:
            return
        ctx.terminal_data[0x9F06] = aid.aid
        ctx.terminal_data[0x9F09] = aid.application_version
        ctx.terminal_data[0x9F1B] = aid.floor_limit.to_bytes(4, "big")
        ctx.terminal_data.update(aid.tag_overrides)

    def _finish(self, ctx: TransactionContext, result: TransactionResult) -> None:
        result.tvr = ctx.tvr.hex()
        result.tsi = ctx.tsi.hex()
        result.cvm_results = ctx.cvm_results.hex()
        result.apdus = list(ctx.channel.trace)
        result.issuer_script_results = bytes(ctx.script_results).hex().upper()
        result.authorisation_response_code = ctx.terminal_data.get(0x8A, b"").decode(
            "ascii", "replace"
        )
        ac = ctx.card_data.get(0x9F26)
        result.cryptogram = ac.hex().upper() if ac else ""
        atc = ctx.card_data.get(0x9F36)
        result.atc = atc.hex().upper() if atc else ""
        if not result.pan_masked and ctx.pan:
            result.pan_masked = mask_pan(ctx.pan)
        lang = ctx.card_data.get(0x5F2D, b"").decode("ascii", "replace").lower()
        result.language_preference = [lang[i : i + 2] for i in range(0, len(lang) - 1, 2)]
        message = {
            Outcome.APPROVED: Message.APPROVED,
            Outcome.DECLINED: Message.DECLINED,
        }.get(result.outcome)
        if message is not None:
            ctx.cardholder.show(message)
        if not result.card_removed:
            ctx.cardholder.show(Message.REMOVE_CARD)
