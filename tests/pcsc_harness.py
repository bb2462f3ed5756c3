"""Shared PC/SC test harness: ONE pcscd per test worker, vpcd cards, presence waits.

Import the fixtures into a test module (or register them in conftest.py)::

    from tests.pcsc_harness import pcsc_daemon, vpcd_slot  # noqa: F401

and group the tests with ``@pytest.mark.xdist_group("pcscd")``.

The daemon is private (own mount namespace, socket through ``PCSCLITE_CSOCK_NAME``) when the
tests run as root, so it never collides with a system pcscd or with another worker.  Its vpcd
slots use a free port pair in 24000-24999 (away from the packaged 35963/35964, and below the
ephemeral range).  Card insertion and removal are awaited through pcscd's own status (``SCardGetStatusChange``), never
with fixed sleeps, and with generous timeouts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hardware_sim.pcscd import PcscDaemon, wait_card_presence
from hardware_sim.vpcd import VpcdCardConnector

READER_NAME = "POS Sim"
PRESENCE_TIMEOUT = 15.0  # pcscd sees vpcd insertion in ~0.25 s, removal in ~0.4 s

TINY_AID = bytes.fromhex("A0000000031010")


@dataclass
class TinyCard:
    """A small in-test ISO 7816-4 card (independent of hardware_sim.card).

    * SELECT by name of :data:`TINY_AID` -> FCI ``6F .. 84 AID A5 (50 label)`` 9000;
      another AID -> 6A82.
    * ``80 CA 9F 36``: GET DATA ATC answered the T=0 way: ``61 05`` then GET RESPONSE
      with Le=05 returns ``9F36 02 00 2A`` 9000.
    * ``80 CA 9F 17 00``: wrong Le -> ``6C 04``, then Le=04 returns ``9F17 01 03`` 9000.
    * ``00 EE ..``: echoes the command data with 9000.
    * Anything else -> 6D00 (INS not supported).
    """

    atr: bytes = bytes.fromhex("3B80800101")
    power_ons: int = 0
    commands: list[bytes] = field(default_factory=list)
    _pending: bytes = b""

    def power_on(self) -> None:
        self.power_ons += 1
        self._pending = b""

    @staticmethod
    def fci() -> bytes:
        label = b"TINY CREDIT"
        a5 = bytes([0x50, len(label)]) + label
        inner = bytes([0x84, len(TINY_AID)]) + TINY_AID + bytes([0xA5, len(a5)]) + a5
        return bytes([0x6F, len(inner)]) + inner

    def process(self, apdu: bytes) -> bytes:
        self.commands.append(apdu)
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        data, le = split_body(apdu[4:])
        if ins == 0xA4 and p1 == 0x04:
            return self.fci() + b"\x90\x00" if data == TINY_AID else b"\x6a\x82"
        if ins == 0xCA and (p1, p2) == (0x9F, 0x36):
            self._pending = bytes.fromhex("9F3602002A")
            return bytes([0x61, len(self._pending)])
        if ins == 0xCA and (p1, p2) == (0x9F, 0x17):
            value = bytes.fromhex("9F170103")
            if le != len(value):
                return bytes([0x6C, len(value)])
            return value + b"\x90\x00"
        if ins == 0xC0 and self._pending:
            out, self._pending = self._pending, b""
            return out + b"\x90\x00"
        if ins == 0xEE:
            return data + b"\x90\x00"
        return b"\x6d\x00"


def split_body(body: bytes) -> tuple[bytes, int | None]:
    """Data and Le of a short command APDU body (ISO/IEC 7816-4 5.1, cases 1-4)."""
    if not body:
        return b"", None
    if len(body) == 1:
        return b"", body[0]
    data = body[1 : 1 + body[0]]
    return data, (body[-1] if len(body) == 2 + body[0] else None)


_shared: PcscDaemon | None = None
_users = 0


@pytest.fixture(scope="session")
def pcsc_daemon() -> Iterator[PcscDaemon]:
    """One pcscd with the 'POS Sim 00 00' / 'POS Sim 00 01' vpcd reader per test process.

    Several modules may each expose this fixture (``pcsc_daemon = pcsc_harness.pcsc_daemon``);
    pytest then builds it once per module, so the daemon itself is a process-wide singleton
    stopped when its last user is torn down.
    """
    global _shared, _users
    if _shared is None:
        daemon = PcscDaemon(READER_NAME, 0)  # 0: reserve a free port pair under a lock
        daemon.start(timeout=30)
        _shared = daemon
    _users += 1
    try:
        yield _shared
    finally:
        _users -= 1
        if _users == 0 and _shared is not None:
            _shared.stop()
            _shared = None


@dataclass
class VpcdSlot:
    """Inserts/removes cards in one reader slot of the session daemon."""

    daemon: PcscDaemon
    slot: int = 0
    connectors: list[VpcdCardConnector] = field(default_factory=list)

    @property
    def reader(self) -> str:
        return self.daemon.reader_names[self.slot]

    def insert(self, card: Any, **options: Any) -> VpcdCardConnector:
        """Insert ``card`` and return once pcscd reports it present."""
        connector = VpcdCardConnector(card, port=self.daemon.slot_port(self.slot), **options)
        connector.insert()
        self.connectors.append(connector)
        wait_card_presence(self.reader, True, PRESENCE_TIMEOUT)
        return connector

    def remove(self, connector: VpcdCardConnector | None = None) -> None:
        """Remove the card and return once pcscd reports the slot empty."""
        targets = [connector] if connector is not None else list(self.connectors)
        for target in targets:
            target.remove()
            if target in self.connectors:
                self.connectors.remove(target)
        wait_card_presence(self.reader, False, PRESENCE_TIMEOUT)


@pytest.fixture
def vpcd_slot(pcsc_daemon: PcscDaemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[VpcdSlot]:
    """Slot 0 of the session reader; every card still inserted is removed afterwards.

    A pulled card must read as removed, not as a link error, however slowly a loaded
    machine's pcscd notices: the reader's removal settle time gets the presence timeout.
    """
    from terminal.readers import pcsc as pcsc_reader

    monkeypatch.setattr(pcsc_reader, "REMOVAL_SETTLE_SECONDS", PRESENCE_TIMEOUT)
    slot = VpcdSlot(pcsc_daemon)
    try:
        yield slot
    finally:
        slot.remove()
