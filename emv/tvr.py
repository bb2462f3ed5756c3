"""Terminal Verification Results, Transaction Status Information and CVM Results.

Bit layouts from EMV Book 3 Annex C5 (TVR, tag 95), C6 (TSI, tag 9B) and
Section 10.5 / Annex C4 (CVM Results, tag 9F34).  Biometric TVR bits follow
EMV Specification Bulletin 248 (biometric CVM) as carried into Book 3 v4.4 C5.
"""

from __future__ import annotations

from enum import Enum


class TvrBit(Enum):
    """(byte index 0..4, bit mask) of each TVR bit, Book 3 Annex C5."""

    # Byte 1
    OFFLINE_DATA_AUTHENTICATION_NOT_PERFORMED = (0, 0x80)
    SDA_FAILED = (0, 0x40)
    ICC_DATA_MISSING = (0, 0x20)
    CARD_ON_EXCEPTION_FILE = (0, 0x10)
    DDA_FAILED = (0, 0x08)
    CDA_FAILED = (0, 0x04)
    SDA_SELECTED = (0, 0x02)
    # Byte 2
    DIFFERENT_APPLICATION_VERSIONS = (1, 0x80)
    EXPIRED_APPLICATION = (1, 0x40)
    APPLICATION_NOT_YET_EFFECTIVE = (1, 0x20)
    SERVICE_NOT_ALLOWED = (1, 0x10)
    NEW_CARD = (1, 0x08)
    BIOMETRIC_PERFORMED_SUCCESSFUL = (1, 0x04)
    BIOMETRIC_TEMPLATE_FORMAT_NOT_SUPPORTED = (1, 0x02)
    # Byte 3
    CARDHOLDER_VERIFICATION_NOT_SUCCESSFUL = (2, 0x80)
    UNRECOGNISED_CVM = (2, 0x40)
    PIN_TRY_LIMIT_EXCEEDED = (2, 0x20)
    PIN_PAD_NOT_PRESENT_OR_NOT_WORKING = (2, 0x10)
    PIN_NOT_ENTERED = (2, 0x08)
    ONLINE_PIN_ENTERED = (2, 0x04)
    BIOMETRIC_CAPTURE_FAILED = (2, 0x02)
    BIOMETRIC_SUBTYPE_BYPASSED = (2, 0x01)
    # Byte 4
    TRANSACTION_EXCEEDS_FLOOR_LIMIT = (3, 0x80)
    LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED = (3, 0x40)
    UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED = (3, 0x20)
    SELECTED_RANDOMLY_FOR_ONLINE = (3, 0x10)
    MERCHANT_FORCED_ONLINE = (3, 0x08)
    BIOMETRIC_TRY_LIMIT_EXCEEDED = (3, 0x04)
    BIOMETRIC_TYPE_NOT_SUPPORTED = (3, 0x02)
    # Byte 5
    DEFAULT_TDOL_USED = (4, 0x80)
    ISSUER_AUTHENTICATION_FAILED = (4, 0x40)
    SCRIPT_FAILED_BEFORE_FINAL_GENERATE_AC = (4, 0x20)
    SCRIPT_FAILED_AFTER_FINAL_GENERATE_AC = (4, 0x10)


class TsiBit(Enum):
    """(byte index, mask) of each TSI bit, Book 3 Annex C6."""

    OFFLINE_DATA_AUTHENTICATION_PERFORMED = (0, 0x80)
    CARDHOLDER_VERIFICATION_PERFORMED = (0, 0x40)
    CARD_RISK_MANAGEMENT_PERFORMED = (0, 0x20)
    ISSUER_AUTHENTICATION_PERFORMED = (0, 0x10)
    TERMINAL_RISK_MANAGEMENT_PERFORMED = (0, 0x08)
    SCRIPT_PROCESSING_PERFORMED = (0, 0x04)


class _BitField:
    size = 0

    def __init__(self, value: bytes | None = None) -> None:
        self._bytes = bytearray(value if value is not None else bytes(self.size))
        if len(self._bytes) != self.size:
            raise ValueError(f"{type(self).__name__} is {self.size} bytes")

    def _set(self, where: tuple[int, int]) -> None:
        index, mask = where
        self._bytes[index] |= mask

    def _has(self, where: tuple[int, int]) -> bool:
        index, mask = where
        return bool(self._bytes[index] & mask)

    def to_bytes(self) -> bytes:
        return bytes(self._bytes)

    def hex(self) -> str:
        return self._bytes.hex().upper()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hex()})"


class TerminalVerificationResults(_BitField):
    """TVR, tag 95 (Book 3 Annex C5)."""

    size = 5

    def set(self, bit: TvrBit) -> None:
        self._set(bit.value)

    def has(self, bit: TvrBit) -> bool:
        return self._has(bit.value)

    def set_bits(self) -> list[TvrBit]:
        return [b for b in TvrBit if self.has(b)]


class TransactionStatusInformation(_BitField):
    """TSI, tag 9B (Book 3 Annex C6)."""

    size = 2

    def set(self, bit: TsiBit) -> None:
        self._set(bit.value)

    def has(self, bit: TsiBit) -> bool:
        return self._has(bit.value)


class CvmResult(Enum):
    """Byte 3 of the CVM Results (Book 3 Annex C4)."""

    UNKNOWN = 0x00
    FAILED = 0x01
    SUCCESSFUL = 0x02


class CvmResults:
    """CVM Results, tag 9F34: CVM performed, CVM condition, CVM result."""

    def __init__(
        self, code: int = 0x3F, condition: int = 0x00, result: CvmResult = CvmResult.UNKNOWN
    ):
        self.code = code
        self.condition = condition
        self.result = result

    def to_bytes(self) -> bytes:
        return bytes([self.code, self.condition, self.result.value])

    def hex(self) -> str:
        return self.to_bytes().hex().upper()
