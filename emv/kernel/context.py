"""Transaction parameters and the working state shared by the kernel steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from emv.apdu import ApduChannel, CommandApdu, ResponseApdu, describe_command
from emv.config import AidConfig, TerminalConfig
from emv.ports import CardholderInterface, Clock, OnlineAuthoriser, OnlinePin, RandomSource
from emv.tvr import (
    CvmResult,
    CvmResults,
    TerminalVerificationResults,
    TransactionStatusInformation,
)


class TransactionType(Enum):
    """Transaction Type 9C (Book 4 Annex A, ISO 8583 processing code positions 1-2)."""

    PURCHASE = 0x00
    CASH = 0x01
    CASHBACK = 0x09
    REFUND = 0x20

    @classmethod
    def from_name(cls, name: str) -> TransactionType:
        return {
            "purchase": cls.PURCHASE,
            "cash": cls.CASH,
            "cashback": cls.CASHBACK,
            "refund": cls.REFUND,
        }[name]


@dataclass(frozen=True)
class TransactionParameters:
    amount_minor: int
    currency_numeric: int
    currency_exponent: int = 2
    other_amount_minor: int = 0
    transaction_type: TransactionType = TransactionType.PURCHASE
    sequence_counter: int = 1  # 9F41
    force_online: bool = False
    currency_alpha: str = ""


class Outcome(Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    ABORTED = "aborted"


class KernelTermination(Exception):
    """Ends the transaction at once (Book 3: 'terminate the transaction')."""

    def __init__(self, reason: str, outcome: Outcome = Outcome.ABORTED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


def bcd(value: int, length: int) -> bytes:
    """Numeric (n) format: BCD, right-justified, leading zeros (Book 3 4.3)."""
    digits = str(value).rjust(length * 2, "0")
    if len(digits) > length * 2:
        raise ValueError(f"{value} does not fit in {length} BCD bytes")
    return bytes.fromhex(digits)


@dataclass
class TransactionContext:
    config: TerminalConfig
    params: TransactionParameters
    channel: ApduChannel
    cardholder: CardholderInterface
    authoriser: OnlineAuthoriser | None
    clock: Clock
    random: RandomSource
    tvr: TerminalVerificationResults = field(default_factory=TerminalVerificationResults)
    tsi: TransactionStatusInformation = field(default_factory=TransactionStatusInformation)
    cvm_results: CvmResults = field(default_factory=CvmResults)
    terminal_data: dict[int, bytes] = field(default_factory=dict)
    card_data: dict[int, bytes] = field(default_factory=dict)
    aid_config: AidConfig | None = None
    oda_records: bytearray = field(default_factory=bytearray)
    pdol_data: bytes = b""
    cdol1_data: bytes = b""
    cdol2_data: bytes = b""
    notes: list[str] = field(default_factory=list)
    online_pin: OnlinePin | None = None
    script_results: bytearray = field(default_factory=bytearray)  # 9F5B
    recent_amount_same_pan: int = 0
    oda_method: str | None = None
    oda_reason: str = ""
    icc_key_object: object | None = None  # emv.oda's RsaPublicKey once recovered
    oda_engine: Callable[[TransactionContext, str], None] | None = (
        None  # split-sales check (Book 3 10.6.1), from the journal
    )
    icc_public_key: tuple[int, int] | None = None  # (modulus, exponent) after ODA
    icc_pin_key: tuple[int, int] | None = None  # ICC PIN encipherment key (9F2D..)
    biometric_block: bytes = field(default=b"", repr=False)  # sealed for the issuer (CVM 09)

    # --- hooks filled by later steps ----------------------------------------------------
    def pin_encipherment_key(self) -> tuple[int, int] | None:
        """Book 2 7.1: the ICC PIN encipherment key if present, else the ICC public key."""
        return self.icc_pin_key or self.icc_public_key

    def oda_available(self) -> bool:
        """True once an ODA engine is wired (see emv.kernel.oda_step)."""
        return self.oda_engine is not None

    def run_oda(self, method: str) -> None:
        if self.oda_engine is not None:
            self.oda_engine(self, method)

    def biometric_supported(self, code: int) -> bool:
        """True when the cardholder port has a sensor for CVM ``code`` (emv.kernel.biometric)."""
        from emv.kernel.biometric import biometric_supported

        return biometric_supported(self, code)

    def perform_biometric(self, code: int, verification: object) -> CvmResult | None:
        """Book 3 v4.4 C3 biometric CVM; without a sensor: type not supported (C5)."""
        from emv.kernel.biometric import perform_biometric

        supported = getattr(verification, "supported", None)
        return perform_biometric(self, code, bool(supported(code)) if supported else False)

    # --- data access ---------------------------------------------------------------
    def value(self, tag: int) -> bytes | None:
        """Any data element, as the DOL builder and the online message need it."""
        if tag == 0x95:
            return self.tvr.to_bytes()
        if tag == 0x9B:
            return self.tsi.to_bytes()
        if tag == 0x9F34:
            return self.cvm_results.to_bytes()
        if tag in self.terminal_data:
            return self.terminal_data[tag]
        return self.card_data.get(tag)

    def card(self, tag: int) -> bytes | None:
        return self.card_data.get(tag)

    @property
    def aip(self) -> bytes:
        return self.card_data.get(0x82, b"\x00\x00")

    @property
    def pan(self) -> str:
        raw = self.card_data.get(0x5A, b"")
        return raw.hex().upper().rstrip("F")

    def send(self, command: CommandApdu) -> ResponseApdu:
        return self.channel.send(command)

    def expect_ok(self, command: CommandApdu, response: ResponseApdu) -> ResponseApdu:
        if not response.ok:
            from emv.apdu import describe_sw

            raise KernelTermination(
                f"card refused {describe_command(command.to_bytes())} "
                f"with {response.sw_hex} ({describe_sw(response.sw)})"
            )
        return response
