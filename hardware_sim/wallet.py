"""The customer's phone for merchant-presented QR payments (TEST infrastructure).

It does what a wallet app does after its camera reads the code: gets the payload (here by the
reference printed under the code, from the QR host's ``lookup``), checks it as EMV QRCPS MPM
(CRC, dynamic code, an amount), shows the amount and merchant, and pays exactly that amount.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

from emv import qr


class WalletError(Exception):
    """A payment the wallet could not make; the message is one sentence."""


@dataclass(frozen=True)
class WalletPayment:
    reference: str
    merchant_name: str
    merchant_city: str
    amount: str
    currency_numeric: str
    status: str
    auth_code: str


def call(host: str, port: int, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One JSON-lines request to the QR host."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = sock.makefile("rb").readline()
    except OSError as exc:
        raise WalletError(f"cannot reach the QR payment host at {host}:{port} ({exc})") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise WalletError("the QR payment host sent an unreadable answer") from None
    if not isinstance(answer, dict):
        raise WalletError("the QR payment host sent an unreadable answer")
    return answer


class SimWallet:
    def __init__(self, host: str, port: int, name: str = "SIMWALLET") -> None:
        self.host, self.port, self.name = host, port, name

    def scan(self, reference: str) -> qr.MerchantPresentedPayload:
        answer = call(self.host, self.port, {"op": "lookup", "reference": reference})
        if "error" in answer:
            raise WalletError(str(answer["error"]))
        try:
            payload = qr.parse(str(answer.get("payload", "")))
        except qr.QrPayloadError as exc:
            raise WalletError(f"the QR code is not a valid EMV payment code: {exc}") from None
        if not payload.dynamic or payload.amount is None:
            raise WalletError("the QR code carries no amount; this wallet pays dynamic codes only")
        if payload.reference_label != reference:
            raise WalletError("the QR code's reference does not match the one asked for")
        return payload

    def pay(self, reference: str) -> WalletPayment:
        payload = self.scan(reference)
        answer = call(
            self.host,
            self.port,
            {
                "op": "pay",
                "reference": reference,
                "amount": payload.amount,
                "currency": payload.currency_numeric,
                "wallet": self.name,
            },
        )
        if "error" in answer:
            raise WalletError(str(answer["error"]))
        return WalletPayment(
            reference,
            payload.merchant_name,
            payload.merchant_city,
            str(payload.amount),
            payload.currency_numeric,
            str(answer.get("status", "")),
            str(answer.get("auth_code", "")),
        )
