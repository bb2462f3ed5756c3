"""The CARD end of vsmartcard's vpcd protocol: puts a simulated card into a real pcscd reader.

vsmartcard's ``libifdvpcd`` driver (loaded by pcscd) listens on a TCP port per reader slot.
A card end connects to it as a TCP client; connecting means "card inserted", closing the
socket means "card removed".  Every frame in both directions is a 2-byte big-endian length
followed by the payload (vsmartcard ``vpcd/vpcd.c``):

* a 1-byte payload is a control message - ``00`` power off, ``01`` power on, ``02`` reset
  (no reply) and ``04`` get ATR (reply: one frame holding the ATR);
* any other payload is a command APDU (ISO/IEC 7816-4); the reply is one frame holding the
  response APDU, data followed by SW1 SW2.

Debian's vpcd writes the length and the APDU with two separate ``send`` calls, so Nagle's
algorithm on its side meets delayed ACKs on ours and every APDU costs ~40 ms.  Setting
``TCP_QUICKACK`` before *every* ``recv`` (Linux clears it after each ACK) removes the stall.

The card object is duck-typed (``hardware_sim.card.VirtualCard``, ``ReplayCard`` or a test
double): ``.atr`` bytes, ``.power_on()`` and ``.process(apdu) -> response``.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)

VPCD_DEFAULT_PORT = 35963

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04

# ISO/IEC 7816-4 SW 6F00 "no precise diagnosis": what a card says when its software fails.
SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class SimCard(Protocol):
    """What a simulated card must offer to be served over vpcd."""

    atr: bytes

    def power_on(self) -> None: ...

    def process(self, apdu: bytes) -> bytes: ...


class VpcdConnectError(ConnectionError):
    """No vpcd reader slot accepted the connection (pcscd not running, or wrong port)."""


class VpcdCardConnector:
    """Connects one simulated card to one vpcd reader slot (``host:port``).

    ``remove_after_apdus``: fault injection - after answering that many command APDUs, the
    next command is not answered and the socket is closed, exactly what pcscd sees when a
    cardholder pulls the card in the middle of an exchange.  When not given, a card's own
    ``faults.remove_at_apdu`` (hardware_sim card profiles) is honoured.
    ``quickack=False`` leaves Linux delayed ACKs on (only to measure their cost).
    """

    def __init__(
        self,
        card: SimCard,
        host: str = "127.0.0.1",
        port: int = VPCD_DEFAULT_PORT,
        *,
        remove_after_apdus: int | None = None,
        connect_timeout: float = 10.0,
        quickack: bool = True,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        if remove_after_apdus is None:
            # A card profile's own fault ``faults.remove_at_apdu = N`` (counted from 1, as in
            # hardware_sim.reader): the card leaves during the Nth APDU.
            remove_at = getattr(getattr(card, "faults", None), "remove_at_apdu", None)
            if isinstance(remove_at, int) and remove_at >= 1:
                remove_after_apdus = remove_at - 1
        self.remove_after_apdus = remove_after_apdus
        self.connect_timeout = connect_timeout
        self.quickack = quickack
        self.apdu_count = 0
        self.powered = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- public API --------------------------------------------------------------------

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self) -> None:
        """Connect to the reader slot (the card is inserted) and serve it in a thread."""
        if self._sock is not None:
            return
        sock = self._connect(self.connect_timeout)
        with self._lock:
            self._sock = sock
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"vpcd-card-{self.port}", daemon=True
        )
        self._thread.start()

    def remove(self) -> None:
        """Close the socket (the card leaves the reader) and wait for the server thread."""
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            _close(sock)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def serve_forever(self, stop: threading.Event | None = None) -> None:
        """Keep the card inserted until ``stop`` is set, reconnecting if pcscd restarts.

        Used by ``pos sim card --vpcd``: the card stays in the reader across pcscd restarts.
        """
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                sock = self._connect(timeout=1.0)
            except VpcdConnectError:
                stop.wait(0.5)
                continue
            with self._lock:
                self._sock = sock
            watcher = threading.Thread(target=self._close_on, args=(stop, sock), daemon=True)
            watcher.start()
            self._serve(sock)
            with self._lock:
                if self._sock is sock:
                    self._sock = None
            if not stop.is_set():
                stop.wait(0.5)

    def __enter__(self) -> VpcdCardConnector:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # --- internals ---------------------------------------------------------------------

    def _connect(self, timeout: float) -> socket.socket:
        deadline = time.monotonic() + timeout
        last: OSError | None = None
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError as exc:
                last = exc
                if time.monotonic() >= deadline:
                    raise VpcdConnectError(
                        f"No vpcd reader slot is listening on {self.host}:{self.port} "
                        f"({last.strerror or last}); start pcscd with the vpcd driver first."
                    ) from exc
                time.sleep(0.05)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock

    def _close_on(self, stop: threading.Event, sock: socket.socket) -> None:
        while not stop.wait(0.2):
            if sock.fileno() == -1:
                return
        _close(sock)

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                payload = _recv_frame(sock, self.quickack)
                if payload is None:
                    return
                if not payload:
                    continue
                if len(payload) == 1:
                    self._control(sock, payload[0])
                    continue
                if (
                    self.remove_after_apdus is not None
                    and self.apdu_count >= self.remove_after_apdus
                ):
                    log.debug("vpcd card on port %d: pulled mid-exchange", self.port)
                    return
                response = self._process(payload)
                self.apdu_count += 1
                _send_frame(sock, response)
        except OSError:
            return  # socket closed by remove() or by vpcd/pcscd going away
        finally:
            self.powered = False
            _close(sock)
            with self._lock:
                if self._sock is sock:
                    self._sock = None

    def _control(self, sock: socket.socket, code: int) -> None:
        if code == CTRL_POWER_OFF:
            self.powered = False
        elif code in (CTRL_POWER_ON, CTRL_RESET):
            self.card.power_on()
            self.powered = True
        elif code == CTRL_GET_ATR:
            _send_frame(sock, bytes(self.card.atr))
        else:
            log.debug("vpcd card on port %d: unknown control byte %02X", self.port, code)

    def _process(self, apdu: bytes) -> bytes:
        try:
            response = bytes(self.card.process(apdu))
        except Exception:  # noqa: BLE001 - a card that crashes answers 6F00, like a real one
            log.exception("simulated card failed on a command APDU")
            return SW_NO_PRECISE_DIAGNOSIS
        if len(response) < 2:
            return SW_NO_PRECISE_DIAGNOSIS
        return response


def _quickack(sock: socket.socket) -> None:
    if _TCP_QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        except OSError:
            pass


def _recv_exact(sock: socket.socket, count: int, quickack: bool) -> bytes | None:
    buf = bytearray()
    while len(buf) < count:
        if quickack:
            _quickack(sock)
        chunk = sock.recv(count - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv_frame(sock: socket.socket, quickack: bool = True) -> bytes | None:
    header = _recv_exact(sock, 2, quickack)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    if length == 0:
        return b""
    return _recv_exact(sock, length, quickack)


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
