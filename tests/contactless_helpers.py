"""Shared helpers for the contactless tests (not a test module)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path

from emv.capk import CapkStore
from emv.contactless.config import ContactlessConfig, default_config
from emv.contactless.entry_point import EntryPoint, Transaction
from emv.contactless.outcome import ContactlessResult, UiMessage
from emv.ports import CardTransport, FixedClock

WHEN = datetime(2026, 11, 24, 12, 0, 0)
USD = 840
TEST_CAPK_FILE = Path(str(resources.files("hardware_sim.data.pki").joinpath("test_capk.json")))


@cache
def sim_capks() -> CapkStore:
    """The packaged CA keys plus the TEST-ONLY CA keys of the simulated cards."""
    return CapkStore.load(extra_files=[TEST_CAPK_FILE])


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
        sim_capks(),
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
