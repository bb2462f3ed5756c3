"""What the cashier reads after a payment: one headline and one sentence of what to do.

The ISO 8583 DE 39 response codes are explained from ``tui/data/response_codes.json``;
kernel outcomes (offline decisions, card removed, host unreachable) are worded here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from terminal.service import PaymentOutcome

APPROVED = "APPROVED"
DECLINED = "DECLINED"
NOT_COMPLETED = "NOT COMPLETED"


@dataclass(frozen=True)
class ResultView:
    headline: str
    sentence: str
    amount: str
    pan_masked: str = ""
    application: str = ""
    auth_code: str = ""
    cvm: str = ""
    stan: str = ""
    response_code: str = ""
    signature_required: bool = False
    reversal: str = ""

    @property
    def approved(self) -> bool:
        return self.headline == APPROVED


@cache
def response_codes() -> dict[str, dict[str, str]]:
    raw = json.loads(
        resources.files("terminal.tui.data").joinpath("response_codes.json").read_text()
    )
    return {code: row for code, row in raw.items() if not code.startswith("_")}


def explain_response_code(code: str) -> str:
    row = response_codes().get(code)
    if row is None:
        return f"The card issuer declined the payment (code {code}). Ask for another card."
    return f"{row['text']} {row['action']}".strip()


def _sentence(outcome: PaymentOutcome) -> str:
    r = outcome.result
    response = r.host_response
    if r.approved:
        if r.signature_required:
            return f"{r.reason.capitalize()}. Ask the cardholder to sign the receipt."
        return f"{r.reason.capitalize()}."
    if r.card_removed:
        return (
            "The card was removed before the payment finished; nothing was charged. "
            "Start a new sale and leave the card in until the screen says REMOVE CARD."
        )
    if r.online_attempted and r.unable_to_go_online:
        return (
            "The bank could not be reached, so the payment was declined. "
            "Check the network connection to the host and try again."
        )
    if response is not None and not response.approved and r.reason.startswith("declined by the"):
        return explain_response_code(response.response_code)
    if response is not None and response.approved:
        return (
            f"The bank approved but the card then refused ({r.reason}); the approval is "
            "being reversed. Ask for another card."
        )
    if r.reason == "declined offline by the card":
        return "The card itself declined the payment. Ask for another card or payment method."
    text = r.reason[:1].upper() + r.reason[1:]
    return f"{text.rstrip('.')}. Try again, or ask for another card."


def describe(outcome: PaymentOutcome) -> ResultView:
    r = outcome.result
    if r.approved:
        headline = APPROVED
    elif r.outcome.value == "declined":
        headline = DECLINED
    else:
        headline = NOT_COMPLETED
    response = r.host_response
    reversal = {
        "acknowledged": "The host approval was reversed (acknowledged by the host).",
        "pending": "A reversal is queued and will be sent when the host is reachable.",
    }.get(outcome.reversal, "")
    return ResultView(
        headline=headline,
        sentence=_sentence(outcome),
        amount=outcome.request.currency.format(outcome.request.amount_minor),
        pan_masked=r.pan_masked,
        application=" ".join(p for p in (r.application_label, f"({r.aid})" if r.aid else "") if p),
        auth_code=response.auth_code if response else "",
        cvm=r.cvm_description,
        stan=outcome.stan,
        response_code=response.response_code if response else "",
        signature_required=r.signature_required,
        reversal=reversal,
    )
