"""Contact EMV card simulator: virtual cards personalised from JSON profiles.

>>> card = load_card("visa_credit")
>>> card.power_on()
>>> card.process(bytes.fromhex("00A404000E315041592E5359532E444446303100"))[-2:].hex()
'9000'

Profiles live in ``hardware_sim/profiles/<name>.json`` (TEST-ONLY data).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from hardware_sim.card.profile import ProfileError, load_profile, profile_names, raw_profile
from hardware_sim.card.virtual_card import ScriptResult, VirtualCard

__all__ = [
    "ProfileError",
    "ScriptResult",
    "VirtualCard",
    "list_profiles",
    "load_card",
]


def list_profiles() -> list[tuple[str, str]]:
    """Every built-in profile as (name, one-line description)."""
    out = []
    for name in profile_names():
        description = str(raw_profile(name).get("description", "")).split("\n")[0]
        out.append((name, description))
    return out


def load_card(
    name: str,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
    sleep: Callable[[float], None] = time.sleep,
    **overrides: Any,
) -> VirtualCard:
    """A fresh card personalised from profile ``name``.

    ``overrides`` replace profile fields: card-level ones (``pin``, ``pin_try_counter``,
    ``faults={"remove_at_apdu": 5}`` ...) or application fields applied to every application
    (``expiry="200101"``, ``atc=7`` ...).  An unknown profile raises KeyError naming the
    known ones; a bad field raises :class:`ProfileError`.
    """
    profile = load_profile(name, overrides)
    return VirtualCard(profile, random_bytes=random_bytes, sleep=sleep)
