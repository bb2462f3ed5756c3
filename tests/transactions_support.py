"""Shared pieces for tests/test_transactions_*.py: a terminal wired like ``pos`` wires it
(durable SAF store, STAN file, journal, sealed batch) against a host simulator on loopback."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from acquirer_client.client import AcquirerClient
from acquirer_client.link import LinkConfig
from acquirer_client.messages import TerminalIdentity
from acquirer_client.saf import SafStore
from emv.config import AidConfig
from emv.kernel.context import TransactionType
from emv.ports import FixedClock
from hardware_sim.card import load_card
from hardware_sim.reader import InProcessReader
from terminal.batch import Batch
from terminal.cardholder import ScriptedCardholder
from terminal.config import Settings, load_settings
from terminal.datakey import load_or_create
from terminal.hostlink import StanAllocator
from terminal.journal import Journal
from terminal.money import currency
from terminal.oda import cda_verifier, oda_engine
from terminal.operators import Approval
from terminal.runtime import DeterministicRandom
from terminal.service import PaymentOutcome, PaymentRequest, PaymentService

WHEN = datetime(2026, 11, 24, 10, 30)
SUPERVISOR_REFUND = Approval("supervisor", "refund")
SUPERVISOR_VOID = Approval("supervisor", "void")


def offline_settings() -> Settings:
    """Visa floor limit 50.00 so an unreachable host turns into an offline approval (Y3)."""
    settings = load_settings(None)
    visa = AidConfig(
        bytes.fromhex("A0000000031010"), "VISA", application_version=b"\x00\x96", floor_limit=5000
    )
    others = tuple(a for a in settings.emv.aids if a.aid != visa.aid)
    return replace(settings, emv=replace(settings.emv, aids=(visa, *others)))


@dataclass
class Terminal:
    """One terminal's durable state in ``base`` and its link to a host."""

    base: Path
    link: LinkConfig
    settings: Settings

    def __post_init__(self) -> None:
        self.journal = Journal(self.base / "journal.sqlite")
        key = load_or_create(self.base / "keys" / "data.key")
        self.store = SafStore(self.base / "saf.sqlite", data_key=key)
        self.batch = Batch(self.base / "batch.sqlite", key)
        identity = TerminalIdentity(
            self.settings.emv.terminal_id, self.settings.emv.merchant_id, "000000"
        )
        self.client = AcquirerClient(
            self.link,
            identity,
            StanAllocator(self.base / "stan"),
            clock=FixedClock(WHEN),
            reversals=self.store,
            advices=self.store,
        )
        self.service = PaymentService(
            self.settings,
            self.journal,
            self.client,
            clock=FixedClock(WHEN),
            random=DeterministicRandom(bytes.fromhex("1A2B3C4D")),
            oda_engine=oda_engine(simulated=True),
            cda_verifier=cda_verifier,
            batch=self.batch,
        )

    def sale(
        self,
        amount: int,
        profile: str = "visa_credit",
        cur: str = "EUR",
        kind: TransactionType = TransactionType.PURCHASE,
        approval: Approval | None = None,
        preauth: bool = False,
    ) -> PaymentOutcome:
        card = load_card(profile)
        return self.service.pay(
            PaymentRequest(amount, currency(cur), kind),
            InProcessReader(card),
            ScriptedCardholder(card.test_pin),
            approval=approval,
            kind="preauth" if preauth else "",
        )

    def close(self) -> None:
        self.client.close()
        self.journal.close()
        self.batch.close()
        self.store.close()
