"""Money stays consistent through crashes and network faults: every host approval ends
completed or reversed, and the terminal journal agrees with the host ledger to the cent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from acquirer_client.client import AcquirerClient
from acquirer_client.messages import TerminalIdentity
from acquirer_client.saf import SafStore
from emv.ports import FixedClock
from hardware_sim.card import load_card
from hardware_sim.host import HostSimulator, embedded_host
from hardware_sim.reader import InProcessReader
from terminal.cardholder import ScriptedCardholder
from terminal.config import load_settings
from terminal.datakey import load_or_create
from terminal.hostlink import StanAllocator
from terminal.journal import Journal
from terminal.money import currency
from terminal.oda import cda_verifier, oda_engine
from terminal.recovery import recover
from terminal.runtime import DeterministicRandom
from terminal.service import PaymentRequest, PaymentService

WHEN = datetime(2026, 11, 24, 10, 30)


class SimulatedCrash(BaseException):
    """Stands for a power cut: nothing in the terminal catches it."""


class CrashingReader:
    def __init__(self, inner: InProcessReader, crash_on_ins: int, occurrence: int) -> None:
        self.inner = inner
        self.crash_on_ins = crash_on_ins
        self.occurrence = occurrence
        self.seen = 0

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == self.crash_on_ins:
            self.seen += 1
            if self.seen == self.occurrence:
                raise SimulatedCrash()
        return self.inner.transmit(apdu)


@pytest.fixture()
def host() -> Iterator[tuple[HostSimulator, object]]:
    with embedded_host(tls=False, read_timeout=2.0, overall_timeout=4.0) as (sim, link):
        yield sim, link


def make_client(link: object, base: Path) -> AcquirerClient:
    settings = load_settings(None)
    identity = TerminalIdentity(settings.emv.terminal_id, settings.emv.merchant_id)
    return AcquirerClient(
        link,  # type: ignore[arg-type]
        identity,
        StanAllocator(base / "stan"),
        clock=FixedClock(WHEN),
        reversals=SafStore(
            base / "saf.sqlite", data_key=load_or_create(base / "keys" / "data.key")
        ),
    )


def make_service(journal: Journal, client: AcquirerClient) -> PaymentService:
    return PaymentService(
        load_settings(None),
        journal,
        client,
        clock=FixedClock(WHEN),
        random=DeterministicRandom(bytes.fromhex("1A2B3C4D")),
        oda_engine=oda_engine(simulated=True),
        cda_verifier=cda_verifier,
    )


def test_crash_after_host_approval_is_reversed_at_start_up(
    host: tuple[HostSimulator, object], tmp_path: Path
) -> None:
    sim, link = host
    journal = Journal(tmp_path / "journal.sqlite")
    client = make_client(link, tmp_path)
    card = load_card("visa_credit")
    reader = CrashingReader(InProcessReader(card), crash_on_ins=0xAE, occurrence=2)
    with pytest.raises(SimulatedCrash):
        make_service(journal, client).pay(
            PaymentRequest(1234, currency("EUR")), reader, ScriptedCardholder(card.test_pin)
        )
    assert sim.ledger.net_charged() == 1234  # the host approved; the card never completed
    client.close()
    journal.close()

    # Restart: a new process opens the same journal and store.
    journal = Journal(tmp_path / "journal.sqlite")
    client = make_client(link, tmp_path)
    (entry,) = journal.entries()
    assert entry.status == "in doubt"
    report = recover(journal, client)
    assert report.reversals_acknowledged == [entry.txn_id]
    assert journal.entry(entry.txn_id).status == "reversed"  # type: ignore[union-attr]
    assert sim.ledger.net_charged() == 0
    assert journal.verify()[0]
    # A second recovery finds nothing left.
    assert not recover(journal, client).anything


def test_lost_answer_is_reversed_and_ledgers_agree(
    host: tuple[HostSimulator, object], tmp_path: Path
) -> None:
    sim, link = host
    journal = Journal(tmp_path / "journal.sqlite")
    client = make_client(link, tmp_path)
    sim.inject("drop_after")  # the host approves, the answer never arrives
    card = load_card("visa_credit")
    outcome = make_service(journal, client).pay(
        PaymentRequest(500, currency("EUR")), InProcessReader(card), ScriptedCardholder("1234")
    )
    assert outcome.result.unable_to_go_online
    assert outcome.result.outcome.value == "declined"  # default action codes: AAC
    assert outcome.reversal == "acknowledged"
    assert journal.entry(outcome.txn_id).status == "reversed"  # type: ignore[union-attr]
    assert sim.ledger.net_charged() == 0


class CorruptArpc:
    """Passes everything to the real client but flips a bit of the ARPC on the way back."""

    def __init__(self, inner: AcquirerClient) -> None:
        self.inner = inner
        self.stan_source = inner.stan_source
        self.reversals = inner.reversals

    @property
    def last_request(self) -> object:
        return self.inner.last_request

    def authorise(self, request: object) -> object:
        from dataclasses import replace

        response = self.inner.authorise(request)  # type: ignore[arg-type]
        data = response.issuer_authentication_data or b""
        return replace(response, issuer_authentication_data=bytes([data[0] ^ 1]) + data[1:])

    def reverse_last(self) -> None:
        self.inner.reverse_last()

    def send_due_reversals(self) -> int:
        return self.inner.send_due_reversals()


def test_card_decline_after_host_approval_is_reversed(
    host: tuple[HostSimulator, object], tmp_path: Path
) -> None:
    sim, link = host
    journal = Journal(tmp_path / "journal.sqlite")
    client = CorruptArpc(make_client(link, tmp_path))
    card = load_card("visa_credit")
    outcome = make_service(journal, client).pay(  # type: ignore[arg-type]
        PaymentRequest(700, currency("EUR")), InProcessReader(card), ScriptedCardholder("1234")
    )
    result = outcome.result
    assert result.host_approved
    assert result.outcome.value == "declined" and result.cryptogram_type == "AAC"
    assert result.tvr[8:10] == "40"  # TVR byte 5 b7: issuer authentication failed
    assert outcome.reversal == "acknowledged"
    assert journal.entry(outcome.txn_id).status == "reversed"  # type: ignore[union-attr]
    assert sim.ledger.net_charged() == 0


def test_approved_sale_matches_the_ledger(
    host: tuple[HostSimulator, object], tmp_path: Path
) -> None:
    sim, link = host
    journal = Journal(tmp_path / "journal.sqlite")
    client = make_client(link, tmp_path)
    service = make_service(journal, client)
    total = 0
    for amount in (100, 250, 999):
        card = load_card("visa_credit")
        outcome = service.pay(
            PaymentRequest(amount, currency("EUR")),
            InProcessReader(card),
            ScriptedCardholder("1234"),
        )
        assert outcome.approved
        total += amount
    approved = sum(e.data["amount"] for e in journal.entries() if e.status == "approved")
    assert approved == total == sim.ledger.net_charged()


def offline_service(journal: Journal, client: AcquirerClient) -> PaymentService:
    from dataclasses import replace

    from emv.config import AidConfig

    settings = load_settings(None)
    visa = AidConfig(
        bytes.fromhex("A0000000031010"), "VISA", application_version=b"\x00\x96", floor_limit=5000
    )
    settings = replace(settings, emv=replace(settings.emv, aids=(visa,)))
    return PaymentService(
        settings,
        journal,
        client,
        clock=FixedClock(WHEN),
        random=DeterministicRandom(bytes.fromhex("1A2B3C4D")),
        oda_engine=oda_engine(simulated=True),
        cda_verifier=cda_verifier,
    )


def test_offline_approval_reaches_the_host_as_an_advice_after_an_outage(
    tmp_path: Path,
) -> None:
    with embedded_host(tls=False) as (sim, link):
        port = link.port
    # The host is down: the card approves offline under the floor limit, the advice waits.
    journal = Journal(tmp_path / "journal.sqlite")
    client = make_client(link, tmp_path)
    client.advices = client.reversals  # the same durable SAF store
    card = load_card("sda_legacy")
    outcome = offline_service(journal, client).pay(
        PaymentRequest(999, currency("EUR")),
        InProcessReader(card),
        ScriptedCardholder(["4321"] * 3),  # three wrong PINs: the PIN try limit is exceeded
    )
    # The card asks to go online; unable to, the default action codes approve (Y3).
    assert outcome.approved, outcome.result.reason
    assert outcome.result.unable_to_go_online
    assert outcome.result.authorisation_response_code == "Y3"
    assert outcome.extra["advice"] == "queued"
    assert len(client.reversals.advices()) == 1  # type: ignore[attr-defined]
    client.close()
    # The host is back on the same port: recovery forwards the advice exactly once.
    from hardware_sim.host import HostConfig

    config = HostConfig()
    config.host, config.port = "127.0.0.1", port
    with HostSimulator(config) as host_again:
        client = make_client(link, tmp_path)
        client.advices = client.reversals
        report = recover(journal, client)
        assert report.advices_sent == 1
        assert host_again.ledger.net_charged() == 999
        assert not recover(journal, client).anything
    assert "advice_sent" in journal.entry(outcome.txn_id).kinds  # type: ignore[union-attr]
