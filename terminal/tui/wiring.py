"""The objects one terminal session needs, built once: settings, journal, host link, ODA,
PIN pad and card readers.

``pos pay`` builds the same pieces for a single run; :func:`build_payment_service` is the
shared part (the service with offline data authentication wired for real or simulated
cards).  :class:`TerminalSession` keeps the host link open across sales and opens it
lazily, off the UI thread, so the cashier screen appears at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emv.ports import CardTransport, OnlinePin
from terminal.config import Settings

if TYPE_CHECKING:  # the kernel and the journal load with the first payment, not at start
    from terminal.journal import Journal
    from terminal.service import PaymentService

SIM_READER = "sim"  # a simulated chip card inserted in an in-process reader
SIM_TAP = "sim_tap"  # a simulated contactless card or phone tapped on an in-process field
PCSC_READER = "pcsc"

# The simulated chip cards a new user most likely wants get the number keys 1-9 first.
DEMO_FIRST = (
    "visa_credit",
    "mc_debit",
    "two_apps",
    "dda_card",
    "sda_legacy",
    "expired_card",
    "pin_blocked",
    "issuer_script",
)


@dataclass(frozen=True)
class CardSource:
    """Where the next card comes from: a simulated profile or a PC/SC reader."""

    kind: str  # SIM_READER | SIM_TAP | PCSC_READER
    name: str = ""  # profile name, or reader name ("" = first reader)
    description: str = ""

    @property
    def contactless(self) -> bool:
        return self.kind == SIM_TAP

    @property
    def label(self) -> str:
        return self.name or ("first PC/SC reader" if self.kind == PCSC_READER else "")


@dataclass(frozen=True)
class ReaderStatus:
    name: str
    live: bool
    detail: str


def build_payment_service(*args: Any, **kwargs: Any) -> PaymentService:
    """:func:`terminal.oda.build_payment_service`, imported only when a payment needs it (the
    kernel and ODA stay out of the cashier screen's start-up)."""
    from terminal.oda import build_payment_service as build

    return build(*args, **kwargs)


def simulated_cards() -> list[CardSource]:
    """The contact card simulator's profiles, in the order the cashier sees them."""
    from hardware_sim.card import list_profiles

    profiles = dict(list_profiles())
    first = [n for n in DEMO_FIRST if n in profiles]
    order = first + sorted(n for n in profiles if n not in first)
    return [CardSource(SIM_READER, n, profiles[n]) for n in order if n in profiles]


def simulated_taps() -> list[CardSource]:
    """The contactless simulator's cards and phones (EMV Book B Entry Point, C-2/C-3)."""
    from hardware_sim.contactless import list_contactless_profiles, load_profile

    out = []
    for name in list_contactless_profiles():
        description = str(load_profile(name).get("description", "")).split("\n")[0]
        out.append(CardSource(SIM_TAP, name, description))
    return out


def _load_sim_card(name: str) -> Any:
    from hardware_sim.card import load_card

    return load_card(name)


DEMO_SUPERVISOR_PIN = "9999"  # TEST-ONLY, demo mode only, shown on the supervisor PIN box


class TerminalSession:
    """Long-lived wiring for the cashier application (``pos run``).

    ``demo=True``: simulated cards, the embedded host simulator and the soft PIN pad.
    ``demo=False``: the configured PC/SC reader and host; no PIN pad is wired yet, so PIN
    CVMs report "PIN pad not present or not working" (EMV Book 3 10.5.1) honestly.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool,
        host_address: str | None = None,
        card_loader: Callable[[str], Any] = _load_sim_card,
        plain_tcp: bool = False,
        pinpad_port: str | None = None,
        fingerprint_port: str | None = None,
        finger: str | None = None,
    ) -> None:
        self.configured_supervisor = bool(settings.operators.supervisor_pin_hash)
        if demo and not settings.operators.supervisor_pin_hash:
            # TEST-ONLY: the demo ships a known supervisor PIN so refunds and voids can be tried.
            from dataclasses import replace

            from terminal.operators import OperatorSettings, hash_pin

            settings = replace(settings, operators=OperatorSettings(hash_pin(DEMO_SUPERVISOR_PIN)))
        self.settings = settings
        # Read by the QR, receipt and device screens (a command-line --printer overrides).
        self.printer: str | None = settings.printer
        self.qr_host: str | None = settings.qr_host
        self.qr_timeout: float | None = settings.qr_timeout
        self.receipt_email: str | None = settings.receipt_email
        self.demo = demo
        self.host_address = host_address or ("embedded" if demo else settings.host.address)
        self.card_loader = card_loader
        self.plain_tcp = plain_tcp
        self.pinpad_port = pinpad_port
        self.fingerprint_port = fingerprint_port
        self.finger = finger
        self.device: Any = None  # terminal.peripherals DeviceCardholder, when ports are given
        self._lock = threading.Lock()
        # Held for the whole of a payment, so closing waits until the card and the journal
        # are done with (a quit during a PIN prompt cancels it, then the kernel finishes).
        self.payment_busy = threading.Lock()
        self._stack = contextlib.ExitStack()
        self._journal: Journal | None = None
        self._service: PaymentService | None = None
        self._pinpad: Any = None
        self._capks: Any = None
        self.recovery_sentence = ""

    # -- journal and service ------------------------------------------------------------
    @property
    def journal(self) -> Journal:
        with self._lock:
            if self._journal is None:
                from terminal.journal import Journal
                from terminal.runtime import journal_path

                self._journal = Journal(journal_path(self.settings))
            return self._journal

    def service(self) -> PaymentService:
        """The payment service; the first call opens the host link (call it off the UI)."""
        journal = self.journal
        with self._lock:
            if self._service is None:
                from terminal.hostlink import open_authoriser

                authoriser = self._stack.enter_context(
                    open_authoriser(self.settings, self.host_address, plain_tcp=self.plain_tcp)
                )
                self._attach_devices()
                if authoriser is not None:
                    # Start-up recovery (issue 6): reverse in-doubt requests, send advices.
                    from terminal.recovery import start_up

                    report = start_up(journal, authoriser)
                    self.recovery_sentence = report.sentence() if report.anything else ""
                self._service = build_payment_service(
                    self.settings, journal, authoriser, simulated=self.demo
                )
            return self._service

    def _attach_devices(self) -> None:
        """Serial PIN pad / fingerprint sensor (``--pinpad``, ``--fingerprint``, ``--finger``)."""
        if not (self.pinpad_port or self.fingerprint_port or self.finger):
            return
        from argparse import Namespace

        from terminal.peripherals.wiring import attach

        ports = Namespace(
            pinpad=self.pinpad_port, fingerprint=self.fingerprint_port, finger=self.finger
        )
        device, _, self.settings = attach(ports, self._stack, None, None, self.settings)
        self.device = device

    def capk_stores(self) -> Any:
        """(CAPK store, revocation list) for contactless ODA; demo adds the TEST CAPKs."""
        with self._lock:
            if self._capks is None:
                from terminal.oda import stores

                self._capks = stores(
                    self.demo, self.settings.capk_file, self.settings.revocation_file
                )
            return self._capks

    # -- PIN pad ------------------------------------------------------------------------
    def online_pin_encryptor(self) -> Callable[[str, str], OnlinePin] | None:
        """Demo: the soft PIN pad (TEST-ONLY DUKPT keys); real mode: none wired yet."""
        if not self.demo:
            return None
        with self._lock:
            if self._pinpad is None:
                from hardware_sim.soft_pinpad import SoftPinPad

                self._pinpad = SoftPinPad()
            encryptor: Callable[[str, str], OnlinePin] = self._pinpad.encrypt_online_pin
            return encryptor

    def demo_pin_hint(self, transport: object, online: bool) -> str | None:
        """Demo only: the TEST PIN a new user should type (the card's, or the host's)."""
        if not self.demo:
            return None
        card = getattr(transport, "card", None)
        pin = getattr(card, "test_pin", None)
        if pin:
            return str(pin)  # the simulated issuer knows each card's PIN
        if online:
            from hardware_sim.host.config import default_rules

            pins = default_rules().get("pins", {})
            return str(pins.get("default")) if pins.get("default") else None
        return None

    # -- cards and readers --------------------------------------------------------------
    def card_sources(self) -> list[CardSource]:
        if self.demo:
            return simulated_cards() + simulated_taps()
        return [CardSource(PCSC_READER, "", "the card in the configured PC/SC reader")]

    def reader_status(self) -> list[ReaderStatus]:
        if self.demo:
            return [
                ReaderStatus("chip (contact)", True, "card simulator"),
                ReaderStatus("contactless", True, "card and phone simulator"),
                ReaderStatus("magnetic stripe", False, "no reader"),
            ]
        from terminal.readers.pcsc import list_pcsc_readers

        readers = list_pcsc_readers()
        if not readers:
            chip = ReaderStatus("chip (PC/SC)", False, readers.reason or "no reader")
        else:
            chip = ReaderStatus("chip (PC/SC)", True, ", ".join(readers))
        return [
            chip,
            ReaderStatus("contactless", False, "not wired into the cashier screen yet"),
            ReaderStatus("magnetic stripe", False, "no reader"),
        ]

    @contextlib.contextmanager
    def open_card(self, source: CardSource, *, timeout: float = 30.0) -> Iterator[CardTransport]:
        """Yield a transport with the card in it; PC/SC waits up to ``timeout`` for a card."""
        if source.kind == SIM_TAP:
            from hardware_sim.contactless import InProcessTransport, load_contactless_card

            yield InProcessTransport(load_contactless_card(source.name))
            return
        if source.kind == SIM_READER:
            from hardware_sim.reader import InProcessReader

            yield InProcessReader(self.card_loader(source.name))
            return
        from terminal.readers.pcsc import PcscReader

        reader = PcscReader(source.name or None, interface="contact")
        try:
            reader.wait_for_card(timeout)
            yield reader
        finally:
            reader.close()

    def close(self, *, wait_s: float = 15.0) -> None:
        idle = self.payment_busy.acquire(timeout=wait_s)
        try:
            self._close()
        finally:
            if idle:
                self.payment_busy.release()

    def _close(self) -> None:
        with self._lock:
            try:
                self._stack.close()
            finally:
                if self._journal is not None:
                    self._journal.close()
                    self._journal = None
                self._service = None
