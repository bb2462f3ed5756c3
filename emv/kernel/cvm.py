"""Cardholder verification (EMV Book 3 Section 10.5, Annex C3/C4; Book 2 Section 7).

Walks the CVM List (8E): amounts X and Y, then 2-byte CV Rules.  For each rule whose
condition is satisfied the CVM is performed; on failure, b7 of the rule says whether the
next rule applies.  Sets CVM Results (9F34), the TVR byte 3 bits, and the TSI bit.

Biometric CVM codes 06-0F (EMV biometric bulletin, Book 3 v4.4 Annex C3) are recognised;
they are performed through :class:`emv.ports.CardholderInterface` when the terminal has a
biometric capability, and otherwise treated as not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from emv import apdu
from emv.kernel.context import KernelTermination, TransactionContext, TransactionType
from emv.ports import Message, PinEntryStatus, PinRequest
from emv.tvr import CvmResult, TsiBit, TvrBit


class CvmCode(IntEnum):
    FAIL = 0x00
    PLAINTEXT_PIN_ICC = 0x01
    ENCIPHERED_PIN_ONLINE = 0x02
    PLAINTEXT_PIN_ICC_AND_SIGNATURE = 0x03
    ENCIPHERED_PIN_ICC = 0x04
    ENCIPHERED_PIN_ICC_AND_SIGNATURE = 0x05
    FACIAL_OFFLINE = 0x06
    FACIAL_ONLINE = 0x07
    FINGER_OFFLINE = 0x08
    FINGER_ONLINE = 0x09
    PALM_OFFLINE = 0x0A
    PALM_ONLINE = 0x0B
    IRIS_OFFLINE = 0x0C
    IRIS_ONLINE = 0x0D
    VOICE_OFFLINE = 0x0E
    VOICE_ONLINE = 0x0F
    SIGNATURE = 0x1E
    NO_CVM_REQUIRED = 0x1F


BIOMETRIC_CODES = set(range(0x06, 0x10))
DESCRIPTIONS = {
    CvmCode.FAIL: "CVM failed",
    CvmCode.PLAINTEXT_PIN_ICC: "PIN verified",
    CvmCode.ENCIPHERED_PIN_ONLINE: "PIN verified online",
    CvmCode.PLAINTEXT_PIN_ICC_AND_SIGNATURE: "PIN verified and signature",
    CvmCode.ENCIPHERED_PIN_ICC: "PIN verified",
    CvmCode.ENCIPHERED_PIN_ICC_AND_SIGNATURE: "PIN verified and signature",
    CvmCode.SIGNATURE: "Signature",
    CvmCode.NO_CVM_REQUIRED: "No CVM",
}


@dataclass(frozen=True)
class CvRule:
    code: int  # b6-b1 of byte 1
    apply_next_on_failure: bool  # b7 of byte 1
    condition: int
    raw: bytes


@dataclass(frozen=True)
class CvmList:
    amount_x: int
    amount_y: int
    rules: tuple[CvRule, ...]


def parse_cvm_list(raw: bytes) -> CvmList:
    """8E: X (4 bytes binary), Y (4 bytes binary), then 2-byte rules (Book 3 10.5)."""
    if len(raw) < 8 or (len(raw) - 8) % 2:
        raise KernelTermination("card CVM List (8E) has a bad length")
    rules = tuple(
        CvRule(raw[i] & 0x3F, bool(raw[i] & 0x40), raw[i + 1], raw[i : i + 2])
        for i in range(8, len(raw), 2)
    )
    return CvmList(int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big"), rules)


def describe(code: int) -> str:
    if code in BIOMETRIC_CODES:
        return "Biometric verified"
    try:
        return DESCRIPTIONS[CvmCode(code)]
    except ValueError:
        return "No CVM"


class CardholderVerification:
    """One run of Book 3 10.5 over the selected application's CVM List."""

    def __init__(self, ctx: TransactionContext) -> None:
        self.ctx = ctx
        self.pin_bypassed = False
        self.signature_required = False
        self.online_pin = None
        self.performed: int | None = None

    # --- terminal capabilities (9F33 byte 2, Book 4 A2) -----------------------------
    def supported(self, code: int) -> bool:
        cfg = self.ctx.config
        pin_pad = cfg.pin_pad_present
        if code in (CvmCode.PLAINTEXT_PIN_ICC, CvmCode.PLAINTEXT_PIN_ICC_AND_SIGNATURE):
            ok = cfg.supports(1, 0x80) and pin_pad
            if code == CvmCode.PLAINTEXT_PIN_ICC_AND_SIGNATURE:
                ok = ok and cfg.supports(1, 0x20)
            return ok
        if code == CvmCode.ENCIPHERED_PIN_ONLINE:
            return cfg.supports(1, 0x40) and pin_pad and cfg.online_capable
        if code in (CvmCode.ENCIPHERED_PIN_ICC, CvmCode.ENCIPHERED_PIN_ICC_AND_SIGNATURE):
            ok = cfg.supports(1, 0x10) and pin_pad
            if code == CvmCode.ENCIPHERED_PIN_ICC_AND_SIGNATURE:
                ok = ok and cfg.supports(1, 0x20)
            return ok
        if code == CvmCode.SIGNATURE:
            return cfg.supports(1, 0x20)
        if code == CvmCode.NO_CVM_REQUIRED:
            return cfg.supports(1, 0x08)
        if code in BIOMETRIC_CODES:
            return bool(cfg.supports(1, 0x04)) and self.ctx.biometric_supported(code)
        return code == CvmCode.FAIL

    # --- conditions (Book 3 Annex C3) ------------------------------------------------
    def condition_satisfied(self, rule: CvRule, cvm_list: CvmList) -> bool:
        params = self.ctx.params
        kind = params.transaction_type
        unattended = (self.ctx.config.terminal_type & 0x0F) in (4, 5, 6)
        cash = kind is TransactionType.CASH
        cashback = kind is TransactionType.CASHBACK
        condition = rule.condition
        if condition == 0x00:
            return True
        if condition == 0x01:
            return cash and unattended
        if condition == 0x02:
            return not (cash and unattended) and not (cash and not unattended) and not cashback
        if condition == 0x03:
            return self.supported(rule.code)
        if condition == 0x04:
            return cash and not unattended
        if condition == 0x05:
            return cashback
        if condition in (0x06, 0x07, 0x08, 0x09):
            app_currency = self.ctx.card_data.get(0x9F42)
            if app_currency is None or app_currency != self.ctx.terminal_data.get(0x5F2A):
                return False
            amount = params.amount_minor
            if condition == 0x06:
                return amount < cvm_list.amount_x
            if condition == 0x07:
                return amount > cvm_list.amount_x
            if condition == 0x08:
                return amount < cvm_list.amount_y
            return amount > cvm_list.amount_y
        return False  # RFU or proprietary conditions are not satisfied

    # --- the walk ---------------------------------------------------------------------
    def run(self) -> None:
        ctx = self.ctx
        if not ctx.aip[0] & 0x10:  # AIP byte 1 b5: cardholder verification supported
            ctx.cvm_results.code, ctx.cvm_results.condition = 0x3F, 0x00
            ctx.cvm_results.result = CvmResult.UNKNOWN
            return
        raw = ctx.card_data.get(0x8E)
        if not raw or len(raw) <= 8:
            # Book 3 10.5: no CVM List (or one without rules) -> 'ICC data missing',
            # CVM Results 3F0000, and the TSI bit is NOT set.
            ctx.tvr.set(TvrBit.ICC_DATA_MISSING)
            ctx.cvm_results.code, ctx.cvm_results.condition = 0x3F, 0x00
            ctx.cvm_results.result = CvmResult.UNKNOWN
            return
        ctx.tsi.set(TsiBit.CARDHOLDER_VERIFICATION_PERFORMED)
        cvm_list = parse_cvm_list(raw)
        last_failed: CvRule | None = None
        for rule in cvm_list.rules:
            if not self.condition_satisfied(rule, cvm_list):
                continue
            result = self.perform(rule)
            if result is not None:
                ctx.cvm_results.code = rule.raw[0]
                ctx.cvm_results.condition = rule.condition
                ctx.cvm_results.result = result
                self.performed = rule.code
                return
            last_failed = rule
            if not rule.apply_next_on_failure:
                break
        ctx.tvr.set(TvrBit.CARDHOLDER_VERIFICATION_NOT_SUCCESSFUL)
        if last_failed is None:
            ctx.cvm_results.code, ctx.cvm_results.condition = 0x3F, 0x00
        else:
            ctx.cvm_results.code = last_failed.raw[0]
            ctx.cvm_results.condition = last_failed.condition
        ctx.cvm_results.result = CvmResult.FAILED

    def perform(self, rule: CvRule) -> CvmResult | None:
        """Perform one CVM; None means it failed."""
        code = rule.code
        known = code in {c.value for c in CvmCode}
        if not known:
            self.ctx.tvr.set(TvrBit.UNRECOGNISED_CVM)
            return None
        if code == CvmCode.FAIL:
            return None
        if code in BIOMETRIC_CODES:
            return self.ctx.perform_biometric(code, self)
        if not self.supported(code):
            if code in (
                CvmCode.PLAINTEXT_PIN_ICC,
                CvmCode.PLAINTEXT_PIN_ICC_AND_SIGNATURE,
                CvmCode.ENCIPHERED_PIN_ONLINE,
                CvmCode.ENCIPHERED_PIN_ICC,
                CvmCode.ENCIPHERED_PIN_ICC_AND_SIGNATURE,
            ):
                self.ctx.tvr.set(TvrBit.PIN_PAD_NOT_PRESENT_OR_NOT_WORKING)
            return None
        if code == CvmCode.NO_CVM_REQUIRED:
            return CvmResult.SUCCESSFUL
        if code == CvmCode.SIGNATURE:
            self.signature_required = True
            return CvmResult.UNKNOWN
        if code == CvmCode.ENCIPHERED_PIN_ONLINE:
            return self.online_pin_entry()
        enciphered = code in (CvmCode.ENCIPHERED_PIN_ICC, CvmCode.ENCIPHERED_PIN_ICC_AND_SIGNATURE)
        if self.offline_pin(enciphered):
            if code in (
                CvmCode.PLAINTEXT_PIN_ICC_AND_SIGNATURE,
                CvmCode.ENCIPHERED_PIN_ICC_AND_SIGNATURE,
            ):
                self.signature_required = True
                return CvmResult.UNKNOWN
            return CvmResult.SUCCESSFUL
        return None

    def _pin_request(self, online: bool, try_counter: int | None) -> PinRequest:
        p = self.ctx.params
        return PinRequest(online, p.amount_minor, p.currency_alpha, try_counter, self.ctx.pan)

    def online_pin_entry(self) -> CvmResult | None:
        """Book 3 10.5.1 online enciphered PIN: the PIN pad returns an encrypted block."""
        if self.pin_bypassed:
            self.ctx.tvr.set(TvrBit.PIN_NOT_ENTERED)
            return None
        self.ctx.cardholder.show(Message.ENTER_PIN)
        entry = self.ctx.cardholder.request_pin(self._pin_request(True, None))
        if entry.status is PinEntryStatus.CANCELLED:
            raise KernelTermination("the cardholder cancelled PIN entry")
        if entry.status is PinEntryStatus.PAD_NOT_WORKING or (
            entry.status is PinEntryStatus.ENTERED and entry.online is None
        ):
            self.ctx.tvr.set(TvrBit.PIN_PAD_NOT_PRESENT_OR_NOT_WORKING)
            return None
        if entry.status is not PinEntryStatus.ENTERED:
            self.pin_bypassed = True
            self.ctx.tvr.set(TvrBit.PIN_NOT_ENTERED)
            return None
        self.ctx.online_pin = entry.online
        self.ctx.tvr.set(TvrBit.ONLINE_PIN_ENTERED)
        return CvmResult.UNKNOWN

    def _pin_try_counter(self) -> int | None:
        known = self.ctx.card_data.get(0x9F17)
        if known is not None and len(known) == 1:
            return known[0]
        response = self.ctx.send(apdu.get_data(0x9F17))
        if response.ok and response.data[:3] == b"\x9f\x17\x01" and len(response.data) == 4:
            return response.data[3]
        return None

    def offline_pin(self, enciphered: bool) -> bool:
        """Book 3 10.5.1 offline PIN, plaintext (VERIFY P2=80) or enciphered (P2=88)."""
        ctx = self.ctx
        if self.pin_bypassed:
            ctx.tvr.set(TvrBit.PIN_NOT_ENTERED)
            return False
        key = ctx.pin_encipherment_key() if enciphered else None
        if enciphered and key is None:
            return False  # Book 2 7.1: no ICC PIN encipherment key -> this CVM fails
        tries = self._pin_try_counter()
        if tries == 0:
            ctx.tvr.set(TvrBit.PIN_TRY_LIMIT_EXCEEDED)
            return False
        while True:
            ctx.cardholder.show(Message.LAST_PIN_TRY if tries == 1 else Message.ENTER_PIN)
            entry = ctx.cardholder.request_pin(self._pin_request(False, tries))
            if entry.status is PinEntryStatus.CANCELLED:
                raise KernelTermination("the cardholder cancelled PIN entry")
            if entry.status is PinEntryStatus.PAD_NOT_WORKING or (
                entry.status is PinEntryStatus.ENTERED and entry.offline is None
            ):
                ctx.tvr.set(TvrBit.PIN_PAD_NOT_PRESENT_OR_NOT_WORKING)
                return False
            if entry.status is not PinEntryStatus.ENTERED or entry.offline is None:
                self.pin_bypassed = True
                ctx.tvr.set(TvrBit.PIN_NOT_ENTERED)
                return False
            block = entry.offline.block
            if enciphered and key is not None:
                challenge = ctx.send(apdu.get_challenge())
                if not challenge.ok or len(challenge.data) != 8:
                    return False
                block = encipher_pin_block(
                    key, block, challenge.data, ctx.random.random_bytes(len_of(key))
                )
            response = ctx.send(apdu.verify(block, 0x88 if enciphered else 0x80))
            if response.ok:
                ctx.cardholder.show(Message.PIN_OK)
                return True
            if response.sw1 == 0x63 and response.sw2 & 0xF0 == 0xC0:
                tries = response.sw2 & 0x0F
                if tries == 0:
                    ctx.tvr.set(TvrBit.PIN_TRY_LIMIT_EXCEEDED)
                    return False
                ctx.cardholder.show(Message.INCORRECT_PIN)
                continue
            if response.sw in (0x6983, 0x6984):
                ctx.tvr.set(TvrBit.PIN_TRY_LIMIT_EXCEEDED)
                return False
            raise KernelTermination(f"card answered VERIFY with {response.sw_hex}")


def len_of(key: tuple[int, int]) -> int:
    return (key[0].bit_length() + 7) // 8


def encipher_pin_block(
    key: tuple[int, int], pin_block: bytes, challenge: bytes, padding: bytes
) -> bytes:
    """Book 2 7.2: RSA over 7F || PIN block || ICC challenge || random padding."""
    modulus, exponent = key
    size = len_of(key)
    data = b"\x7f" + pin_block + challenge
    data += padding[: size - len(data)]
    value = pow(int.from_bytes(data, "big"), exponent, modulus)
    return value.to_bytes(size, "big")
