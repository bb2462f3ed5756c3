"""Shared helpers for the contactless tests (not a test module)."""

from __future__ import annotations

from datetime import datetime

from emv.contactless.config import ContactlessConfig, default_config
from emv.contactless.entry_point import EntryPoint, Transaction
from emv.contactless.outcome import ContactlessResult, UiMessage
from emv.ports import CardTransport, FixedClock
from hardware_sim.contactless.signing import sim_capk_lookup

WHEN = datetime(2026, 11, 24, 12, 0, 0)
USD = 840


class CountingRandom:
    def __init__(self) -> None:
        self.n = 0

    def random_bytes(self, count: int) -> bytes:
        self.n += 1
        return bytes((self.n + i) & 0xFF for i in range(count))


def entry_point(config: ContactlessConfig | None = None) -> tuple[EntryPoint, list[UiMessage]]:
    shown: list[UiMessage] = []
    ep = EntryPoint(
        config or default_config(),
        sim_capk_lookup,
        FixedClock(WHEN),
        CountingRandom(),
        on_ui=shown.append,
    )
    return ep, shown


def tap_once(
    transport: CardTransport, amount: int, config: ContactlessConfig | None = None
) -> tuple[ContactlessResult, EntryPoint]:
    ep, _ = entry_point(config)
    early = ep.start(Transaction(amount, USD))
    return (early or ep.tap(transport)), ep
