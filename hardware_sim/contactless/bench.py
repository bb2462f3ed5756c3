"""Tap benchmark: how long a card must stay in the field, and how much of that is ours.

``bench_tap(profile, n)`` runs ``n`` purchases of the profile's scenario amount through
Entry Point and the kernels and measures, per tap, from the first command sent to the
card until the "Card read OK - remove card" UI request (Book A 9.2: the figure that
matters to the cardholder):

* ``tap_ms``      - the card-in-field time;
* ``terminal_ms`` - the part spent in the terminal, i.e. outside ``transport.transmit``
  (so it excludes the card and the link, whatever the transport is);
* ``outcome_ms``  - first command to the outcome, including the offline data
  authentication the terminal does after the card may leave.

By default the card is called in-process; pass ``transport_factory`` to measure the same
taps over another link (nfcpy UDP, pcscd/vpcd).  This is a command-line benchmark, never
a timed test.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from emv.capk import CapkStore
from emv.contactless.config import ContactlessConfig, default_config
from emv.contactless.entry_point import EntryPoint, Transaction
from emv.contactless.outcome import ContactlessResult, UiMessage
from emv.ports import CardTransport, FixedClock, Message, SystemRandom
from hardware_sim.contactless import (
    CardField,
    InProcessTransport,
    load_contactless_card,
    load_profile,
)
from hardware_sim.contactless.card import ContactlessCard

TEST_CAPK_FILE = resources.files("hardware_sim.data.pki").joinpath("test_capk.json")


@dataclass(frozen=True)
class TapBenchmark:
    profile: str
    taps: int
    outcome: str
    apdu_count: int
    median_tap_ms: float
    median_terminal_ms: float
    max_tap_ms: float
    median_outcome_ms: float  # first command to the kernel's outcome (incl. offline ODA)


class _TimedTransport:
    """Wraps a transport and adds up the time spent inside ``transmit``."""

    def __init__(self, inner: CardTransport) -> None:
        self.inner = inner
        self.first: float | None = None
        self.in_card = 0.0

    def transmit(self, apdu: bytes) -> bytes:
        start = time.perf_counter()
        if self.first is None:
            self.first = start
        try:
            return self.inner.transmit(apdu)
        finally:
            self.in_card += time.perf_counter() - start


def bench_tap(
    profile: str,
    n: int = 200,
    transport_factory: Callable[[ContactlessCard | CardField], CardTransport] | None = None,
    config: ContactlessConfig | None = None,
) -> TapBenchmark:
    if n < 1:
        raise ValueError("the benchmark needs at least one tap")
    amount = int(load_profile(profile)["scenario_amount"])
    capks = CapkStore.load(extra_files=[Path(str(TEST_CAPK_FILE))])
    card = load_contactless_card(profile)  # personalised once, outside the timing
    factory = transport_factory or (lambda c: InProcessTransport(c))
    taps: list[float] = []
    terminal: list[float] = []
    outcome: list[float] = []
    last: ContactlessResult | None = None
    for _ in range(n):
        marks: list[float] = []

        def on_ui(message: UiMessage, marks: list[float] = marks) -> None:
            if message is Message.CARD_READ_OK and not marks:
                marks.append(time.perf_counter())

        ep = EntryPoint(
            config or default_config(),
            capks,
            FixedClock(datetime.now()),
            SystemRandom(),
            on_ui=on_ui,
        )
        timed = _TimedTransport(factory(card))
        early = ep.start(Transaction(amount, 840))
        result = early or ep.tap(timed)
        done = time.perf_counter()
        end = marks[0] if marks else done
        if timed.first is not None:
            outcome.append((done - timed.first) * 1000)
            taps.append((end - timed.first) * 1000)
            terminal.append((end - timed.first - timed.in_card) * 1000)
        if isinstance(card, ContactlessCard):
            card.power_on()  # the card leaves and comes back for the next tap
        last = result
    assert last is not None  # noqa: S101 - n >= 1
    return TapBenchmark(
        profile=profile,
        taps=n,
        outcome=last.outcome.value,
        apdu_count=last.apdu_count,
        median_tap_ms=statistics.median(taps) if taps else 0.0,
        median_terminal_ms=statistics.median(terminal) if terminal else 0.0,
        max_tap_ms=max(taps) if taps else 0.0,
        median_outcome_ms=statistics.median(outcome) if outcome else 0.0,
    )


def main() -> None:  # pragma: no cover - manual benchmark entry point
    import sys

    names = sys.argv[1:] or ["visa_qvsdc", "mastercard"]
    for name in names:
        print(bench_tap(name))


if __name__ == "__main__":  # pragma: no cover
    main()
