"""The terminal's acquirer client: :class:`emv.ports.OnlineAuthoriser` over ISO 8583.

Flow for one online authorisation (EMV Book 3 10.7, ISO 8583:1987 0200/0210):

1. send any reversals still due (they go first, so the host's books are right);
2. build the 0200 and **persist its reversal as armed** before a byte is sent;
3. exchange it; a valid 0210 (same STAN and terminal id) disarms the reversal;
4. a timeout, broken connection or unreadable answer after sending makes the armed reversal
   due and raises :class:`emv.ports.OnlineUnavailable`.

:meth:`AcquirerClient.reverse_last` makes the last reversal due when the card declines after
a host approval (second GENERATE AC returned an AAC, Book 3 10.9).
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from acquirer_client import mac
from acquirer_client import messages as m
from acquirer_client.link import Connection, LinkConfig, LinkError
from acquirer_client.saf import SafError, SafStore
from emv.ports import (
    AuthorisationRequest,
    AuthorisationResponse,
    Clock,
    OnlineUnavailable,
    SystemClock,
)

log = logging.getLogger(__name__)


class HostUnreachable(OnlineUnavailable):
    """The request never left the terminal (connect, TLS or pin failure): nothing to reverse."""


class ReversalStore(Protocol):
    """Durable home of reversals (``acquirer_client.saf.SafStore`` in production)."""

    def arm(self, key: str, reversal: m.IsoDoc) -> None:
        """Record a reversal before its original is sent; not yet due."""

    def disarm(self, key: str) -> None:
        """The original got a valid answer: the armed reversal is not needed."""

    def make_due(self, key: str) -> None:
        """The original's outcome is unknown or must be undone: the reversal is due."""

    def due(self) -> list[tuple[str, m.IsoDoc]]:
        """Reversals to send, oldest first (armed ones left by a crash count as due)."""

    def acknowledged(self, key: str) -> None:
        """The host answered the reversal with a 0410: forget it."""


class MemoryReversalStore:
    """Non-durable store for tests and tools; production uses the SQLite SAF store."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, m.IsoDoc]] = {}

    def arm(self, key: str, reversal: m.IsoDoc) -> None:
        self._items[key] = ("armed", dict(reversal))

    def disarm(self, key: str) -> None:
        if self._items.get(key, ("", {}))[0] == "armed":
            del self._items[key]

    def make_due(self, key: str) -> None:
        if key in self._items:
            self._items[key] = ("due", self._items[key][1])

    def due(self) -> list[tuple[str, m.IsoDoc]]:
        return [(k, doc) for k, (state, doc) in self._items.items() if state == "due"]

    def acknowledged(self, key: str) -> None:
        self._items.pop(key, None)


def counter_stan_source(start: int = 1) -> Callable[[], int]:
    """STANs 1..999999 then wrap to 1 (ISO 8583 DE 11 is n6)."""
    counter = itertools.count(start)
    return lambda: (next(counter) - 1) % 999_999 + 1


class AcquirerClient:
    """Implements :class:`emv.ports.OnlineAuthoriser` (and sends reversals/advices).

    One client serves one terminal and is used from one thread at a time.
    """

    def __init__(
        self,
        link: LinkConfig,
        terminal: m.TerminalIdentity,
        stan_source: Callable[[], int],
        *,
        clock: Clock | None = None,
        reversals: ReversalStore | None = None,
        advices: SafStore | None = None,
        mac_key: bytes | None = None,
        authorisation_mti: str = "0200",
    ) -> None:
        if authorisation_mti not in ("0100", "0200"):
            raise ValueError("online requests are 0100 (authorisation) or 0200 (financial).")
        self.authorisation_mti = authorisation_mti
        self.link = link
        self.terminal = terminal
        self.stan_source = stan_source
        self.clock: Clock = clock or SystemClock()
        self.reversals: ReversalStore = reversals or MemoryReversalStore()
        self.advices = advices
        self.mac_key = mac_key
        self._connection = Connection(link)
        self.last_request: m.IsoDoc | None = None

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> AcquirerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ OnlineAuthoriser

    def authorise(self, request: AuthorisationRequest) -> AuthorisationResponse:
        self.send_due_reversals()
        now = self._now()
        try:
            doc = m.card_request(
                request, self.terminal, self.stan_source(), now, self.authorisation_mti
            )
        except m.MessageError as exc:
            raise OnlineUnavailable(f"the authorisation request cannot be built: {exc}") from None
        key = reversal_key(doc)
        try:
            self.reversals.arm(key, m.reversal_request(doc, now))
        except (sqlite3.Error, OSError):
            raise OnlineUnavailable(
                "the reversal journal cannot be written, so the request was not sent."
            ) from None
        self.last_request = doc
        try:
            reply = self._exchange(doc)
        except HostUnreachable:
            self.reversals.disarm(key)
            raise
        except OnlineUnavailable:
            self.reversals.make_due(key)
            raise
        try:
            self.reversals.disarm(key)
        except (sqlite3.Error, OSError):
            # The armed reversal stays and becomes due at the next start: treat as unanswered
            # so the kernel declines and the host's approval is reversed - never half-done.
            raise OnlineUnavailable(
                "the reversal journal cannot be updated, so this transaction will be reversed."
            ) from None
        log.info("acquirer answered %s", m.describe(reply))
        return m.authorisation_response(reply)

    def reverse_last(self) -> None:
        """Reverse the last authorisation (card declined after host approval) and try to send."""
        if self.last_request is None:
            return
        key = reversal_key(self.last_request)
        self.reversals.arm(key, m.reversal_request(self.last_request, self._now()))
        self.reversals.make_due(key)
        self.send_due_reversals()

    # ------------------------------------------------------------------ other exchanges

    def send_due_reversals(self) -> int:
        """Send every due reversal until its 0410; return how many are still due."""
        remaining = 0
        try:
            due = self.reversals.due()
        except (sqlite3.Error, OSError):
            raise OnlineUnavailable(
                "the reversal journal cannot be read, so no request was sent."
            ) from None
        for key, reversal in due:
            try:
                self._exchange(reversal)
            except OnlineUnavailable as exc:
                log.warning("reversal %s not yet acknowledged: %s", m.describe(reversal), exc)
                remaining += 1
                continue
            try:
                self.reversals.acknowledged(key)
            except (sqlite3.Error, OSError):
                # it stays due and is sent again; the host de-duplicates the retry
                raise OnlineUnavailable(
                    "the reversal journal cannot be updated, so no request was sent."
                ) from None
        return remaining

    # ------------------------------------------------------------------ store-and-forward

    def can_approve_offline(self, amount_minor: int, currency_numeric: int) -> bool:
        """False when the advice queue is at its ceiling: the terminal must go online."""
        return self.advices is not None and self.advices.can_accept(amount_minor, currency_numeric)

    def queue_advice(self, request: AuthorisationRequest) -> str:
        """Persist a 0220 advice for an offline-approved (TC) transaction; return its key."""
        if self.advices is None:
            raise SafError("no store-and-forward queue is configured for offline approvals.")
        doc = m.card_request(request, self.terminal, self.stan_source(), self._now(), "0220")
        key = reversal_key(doc)
        self.advices.enqueue_advice(key, doc)
        return key

    def send_advices(self) -> int:
        """Send queued advices in order until 0230; stop at the first failure; return left."""
        if self.advices is None:
            return 0
        queued = self.advices.advices()
        for index, (key, advice) in enumerate(queued):
            try:
                self._exchange(advice)
            except OnlineUnavailable as exc:
                log.warning("advice %s not yet acknowledged: %s", m.describe(advice), exc)
                return len(queued) - index
            self.advices.advice_sent(key)
        return 0

    def exchange(self, doc: m.IsoDoc) -> m.IsoDoc:
        """Send any request (0220, 0500, 0800...) and return its validated response."""
        return self._exchange(doc)

    def echo(self) -> m.IsoDoc:
        return self._exchange(
            m.network_request(m.NETWORK_ECHO, self.terminal, self.stan_source(), self._now())
        )

    def _exchange(self, doc: m.IsoDoc) -> m.IsoDoc:
        key = self.mac_key
        raw = mac.sign(key, doc) if key else m.encode(doc)

        def matches(candidate: bytes) -> bool:
            # unreadable or a bad MAC: MessageError ends the exchange
            reply = mac.verify(key, candidate, response=True) if key else m.decode(candidate)
            try:
                m.check_response_matches(doc, reply)
            except m.MessageError as exc:
                log.warning("dropped a host message that does not answer ours: %s", exc)
                return False
            return True

        try:
            reply = self._connection.exchange(raw, matches)
            return mac.verify(key, reply, response=True) if key else m.decode(reply)
        except LinkError as exc:
            if not exc.sent:
                raise HostUnreachable(str(exc)) from None
            raise OnlineUnavailable(str(exc)) from None
        except m.MessageError as exc:
            self._connection.close()
            raise OnlineUnavailable(f"the host's answer is unreadable: {exc}") from None

    def _now(self) -> datetime:
        return self.clock.now()


def reversal_key(original: m.IsoDoc) -> str:
    """De-duplication key of an original transaction: terminal id, STAN, DE 90."""
    return f"{original['41'].strip()}:{original['11']}:{m.original_data_elements(original)}"
