"""The record of one kernel run, used by the rest of the terminal (Book 3 10.11)."""

from __future__ import annotations

from dataclasses import dataclass, field

from emv.apdu import Exchange
from emv.kernel.context import Outcome
from emv.ports import AuthorisationRequest, AuthorisationResponse


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits at most (PCI DSS 3.4); short PANs show less."""
    digits = "".join(ch for ch in pan if ch.isdigit())
    if len(digits) < 13:
        return "*" * len(digits)
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


@dataclass
class TransactionResult:
    outcome: Outcome
    reason: str
    interface: str = "contact"
    aid: str = ""
    application_label: str = ""
    pan_masked: str = ""
    expiry_yymm: str = ""
    tvr: str = "0000000000"
    tsi: str = "0000"
    cvm_results: str = "000000"
    cvm_description: str = ""
    signature_required: bool = False
    cryptogram_type: str | None = None
    cryptogram: str = ""
    atc: str = ""
    online_attempted: bool = False
    unable_to_go_online: bool = False
    host_approved: bool = False
    host_response: AuthorisationResponse | None = None
    authorisation_request: AuthorisationRequest | None = field(default=None, repr=False)
    authorisation_response_code: str = ""  # 8A as sent to the card
    issuer_script_results: str = ""
    # CID b4 and b3-b1 of the last GENERATE AC (Book 3 Table 14): the card asks for an
    # advice, and why ('service not allowed', 'PIN try limit exceeded', ...).
    advice_required: bool = False
    card_reason: str = ""
    referral: bool = False  # the issuer answered 01/02 (refer to card issuer)
    language_preference: list[str] = field(default_factory=list)
    card_removed: bool = False
    apdus: list[Exchange] = field(default_factory=list)

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED

    @property
    def needs_reversal(self) -> bool:
        """A host approval that did not end in an approved transaction must be reversed."""
        return self.host_approved and not self.approved
