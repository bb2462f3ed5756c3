"""The host simulator's network side: one asyncio event loop serving every terminal.

Frames are 2-byte length prefixed (``acquirer_client.framing``).  TLS 1.3 with mutual
authentication runs on non-blocking ``ssl.SSLSocket`` s driven by the loop
(``hardware_sim.host.transport``: OpenSSL reads and writes the socket itself, instead of
asyncio's pure-Python TLS layer).  The loop runs in one background thread; requests are
processed inline, so the ledger sees no lock contention and no thread switches.

Each request goes in three steps: :meth:`HostSimulator.prepare` (decode, fault, MAC, ARQC and
PIN checks: no ledger), :meth:`HostSimulator.complete` (the issuer's decision and the money,
inside the ledger transaction) and :meth:`HostSimulator.deliver` (MAC the answer, apply the
fault), so pre-forked workers sharing one ledger file hold its lock only for the middle step.

Group commit: every request that arrived in one turn of the event loop (typically one per busy
terminal) is processed inside one ledger transaction (:meth:`Ledger.group`, a savepoint per
request), and the answers are written only after its ``COMMIT`` returned.  A host answer
therefore never promises money the ledger could lose in a crash.

An unreadable message closes that connection only (no answer can be addressed without a
readable MTI/STAN); the server keeps serving everyone else.  Messages on one connection are
answered in order: while an answer is held back by a fault, later messages wait behind it.

Fault injection (armed per request with :meth:`HostSimulator.inject`, or by amount suffix in
the rules' ``faults_by_amount_suffix``) applies to card requests (0100/0200/0220) only:

* ``delay``: process, then answer after ``fault_delay_seconds`` (past the terminal's timeout);
* ``drop_before``: close the connection without processing;
* ``drop_after``: process (money moves), then close without answering;
* ``garble``: process, answer with an unreadable message;
* ``twice``: process, send the answer two times;
* ``late_after_reversal``: process, hold the answer until the terminal's reversal for it has
  been applied, then send it on the old connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from acquirer_client import mac
from acquirer_client import messages as m
from acquirer_client.framing import FrameDecoder, FramingError, frame
from hardware_sim.host.config import HostConfig
from hardware_sim.host.issuer import CARD_KINDS, CardChecks, Issuer, original_key
from hardware_sim.host.ledger import Ledger
from hardware_sim.host.transport import start_server

log = logging.getLogger(__name__)
_T = TypeVar("_T")

FAULTS = ("delay", "drop_before", "drop_after", "garble", "twice", "late_after_reversal")
HANDSHAKE_TIMEOUT = 5.0
IDLE_TIMEOUT = 300.0
REVERSAL_POLL_SECONDS = 0.01


HOLDING_FAULTS = ("delay", "late_after_reversal")  # the answer is held; later ones wait


@dataclass(frozen=True)
class _Pending:
    """A request decoded and checked outside the ledger lock, waiting for its ledger step."""

    request: m.IsoDoc
    mac_key: bytes | None
    fault: str | None
    checked: CardChecks | None
    refusal: bytes | None = None  # answered before the ledger (bad MAC: response code 63)


@dataclass(frozen=True)
class Answer:
    """What to do with one request: send ``payload`` (unless None), then maybe close."""

    payload: bytes | None
    close: bool = False
    delay: float = 0.0
    wait_for_reversal: str | None = None


class HostSimulator:
    """``HostSimulator(config).start() -> (host, port)``; ``stop()``; or use ``with``."""

    def __init__(self, config: HostConfig | None = None) -> None:
        self.config = config or HostConfig()
        self.ledger = Ledger(self.config.ledger_path)
        self.issuer = Issuer(self.config.rules, self.ledger, worker=self.config.worker)
        self._faults: deque[str] = deque()
        self._fault_lock = threading.Lock()
        self._context = self.config.tls.context() if self.config.tls else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._protocols: set[_Terminal] = set()
        self._ready: dict[_Terminal, None] = {}  # terminals with messages, in arrival order
        self._stopped = False
        self.address: tuple[str, int] = (self.config.host, self.config.port)
        self.unreadable_messages = 0
        self.handled = 0
        self.mac_failures = 0
        self.groups = 0  # ledger commits for card and network requests (group commit)
        self.grouped = 0  # requests answered through those commits

    # ------------------------------------------------------------------ lifecycle

    def start(self, listener: socket.socket | None = None) -> tuple[str, int]:
        """Listen (or serve an already bound ``listener`` shared by pre-forked workers)."""
        if listener is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((self.config.host, self.config.port))
                listener.listen(1024)
            except OSError:
                listener.close()
                raise
        host, port = listener.getsockname()[:2]
        self.address = (str(host), int(port))
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(_quiet_exceptions)
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="host-loop", daemon=True)
        self._thread.start()
        # created on the loop's own thread: start() may be called from inside another running
        # event loop (the Textual cashier app starts an embedded host)
        serving = asyncio.run_coroutine_threadsafe(
            start_server(
                loop,
                lambda: _Terminal(self),
                sock=listener,
                ssl_context=self._context,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if self._context else None,
            ),
            loop,
        )
        try:
            self._server = serving.result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self.address

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._close_all)
            thread.join(timeout=5)
        if loop is not None and not loop.is_running():
            loop.close()
        self.ledger.close()
        log.info("host stopped: %d requests in %d ledger commits", self.grouped, self.groups)

    def _close_all(self) -> None:
        assert self._loop is not None  # noqa: S101 - called on the loop
        if self._server is not None:
            self._server.close()
        for terminal in list(self._protocols):
            terminal.abort()
        self._loop.call_soon(self._loop.stop)

    def __enter__(self) -> HostSimulator:
        if self._loop is None:
            self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def inject(self, fault: str, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` card requests."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault '{fault}'; choose one of {', '.join(FAULTS)}.")
        with self._fault_lock:
            self._faults.extend([fault] * times)

    # ------------------------------------------------------------------ group commit

    def _schedule(self, terminal: _Terminal) -> None:
        if not self._ready:
            assert self._loop is not None  # noqa: S101 - called on the loop
            self._loop.call_soon(self._flush)
        self._ready[terminal] = None

    def _flush(self) -> None:
        """Answer every ready terminal's waiting messages: decode and check them (no lock),
        run their ledger steps in one ledger group, then sign and send once it committed."""
        terminals, self._ready = list(self._ready), {}
        batch: list[tuple[_Terminal, _Pending | Answer]] = []
        for terminal in terminals:
            while terminal.waiting and not terminal.held and not terminal.closed:
                item = self._guarded(self.prepare, terminal.waiting.popleft())
                batch.append((terminal, item))
                if isinstance(item, Answer) or item.fault == "drop_after":
                    break  # the connection closes after this one
                if item.fault in HOLDING_FAULTS:
                    terminal.held = True  # later messages wait behind the held answer
                    break
        if not batch:
            return
        done: list[tuple[_Terminal, _Pending | None, bytes | Answer]] = []
        failed: set[_Terminal] = set()
        try:
            with self.ledger.group():
                for terminal, item in batch:
                    if terminal in failed:
                        continue  # its connection closes: later requests are not processed
                    if isinstance(item, Answer):
                        done.append((terminal, None, item))
                        continue
                    outcome = self._guarded(self.complete, item)
                    if isinstance(outcome, Answer):
                        failed.add(terminal)
                    done.append((terminal, item, outcome))
        except sqlite3.Error as exc:  # the commit failed: nothing of this group happened
            log.error("ledger commit failed, closing %d connections: %s", len(terminals), exc)
            for terminal in terminals:
                terminal.close()
            return
        self.groups += 1
        self.grouped += len(done)
        for terminal, pending, outcome in done:
            if pending is not None and not isinstance(outcome, Answer):
                outcome = self._guarded(self.deliver, pending, outcome)
            terminal.dispatch(outcome)

    def _guarded(self, step: Callable[..., _T], *args: Any) -> _T | Answer:
        """Run one request's step; a host bug closes that connection only, never the others."""
        try:
            return step(*args)
        except Exception:
            log.exception("host failed on one request; closing that connection")
            return Answer(None, close=True)

    # ------------------------------------------------------------------ one request

    def prepare(self, message: bytes) -> _Pending | Answer:
        """Step 1, no ledger: decode, pick the fault, verify the MAC, check ARQC and PIN."""
        try:
            request, icc = m.decode_with_icc(message)
        except m.MessageError as exc:
            self.unreadable_messages += 1
            log.info("closing a connection after an unreadable message: %s", exc)
            return Answer(None, close=True)
        if request["t"] not in m.REQUEST_MTIS:
            self.unreadable_messages += 1
            return Answer(None, close=True)
        mac_key = self._mac_key(request)
        fault = self._fault_for(request)
        if fault == "drop_before":
            return Answer(None, close=True)
        if mac_key is not None:
            try:
                mac.verify(mac_key, message, doc=request)
            except m.MessageError as exc:
                log.info("refused %s: %s", m.describe(request), exc)
                self.mac_failures += 1
                refusal = m.encode(m.response_to(request, "63"))
                return _Pending(request, mac_key, fault, None, refusal)
        try:
            checked = self.issuer.check(request, icc)
        except (m.MessageError, KeyError, ValueError) as exc:
            self.unreadable_messages += 1
            log.info("could not process %s: %s", m.describe(request), exc)
            return Answer(None, close=True)
        return _Pending(request, mac_key, fault, checked)

    def complete(self, pending: _Pending) -> bytes | Answer:
        """Step 2, inside the ledger transaction: the issuer's decision; money moves here."""
        if pending.refusal is not None:
            return pending.refusal
        try:
            return self.issuer.handle(pending.request, pending.checked)
        except (m.MessageError, KeyError, ValueError) as exc:
            self.unreadable_messages += 1
            log.info("could not process %s: %s", m.describe(pending.request), exc)
            return Answer(None, close=True)

    def deliver(self, pending: _Pending, response: bytes) -> Answer:
        """Step 3, once the ledger committed: MAC the response and apply the armed fault."""
        if pending.mac_key is not None:
            response = mac.sign(pending.mac_key, m.decode(response), response=True)
        self.handled += 1
        fault = pending.fault
        if fault == "drop_after":
            return Answer(None, close=True)
        if fault == "garble":
            response = b"02\xff\x00" + response[4:24]
        payload = frame(response)
        if fault == "twice":
            return Answer(payload + payload)
        if fault == "delay":
            return Answer(payload, delay=self.config.fault_delay_seconds)
        if fault == "late_after_reversal":
            return Answer(payload, wait_for_reversal=original_key(pending.request))
        return Answer(payload)

    def _mac_key(self, request: m.IsoDoc) -> bytes | None:
        """The terminal's MAC master key when the request is MACed or MACs are required.

        A terminal with no configured key gets a random one: none of its MACs verify.
        """
        rules = self.config.rules
        if not (rules.get("require_mac") or "64" in request or "128" in request):
            return None
        keys = rules.get("mac_keys", {})
        hexkey = keys.get(request.get("41", "").strip(), keys.get("default"))
        return bytes.fromhex(hexkey) if hexkey else os.urandom(16)

    def _fault_for(self, request: m.IsoDoc) -> str | None:
        if request["t"] not in CARD_KINDS:
            return None
        with self._fault_lock:
            if self._faults:
                return self._faults.popleft()
        by_amount = self.config.rules.get("faults_by_amount_suffix", {})
        fault = by_amount.get(request.get("4", "")[-2:])
        return str(fault) if fault in FAULTS else None

    def reversal_deadline(self) -> float:
        return time.monotonic() + max(10.0, self.config.fault_delay_seconds * 5)


class _Terminal(asyncio.Protocol):
    """One terminal connection: frames in, answers out, in order."""

    def __init__(self, sim: HostSimulator) -> None:
        self.sim = sim
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.decoder = FrameDecoder()
        self.waiting: deque[bytes] = deque()
        self.held = False  # an answer is held back by a fault; later messages wait
        self.closed = False
        self.idle: asyncio.TimerHandle | None = None
        self.last_activity = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - stream server
        self.transport = transport
        self.sim._protocols.add(self)
        self._touch()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.sim._protocols.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        if exc is not None:
            log.debug("connection closed: %s", exc)

    def data_received(self, data: bytes) -> None:
        self._touch()
        try:
            self.waiting.extend(self.decoder.feed(data))
        except FramingError as exc:
            log.debug("closing a connection with broken framing: %s", exc)
            self.close()
            return
        if self.waiting and not self.held:
            self.sim._schedule(self)

    def eof_received(self) -> bool | None:
        self.close()  # the terminal hung up: an answer still held back goes nowhere
        return None

    def dispatch(self, answer: Answer) -> None:
        """Carry out an answer once its ledger group committed."""
        if answer.delay:
            self.loop.call_later(answer.delay, self._release, answer)
        elif answer.wait_for_reversal is not None:
            self._poll_reversal(answer, self.sim.reversal_deadline())
        else:
            self._send(answer)

    def _release(self, answer: Answer) -> None:
        self.held = False
        self._send(answer)
        if self.waiting and not self.closed:
            self.sim._schedule(self)

    def _poll_reversal(self, answer: Answer, deadline: float) -> None:
        key = answer.wait_for_reversal
        assert key is not None  # noqa: S101 - only called for held answers
        if self.closed or self.sim.ledger.reversal_for(key) is not None:
            self._release(answer)
        elif time.monotonic() >= deadline:
            self._release(answer)
        else:
            self.loop.call_later(REVERSAL_POLL_SECONDS, self._poll_reversal, answer, deadline)

    def _send(self, answer: Answer) -> None:
        if self.closed or self.transport is None:
            return
        if answer.payload is not None:
            self.transport.write(answer.payload)
        if answer.close:
            self.close()

    def _touch(self) -> None:
        self.last_activity = self.loop.time()
        if self.idle is None:
            self.idle = self.loop.call_later(IDLE_TIMEOUT, self._check_idle)

    def _check_idle(self) -> None:
        """One timer per connection, re-armed from the last activity (not one per message)."""
        quiet = self.loop.time() - self.last_activity
        if quiet >= IDLE_TIMEOUT:
            self.close()
        else:
            self.idle = self.loop.call_later(IDLE_TIMEOUT - quiet, self._check_idle)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A refused TLS handshake or a reset peer is a terminal's problem, not the host's."""
    exc = context.get("exception")
    log.info("host connection: %s%s", context.get("message", ""), f" ({exc})" if exc else "")
