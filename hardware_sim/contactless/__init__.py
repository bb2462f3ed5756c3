"""Simulated contactless cards and phones, described by JSON profiles in ``profiles/``.

``list_contactless_profiles()`` names them; ``load_contactless_card(name)`` builds a fresh
applet (or, for a collision scenario, a :class:`CardField` holding several cards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from emv.contactless.outcome import MultipleCardsError
from emv.errors import CardRemovedError
from hardware_sim.contactless.card import ContactlessCard


class UnknownProfileError(KeyError, ValueError):
    """No contactless card profile with that name.  A KeyError, as the contact profiles'
    lookup raises, so callers that turn an unknown name into a usage error catch both."""


def _profile_files() -> dict[str, Any]:
    folder = resources.files("hardware_sim.contactless.profiles")
    return {
        entry.name.removesuffix(".json"): entry
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def list_contactless_profiles() -> list[str]:
    return sorted(_profile_files())


def load_profile(name: str) -> dict[str, Any]:
    files = _profile_files()
    if name not in files:
        raise UnknownProfileError(
            f"no contactless card profile {name!r}; choose one of: " + ", ".join(sorted(files))
        )
    data: dict[str, Any] = json.loads(files[name].read_text())
    return data


@dataclass
class CardField:
    """Several cards in the reader's field at once: every exchange is a collision."""

    cards: list[ContactlessCard]
    atr: bytes = b""

    def power_on(self) -> bytes:
        raise MultipleCardsError()

    def process(self, apdu: bytes) -> bytes:
        raise MultipleCardsError()


def load_contactless_card(name: str) -> ContactlessCard | CardField:
    profile = load_profile(name)
    if "collision" in profile:
        return CardField([ContactlessCard(load_profile(n)) for n in profile["collision"]])
    return ContactlessCard(profile)


@dataclass
class InProcessTransport:
    """A ``CardTransport`` that calls the applet directly (tests, benchmarks, demo).

    ``tear_on`` = (INS, occurrence) makes the card leave the field when that command is
    sent for the occurrence-th time (torn transaction); ``present`` False means no card.
    """

    card: ContactlessCard | CardField
    tear_on: tuple[int, int] | None = None
    present: bool = True
    sent: dict[int, int] = field(default_factory=dict)
    powered: bool = False

    def transmit(self, apdu: bytes) -> bytes:
        if not self.present:
            raise CardRemovedError("the card left the field")
        if not self.powered:
            self.card.power_on()
            self.powered = True
        ins = apdu[1] if len(apdu) > 1 else -1
        self.sent[ins] = self.sent.get(ins, 0) + 1
        if self.tear_on is not None and self.tear_on == (ins, self.sent[ins]):
            self.present = False
            raise CardRemovedError("the card left the field")
        return self.card.process(apdu)

    def retap(self) -> None:
        """The card leaves and comes back into the field (power cycle)."""
        self.present = True
        self.powered = False
        self.tear_on = None
        self.sent.clear()
