"""Biometric CVMs 08/09 in the contact kernel (Book 3 v4.4 C3/C5) against the card simulator.

The cardholder port here is scripted (captures handed over directly) so every TVR path is
reached deterministically; the serial sensor path is in test_biometric_pay.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from emv.config import default_terminal_config
from emv.kernel.biometric import verify_commands
from emv.kernel.contact import ContactKernel
from emv.kernel.context import Outcome, TransactionParameters
from emv.ports import (
    AuthorisationRequest,
    AuthorisationResponse,
    BiometricCapture,
    BiometricCaptureStatus,
    BiometricRequest,
    FixedClock,
)
from hardware_sim import fingerprint_library as lib
from hardware_sim.card import biometric as card_biometric
from hardware_sim.card import load_card
from hardware_sim.reader import InProcessReader
from hardware_sim.soft_pinpad import SoftPinPad
from terminal.cardholder import ScriptedCardholder


class Random:
    def random_bytes(self, count: int) -> bytes:
        return bytes(range(0x31, 0x31 + count))


class ApprovingIssuer:
    def __init__(self) -> None:
        self.requests: list[AuthorisationRequest] = []

    def authorise(self, request: AuthorisationRequest) -> AuthorisationResponse:
        self.requests.append(request)
        return AuthorisationResponse("00", "123456", None, stan="000001", rrn="000000000001")


class BiometricCardholder(ScriptedCardholder):
    def __init__(self, captures: list[BiometricCapture], types=frozenset({8, 9})) -> None:
        super().__init__("1234", online_pin_encryptor=SoftPinPad().encrypt_online_pin)
        self.captures = list(captures)
        self.types = types
        self.requests: list[BiometricRequest] = []

    def biometric_types(self) -> frozenset[int]:
        return frozenset(self.types)

    def capture_biometric(self, request: BiometricRequest) -> BiometricCapture:
        self.requests.append(request)
        return self.captures.pop(0)


def finger(finger_id: str) -> BiometricCapture:
    return BiometricCapture(BiometricCaptureStatus.CAPTURED, template=lib.capture_sample(finger_id))


def run(profile: str, cardholder, *, biometric_capability: bool = True):
    config = default_terminal_config()
    if biometric_capability:
        caps = bytearray(config.terminal_capabilities)
        caps[1] |= 0x04
        config = replace(config, terminal_capabilities=bytes(caps))
    card = load_card(profile)
    issuer = ApprovingIssuer()
    kernel = ContactKernel(
        config, cardholder, issuer, FixedClock(datetime(2026, 11, 24, 12, 0)), Random()
    )
    params = TransactionParameters(amount_minor=1234, currency_numeric=826, currency_alpha="GBP")
    result = kernel.run(InProcessReader(card), params)
    return result, card, issuer


def tvr(result) -> bytes:
    return bytes.fromhex(result.tvr)


def test_chained_verify_carries_a_7f2e_template() -> None:
    commands = verify_commands(bytes(512))
    assert [c.cla for c in commands] == [0x10, 0x10, 0x00]
    assert all((c.ins, c.p1, c.p2) == (0x21, 0x00, 0x91) for c in commands)
    data = b"".join(c.data for c in commands)
    assert data[:9] == bytes.fromhex("7F2E820204 81820200")
    assert len(data) == 9 + 512 and all(len(c.to_bytes()) <= 5 + 255 for c in commands)


def test_offline_finger_match() -> None:
    holder = BiometricCardholder([finger("1")])
    result, card, _ = run("bio_finger_offline", holder)
    assert result.outcome is Outcome.APPROVED, result.reason
    assert result.cvm_results == "480302"  # finger offline, if supported, successful
    assert tvr(result)[1] & 0x04  # byte 2 b3: biometric performed and successful
    assert tvr(result)[2] == 0x00
    assert holder.requests[0].online is False and holder.pin_prompts == 0
    assert "PRESENT_FINGER" in holder.messages
    assert card_biometric.state(card).try_counter == 3


def test_offline_non_matching_finger_exhausts_tries_then_falls_back_to_online_pin() -> None:
    holder = BiometricCardholder([finger("2"), finger("2"), finger("2")])
    result, card, issuer = run("bio_finger_offline", holder)
    assert result.outcome is Outcome.APPROVED
    assert [r.attempt for r in holder.requests] == [1, 2, 3]
    assert holder.messages.count("TRY_AGAIN") == 2
    assert tvr(result)[3] & 0x04  # byte 4 b3: biometric try limit exceeded
    assert not tvr(result)[1] & 0x04
    assert tvr(result)[2] == 0x04  # byte 3: online PIN entered (the next CVM)
    assert result.cvm_results == "420300"
    assert issuer.requests[0].online_pin is not None
    assert card_biometric.state(card).try_counter == 0


@pytest.mark.parametrize(
    ("status", "byte", "mask"),
    [
        (BiometricCaptureStatus.CAPTURE_FAILED, 2, 0x02),
        (BiometricCaptureStatus.BYPASSED, 2, 0x01),
        (BiometricCaptureStatus.TYPE_NOT_SUPPORTED, 3, 0x02),
    ],
)
def test_capture_problems_set_their_bit_and_fall_back(status, byte: int, mask: int) -> None:
    holder = BiometricCardholder([BiometricCapture(status)])
    result, _, _ = run("bio_finger_offline", holder)
    assert tvr(result)[byte] & mask
    assert result.cvm_results == "420300"
    assert result.outcome is Outcome.APPROVED


def test_cancel_at_the_sensor_aborts() -> None:
    holder = BiometricCardholder([BiometricCapture(BiometricCaptureStatus.CANCELLED)])
    result, _, issuer = run("bio_finger_offline", holder)
    assert result.outcome is Outcome.ABORTED
    assert issuer.requests == []


def test_wrong_template_size_is_template_format_not_supported() -> None:
    holder = BiometricCardholder(
        [BiometricCapture(BiometricCaptureStatus.CAPTURED, template=bytes(100))]
    )
    result, _, _ = run("bio_finger_offline", holder)
    assert tvr(result)[1] & 0x02  # byte 2 b2: biometric template format not supported
    assert result.cvm_results == "420300"


def test_no_sensor_and_condition_always_is_type_not_supported() -> None:
    cardholder = ScriptedCardholder("1234", online_pin_encryptor=SoftPinPad().encrypt_online_pin)
    result, _, _ = run("bio_card_no_sensor", cardholder, biometric_capability=False)
    assert tvr(result)[3] & 0x02  # byte 4 b2: biometric type not supported
    assert tvr(result)[2] == 0x04
    assert result.cvm_results == "420300"


def test_condition_if_supported_skips_silently_without_capability() -> None:
    holder = BiometricCardholder([finger("1")])
    result, _, _ = run("bio_finger_offline", holder, biometric_capability=False)
    assert holder.requests == []
    assert tvr(result)[1] & 0x06 == 0 and tvr(result)[3] & 0x06 == 0
    assert result.cvm_results == "420300"


def test_online_finger_hands_the_sealed_block_to_the_authorisation() -> None:
    sealed = b"\x01" + bytes(200)
    holder = BiometricCardholder(
        [BiometricCapture(BiometricCaptureStatus.CAPTURED, sealed_for_issuer=sealed)]
    )
    result, _, issuer = run("bio_finger_online", holder)
    assert result.cvm_results == "490300"  # finger online, result unknown (issuer decides)
    assert holder.requests[0].online is True
    assert issuer.requests[0].biometric_block == sealed
    assert issuer.requests[0].online_pin is None
    assert tvr(result)[1] & 0x06 == 0 and tvr(result)[2] == 0 and tvr(result)[3] & 0x06 == 0
    assert "biometric" not in repr(issuer.requests[0]).lower()  # never in a repr or a log
