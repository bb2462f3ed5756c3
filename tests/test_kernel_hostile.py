"""Hostile and broken cards never crash the kernel (EMV Book 3: terminate the transaction).

A real simulated card answers, but hypothesis replaces, truncates or corrupts the response
to one chosen APDU.  Every run must end approved, declined or aborted with a reason.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emv.config import default_terminal_config
from emv.kernel.contact import ContactKernel
from emv.kernel.context import Outcome, TransactionParameters
from emv.ports import FixedClock
from hardware_sim.card import load_card
from terminal.cardholder import ScriptedCardholder
from terminal.oda import cda_verifier, oda_engine
from terminal.runtime import DeterministicRandom


class HostileTransport:
    def __init__(self, card: object, target: int, mutate: object) -> None:
        self.card = card
        self.target = target
        self.mutate = mutate
        self.count = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        response = self.card.process(apdu)  # type: ignore[attr-defined]
        if self.count == self.target:
            return self.mutate(response)  # type: ignore[operator]
        return response


def _run(profile: str, target: int, mutate: object) -> None:
    card = load_card(profile)
    kernel = ContactKernel(
        default_terminal_config(),
        ScriptedCardholder(card.test_pin),
        None,
        FixedClock(datetime(2026, 11, 24, 10, 30)),
        DeterministicRandom(b"\x01\x02\x03\x04"),
        oda_engine=oda_engine(simulated=True),
        cda_verifier=cda_verifier,
    )
    result = kernel.run(HostileTransport(card, target, mutate), TransactionParameters(999, 978))
    assert result.outcome in (Outcome.APPROVED, Outcome.DECLINED, Outcome.ABORTED)
    assert result.reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profile=st.sampled_from(["visa_credit", "sda_legacy", "mc_debit", "two_apps"]),
    target=st.integers(min_value=1, max_value=20),
    junk=st.binary(max_size=64),
)
def test_replaced_response_never_crashes(profile: str, target: int, junk: bytes) -> None:
    _run(profile, target, lambda _response: junk)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profile=st.sampled_from(["visa_credit", "sda_legacy", "dda_card"]),
    target=st.integers(min_value=1, max_value=20),
    position=st.integers(min_value=0, max_value=300),
    flip=st.integers(min_value=1, max_value=255),
    cut=st.booleans(),
)
def test_corrupted_or_truncated_response_never_crashes(
    profile: str, target: int, position: int, flip: int, cut: bool
) -> None:
    def mutate(response: bytes) -> bytes:
        if not response:
            return response
        index = position % len(response)
        if cut:
            return response[:index]
        return response[:index] + bytes([response[index] ^ flip]) + response[index + 1 :]

    _run(profile, target, mutate)
