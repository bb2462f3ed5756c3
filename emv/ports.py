"""The ports through which the EMV kernel reaches the outside world.

The kernel is sans-I/O: it never opens a socket, a reader or a screen.  Adapters at the
edges (``terminal/``, ``hardware_sim/``) implement these small protocols:

* :class:`CardTransport`     - exchange one APDU with the card (pyscard, nfcpy, in-process).
* :class:`CardholderInterface` - messages, application choice, PIN and biometric entry.
* :class:`OnlineAuthoriser`  - send the authorisation request to the acquirer/issuer.
* :class:`Clock`             - the transaction date and time.
* :class:`RandomSource`      - unpredictable numbers and random transaction selection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable


class CardTransport(Protocol):
    """Send one command APDU and return the response APDU including SW1 SW2.

    Raises :class:`emv.errors.CardRemovedError` when the card has left the reader and
    :class:`emv.errors.CardTransportError` for any other link failure.
    """

    def transmit(self, apdu: bytes) -> bytes: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class RandomSource(Protocol):
    def random_bytes(self, count: int) -> bytes: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now()


class SystemRandom:
    def random_bytes(self, count: int) -> bytes:
        return os.urandom(count)


class FixedClock:
    """A clock that always answers the same instant (deterministic runs and tests)."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


class Message(Enum):
    """EMV Book 4 Section 11.2 standard messages (message identifier values)."""

    AMOUNT = 0x01
    AMOUNT_OK = 0x02
    APPROVED = 0x03
    CALL_YOUR_BANK = 0x04
    CANCEL_OR_ENTER = 0x05
    CARD_ERROR = 0x06
    DECLINED = 0x07
    ENTER_AMOUNT = 0x08
    ENTER_PIN = 0x09
    INCORRECT_PIN = 0x0A
    INSERT_CARD = 0x0B
    NOT_ACCEPTED = 0x0C
    PIN_OK = 0x0D
    PLEASE_WAIT = 0x0E
    PROCESSING_ERROR = 0x0F
    REMOVE_CARD = 0x10
    USE_CHIP_READER = 0x11
    USE_MAG_STRIPE = 0x12
    TRY_AGAIN = 0x13
    # Non-Book-4 extensions (contactless Book A user interface requests)
    PRESENT_CARD = 0x15
    CARD_READ_OK = 0x17
    SEE_PHONE = 0x20
    LAST_PIN_TRY = 0x21
    PRESENT_FINGER = 0x22


@dataclass(frozen=True)
class ApplicationChoice:
    """One entry offered to the cardholder during application selection (Book 1 12.4)."""

    label: str
    aid: bytes
    priority: int | None


@dataclass(frozen=True)
class PinRequest:
    """What the PIN pad needs to know to prompt for a PIN."""

    online: bool
    amount_minor: int
    currency: str
    pin_try_counter: int | None = None
    pan: str = field(default="", repr=False)


@dataclass(frozen=True)
class OfflinePin:
    """An offline PIN as the ISO 9564 format 2 PIN block (Book 3 6.5.12), never digits."""

    block: bytes = field(repr=False)


@dataclass(frozen=True)
class OnlinePin:
    """An online PIN block already encrypted by the PIN pad, with its DUKPT KSN."""

    encrypted_block: bytes = field(repr=False)
    ksn: bytes
    format: int = 0


class PinEntryStatus(Enum):
    ENTERED = "entered"
    BYPASSED = "bypassed"  # Book 3 10.5.2: PIN entry bypass
    PAD_NOT_WORKING = "pad_not_working"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PinEntry:
    status: PinEntryStatus
    offline: OfflinePin | None = None
    online: OnlinePin | None = None


class CardholderInterface(Protocol):
    """Everything the kernel asks of the cardholder, the cashier and the PIN pad."""

    def show(self, message: Message) -> None:
        """Display a standard message to the cardholder."""

    def progress(self, phase: str) -> None:
        """Report the kernel's current phase (for the cashier's progress line)."""

    def choose_application(self, choices: list[ApplicationChoice]) -> int | None:
        """Return the index chosen by the cardholder, or None to cancel."""

    def confirm_application(self, choice: ApplicationChoice) -> bool:
        """Cardholder confirmation of a single application (Book 1 12.4 step 4)."""

    def request_pin(self, request: PinRequest) -> PinEntry:
        """Prompt on the PIN pad; offline gets a format 2 block, online an encrypted block."""

    def set_language(self, preferences: list[str]) -> None:
        """The card's Language Preference (5F2D), most preferred first."""


@dataclass(frozen=True)
class AuthorisationRequest:
    """What the kernel sends online (Book 3 10.7). ``emv_data`` becomes ISO 8583 DE 55."""

    amount_minor: int
    other_amount_minor: int
    currency_numeric: int
    transaction_type: int
    pan: str = field(repr=False)
    pan_sequence_number: str
    expiry_yymm: str
    emv_data: dict[int, bytes]
    pos_entry_mode: str
    online_pin: OnlinePin | None = None
    track2_equivalent: bytes | None = field(default=None, repr=False)
    biometric_block: bytes | None = field(default=None, repr=False)  # sealed for the issuer


@dataclass(frozen=True)
class AuthorisationResponse:
    """The issuer's answer; ``response_code`` is the two-character ISO 8583 DE 39."""

    response_code: str
    auth_code: str = ""
    issuer_authentication_data: bytes | None = None
    issuer_scripts: bytes = b""
    stan: str = ""
    rrn: str = ""
    message: str = ""

    @property
    def approved(self) -> bool:
        return self.response_code in ("00", "08", "10", "11")

    @property
    def referral(self) -> bool:
        return self.response_code in ("01", "02")


class OnlineUnavailable(Exception):
    """The terminal could not obtain an online answer (Book 3 10.7: unable to go online)."""


class OnlineAuthoriser(Protocol):
    def authorise(self, request: AuthorisationRequest) -> AuthorisationResponse:
        """Raise :class:`OnlineUnavailable` when no usable answer came back."""


# --- biometric cardholder verification (EMV Book 3 v4.4 Annex C3 CVM codes 06-0F) -------


class BiometricCaptureStatus(Enum):
    CAPTURED = "captured"
    CAPTURE_FAILED = "capture_failed"  # no usable sample (no finger, timeout, sensor error)
    BYPASSED = "bypassed"  # the cardholder or cashier skipped this biometric subtype
    TYPE_NOT_SUPPORTED = "type_not_supported"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BiometricRequest:
    """What the sensor needs to capture one sample for CVM ``cvm_code`` (06-0F)."""

    cvm_code: int
    online: bool
    amount_minor: int
    currency: str
    attempt: int = 1
    timeout_s: float = 15.0


@dataclass(frozen=True)
class BiometricCapture:
    """A captured sample: a clear template for the ICC (offline), or sealed for the issuer.

    ``sealed_for_issuer`` is the encrypted biometric data block; the kernel never sees an
    online template in clear, just as it never sees an online PIN.
    """

    status: BiometricCaptureStatus
    template: bytes = field(default=b"", repr=False)
    sealed_for_issuer: bytes = field(default=b"", repr=False)
    format_owner: int = 0


@runtime_checkable
class BiometricInterface(Protocol):
    """Optionally implemented by the :class:`CardholderInterface` when a sensor is wired."""

    def biometric_types(self) -> frozenset[int]:
        """The biometric CVM codes (06-0F) the terminal can perform now."""

    def capture_biometric(self, request: BiometricRequest) -> BiometricCapture:
        """Capture one sample on the sensor."""
