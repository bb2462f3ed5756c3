"""An in-process card reader: implements :class:`emv.ports.CardTransport` over a simulated
card object (anything with ``.atr``, ``.power_on()`` and ``.process(apdu)``).

It stands in for a PC/SC or NFC reader in tests and in ``pos pay`` without hardware.
Card removal is simulated at a chosen APDU: that exchange and every later one raise
:class:`emv.errors.CardRemovedError` until :meth:`insert` is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from emv.errors import CardRemovedError, CardTransportError


class SimulatedCard(Protocol):
    atr: bytes

    def power_on(self) -> None: ...

    def process(self, apdu: bytes) -> bytes: ...


class InProcessReader:
    """A reader with one card in it; ``exchanges`` counts the APDUs sent since insertion."""

    def __init__(
        self,
        card: SimulatedCard,
        *,
        remove_at_apdu: int | None = None,
        delay_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if remove_at_apdu is None:
            faults = getattr(card, "faults", None)
            remove_at_apdu = getattr(faults, "remove_at_apdu", None)
        if remove_at_apdu is not None and remove_at_apdu < 1:
            raise ValueError("remove_at_apdu counts APDUs from 1")
        self.card = card
        self.remove_at_apdu = remove_at_apdu
        self.delay_s = delay_s
        self._sleep = sleep
        self.exchanges = 0
        self.present = True
        card.power_on()

    @property
    def atr(self) -> bytes:
        if not self.present:
            raise CardRemovedError("no card in the reader")
        return self.card.atr

    def remove(self) -> None:
        """Take the card out (the next transmit raises CardRemovedError)."""
        self.present = False

    def insert(self, card: SimulatedCard | None = None) -> None:
        """Put a card (the same one by default) back in: cold reset, counters restart."""
        if card is not None:
            self.card = card
        self.present = True
        self.exchanges = 0
        self.remove_at_apdu = None
        self.card.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        if not self.present:
            raise CardRemovedError("the card was removed from the reader")
        self.exchanges += 1
        if self.remove_at_apdu is not None and self.exchanges >= self.remove_at_apdu:
            self.present = False
            raise CardRemovedError("the card was removed from the reader")
        if self.delay_s:
            self._sleep(self.delay_s)
        try:
            response = self.card.process(bytes(apdu))
        except Exception as exc:  # a simulator bug must not look like a card answer
            raise CardTransportError(f"the simulated card failed: {exc}") from exc
        return bytes(response)
