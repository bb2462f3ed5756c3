"""Outcomes, user interface requests and the kernel result (EMV Contactless Book A 6.2, 7).

Book A 6.2 defines the Outcome Parameter Set a kernel hands back to Entry Point; Book A
7.1 the User Interface Request Data.  Message identifiers missing from
:class:`emv.ports.Message` (Book A Table 7.1 values ``18`` to ``1C`` and ``21``) live in
:class:`ContactlessMessage` until the shared enum carries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from emv.errors import CardError
from emv.ports import AuthorisationRequest, Message


class OutcomeStatus(Enum):
    """Book A 6.2.2 Outcome Parameter Set, Status."""

    APPROVED = "approved"
    DECLINED = "declined"
    ONLINE_REQUEST = "online request"
    TRY_ANOTHER_INTERFACE = "try another interface"
    END_APPLICATION = "end application"
    TRY_AGAIN = "try again"
    SELECT_NEXT = "select next"


class Start(Enum):
    """Book A 6.2.2 Outcome Parameter Set, Start: where Entry Point restarts."""

    NA = "N/A"
    B = "B"  # protocol activation: wait for the card again
    C = "C"  # combination selection: next candidate
    D = "D"  # kernel activation (not used here)


class Cvm(Enum):
    """Book A 6.2.2 Outcome Parameter Set, CVM."""

    NO_CVM = "no CVM"
    SIGNATURE = "obtain signature"
    ONLINE_PIN = "online PIN"
    CONFIRMATION_CODE_VERIFIED = "confirmation code verified"  # CDCVM done on the device
    NA = "N/A"


class ContactlessMessage(Enum):
    """Book A Table 7.1 identifiers that :class:`emv.ports.Message` does not carry yet."""

    INSERT_OR_SWIPE_CARD = 0x18
    PRESENT_ONE_CARD_ONLY = 0x19
    APPROVED_PLEASE_SIGN = 0x1A
    AUTHORISING_PLEASE_WAIT = 0x1B
    INSERT_SWIPE_OR_TRY_ANOTHER_CARD = 0x1C
    PRESENT_CARD_AGAIN = 0x21


UiMessage = Message | ContactlessMessage


class MultipleCardsError(CardError):
    """The reader saw a collision: more than one card in the field (Book D 5.2, Book B 3.2)."""

    def __init__(self, message: str = "more than one card in the field") -> None:
        super().__init__(message)


@dataclass
class ContactlessResult:
    """What one tap produced: the Outcome Parameter Set plus the kernel's data record."""

    outcome: OutcomeStatus
    start: Start = Start.NA
    cvm: Cvm = Cvm.NA
    ui: list[UiMessage] = field(default_factory=list)
    ui_on_restart: UiMessage | None = None
    kernel_id: int | None = None
    aid: bytes = b""
    application_label: str = ""  # Application Label (50) from the selected ADF's FCI
    tvr: bytes = bytes(5)
    cvm_results: bytes = b"\x3f\x00\x00"
    ctq: bytes | None = None
    ttq: bytes | None = None
    oda_performed: bool = False
    oda_failed: bool = False
    cryptogram_type: str = ""  # "ARQC", "TC" or "AAC"
    authorisation: AuthorisationRequest | None = None
    apdu_count: int = 0
    reason: str = ""
    card_read_ok_at_apdu: int | None = None

    @property
    def restart(self) -> bool:
        """True when the terminal must wait for the card again (Start B)."""
        return self.start is Start.B
