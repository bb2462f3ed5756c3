"""Garbled or hostile card answers never crash a tap: every one ends in an Outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emv.contactless.outcome import ContactlessResult, OutcomeStatus
from hardware_sim.contactless import load_contactless_card
from hardware_sim.contactless.card import ContactlessCard
from tests.contactless_helpers import tap_once

PROFILES = ["visa_qvsdc", "mastercard", "visa_phone", "mastercard_phone"]
_CARDS: dict[str, ContactlessCard] = {}


def card(name: str) -> ContactlessCard:
    if name not in _CARDS:  # personalising costs RSA signatures: do it once per profile
        loaded = load_contactless_card(name)
        assert isinstance(loaded, ContactlessCard)
        _CARDS[name] = loaded
    found = _CARDS[name]
    found.power_on()
    return found


@dataclass
class Garble:
    """Damages the response to the n-th command: flip, truncate, extend or replace it."""

    inner: ContactlessCard
    target: int
    mode: str
    position: int
    junk: bytes
    count: int = field(default=0)

    def transmit(self, apdu: bytes) -> bytes:
        response = self.inner.process(apdu)
        self.count += 1
        if self.count != self.target:
            return response
        if self.mode == "flip" and len(response) > 2:
            i = self.position % (len(response) - 2)
            return response[:i] + bytes([response[i] ^ 0xFF]) + response[i + 1 :]
        if self.mode == "truncate":
            return response[: self.position % max(len(response), 1)]
        if self.mode == "extend":
            return response[:-2] + self.junk + response[-2:]
        return self.junk + b"\x90\x00"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(PROFILES),
    target=st.integers(1, 7),
    mode=st.sampled_from(["flip", "truncate", "extend", "replace"]),
    position=st.integers(0, 400),
    junk=st.binary(max_size=40),
    amount=st.sampled_from([0, 1500, 3000, 8000]),
)
def test_any_damaged_response_gives_an_outcome(
    name: str, target: int, mode: str, position: int, junk: bytes, amount: int
) -> None:
    result, _ = tap_once(Garble(card(name), target, mode, position, junk), amount)
    assert isinstance(result, ContactlessResult)
    assert isinstance(result.outcome, OutcomeStatus)
    if result.outcome in (OutcomeStatus.END_APPLICATION, OutcomeStatus.TRY_AGAIN):
        assert result.reason  # one sentence saying why
    if result.authorisation is not None:
        assert result.outcome in (OutcomeStatus.APPROVED, OutcomeStatus.ONLINE_REQUEST)
