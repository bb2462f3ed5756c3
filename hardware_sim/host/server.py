"""The host simulator's network side: a threaded TCP/TLS 1.3 server, one thread per terminal.

Frames are 2-byte length prefixed (``acquirer_client.framing``).  An unreadable message
closes that connection only (no answer can be addressed without a readable MTI/STAN); the
server keeps serving everyone else.

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

import logging
import os
import socket
import ssl
import threading
import time
from collections import deque
from types import TracebackType

from acquirer_client import mac
from acquirer_client import messages as m
from acquirer_client.framing import FrameDecoder, FramingError, frame
from hardware_sim.host.config import HostConfig
from hardware_sim.host.issuer import CARD_KINDS, Issuer, original_key
from hardware_sim.host.ledger import Ledger

log = logging.getLogger(__name__)

FAULTS = ("delay", "drop_before", "drop_after", "garble", "twice", "late_after_reversal")
HANDSHAKE_TIMEOUT = 5.0
IDLE_TIMEOUT = 300.0


class HostSimulator:
    """``HostSimulator(config).start() -> (host, port)``; ``stop()``; or use ``with``."""

    def __init__(self, config: HostConfig | None = None) -> None:
        self.config = config or HostConfig()
        self.ledger = Ledger(self.config.ledger_path)
        self.issuer = Issuer(self.config.rules, self.ledger, worker=self.config.worker)
        self._faults: deque[str] = deque()
        self._fault_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._context = self.config.tls.context() if self.config.tls else None
        self.address: tuple[str, int] = (self.config.host, self.config.port)
        self.unreadable_messages = 0
        self.handled = 0
        self.mac_failures = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self, listener: socket.socket | None = None) -> tuple[str, int]:
        """Listen (or serve an already bound ``listener`` shared by pre-forked workers)."""
        if listener is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.config.host, self.config.port))
            listener.listen(256)
        listener.settimeout(0.1)
        self._listener = listener
        host, port = listener.getsockname()[:2]
        self.address = (str(host), int(port))
        thread = threading.Thread(target=self._accept_loop, name="host-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self.address

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._conns_lock:
            for conn in list(self._conns):
                _shutdown(conn)
        for thread in list(self._threads):
            thread.join(timeout=5)
        self.ledger.close()

    def __enter__(self) -> HostSimulator:
        if self._listener is None:
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

    # ------------------------------------------------------------------ connections

    def _accept_loop(self) -> None:
        assert self._listener is not None  # noqa: S101 - set by start()
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        conn: socket.socket = raw
        with self._conns_lock:
            self._conns.add(raw)
        try:
            if self._context is not None:
                raw.settimeout(HANDSHAKE_TIMEOUT)
                try:
                    conn = self._context.wrap_socket(raw, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    log.info("TLS handshake refused: %s", exc)
                    return
                with self._conns_lock:
                    self._conns.add(conn)
            conn.settimeout(IDLE_TIMEOUT)
            decoder = FrameDecoder()
            while not self._stopping.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                for message in decoder.feed(data):
                    if not self._answer(conn, message):
                        return
        except (OSError, FramingError) as exc:
            log.debug("connection closed: %s", exc)
        finally:
            with self._conns_lock:
                self._conns.discard(raw)
                self._conns.discard(conn)
            _shutdown(conn)

    def _answer(self, conn: socket.socket, message: bytes) -> bool:
        """Process one message; False closes the connection."""
        try:
            request = m.decode(message)
        except m.MessageError as exc:
            self.unreadable_messages += 1
            log.info("closing a connection after an unreadable message: %s", exc)
            return False
        if request["t"] not in m.REQUEST_MTIS:
            self.unreadable_messages += 1
            return False
        mac_key = self._mac_key(request)
        fault = self._fault_for(request)
        if fault == "drop_before":
            return False
        try:
            if mac_key is not None:
                try:
                    mac.verify(mac_key, message)
                except m.MessageError as exc:
                    log.info("refused %s: %s", m.describe(request), exc)
                    self.mac_failures += 1
                    response = m.encode(m.response_to(request, "63"))
                else:
                    response = self.issuer.handle(request)
                response = mac.sign(mac_key, m.decode(response), response=True)
            else:
                response = self.issuer.handle(request)
        except (m.MessageError, KeyError, ValueError) as exc:
            self.unreadable_messages += 1
            log.info("could not process %s: %s", m.describe(request), exc)
            return False
        self.handled += 1
        if fault == "drop_after":
            return False
        if fault == "garble":
            response = b"02\xff\x00" + response[4:24]
        elif fault == "delay":
            self._stopping.wait(self.config.fault_delay_seconds)
        elif fault == "late_after_reversal":
            self._wait_for_reversal(original_key(request))
        payload = frame(response)
        conn.sendall(payload + payload if fault == "twice" else payload)
        return True

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

    def _wait_for_reversal(self, key: str) -> None:
        deadline = time.monotonic() + max(10.0, self.config.fault_delay_seconds * 5)
        while time.monotonic() < deadline and not self._stopping.is_set():
            if self.ledger.reversal_for(key) is not None:
                return
            self._stopping.wait(0.01)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
