"""One blocking connection to the acquirer host: TCP or TLS 1.3 with mutual auth and a pin.

TLS is the default; plain TCP only with ``LinkConfig(plain_tcp=True)`` (local tests).
The host certificate must verify against the configured CA *and* match the pinned SHA-256
of its DER encoding.  Every wait is bounded by the connect/read/overall timeouts.
"""

from __future__ import annotations

import hashlib
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from acquirer_client.framing import FrameDecoder, FramingError, frame


class LinkError(Exception):
    """The link failed; ``sent`` tells whether any request bytes may have reached the host."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class TlsConfig:
    """Terminal side TLS material: CA bundle, client certificate and key, host pin."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    pinned_sha256: bytes | None = None
    server_hostname: str = "localhost"

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


@dataclass(frozen=True)
class LinkConfig:
    """Where the host is and how long to wait (seconds)."""

    host: str
    port: int
    tls: TlsConfig | None = None
    plain_tcp: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    overall_timeout: float = 15.0
    keep_alive: bool = True

    def __post_init__(self) -> None:
        if self.tls is None and not self.plain_tcp:
            raise ValueError(
                "the acquirer link needs TLS material; set plain_tcp=True only for local tests."
            )
        if min(self.connect_timeout, self.read_timeout, self.overall_timeout) <= 0:
            raise ValueError("link timeouts must be positive.")


class Connection:
    """A framed request/response exchange over one socket (reconnects when stale)."""

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self._context = config.tls.context() if config.tls else None
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._ready: list[bytes] = []

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._decoder = FrameDecoder()
                self._ready = []

    def _stale(self, sock: socket.socket) -> bool:
        """An idle connection that is readable was closed (or spoke out of turn): drop it."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _connect(self, deadline: float) -> socket.socket:
        if self._sock is not None and not self._stale(self._sock):
            return self._sock
        self.close()
        cfg = self.config
        timeout = max(0.001, min(cfg.connect_timeout, deadline - time.monotonic()))
        try:
            raw = socket.create_connection((cfg.host, cfg.port), timeout=timeout)
        except OSError as exc:
            raise LinkError(f"cannot reach the acquirer host ({_why(exc)}).", sent=False) from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = raw
        if self._context is not None and cfg.tls is not None:
            try:
                sock = self._context.wrap_socket(raw, server_hostname=cfg.tls.server_hostname)
            except (OSError, ssl.SSLError) as exc:
                raw.close()
                msg = f"TLS handshake with the host failed ({_why(exc)})."
                raise LinkError(msg, sent=False) from None
            pin = cfg.tls.pinned_sha256
            if pin is not None:
                der = sock.getpeercert(binary_form=True) or b""
                if hashlib.sha256(der).digest() != pin:
                    sock.close()
                    raise LinkError(
                        "the host certificate does not match the pinned certificate.", sent=False
                    )
        self._sock = sock
        return sock

    def exchange(self, message: bytes, accept: Callable[[bytes], bool] | None = None) -> bytes:
        """Send one message and return the first framed reply that ``accept`` takes.

        Replies ``accept`` refuses (a late duplicate of an earlier answer) are dropped.
        Raises :class:`LinkError`; ``sent`` is True once any byte may have left.
        """
        cfg = self.config
        deadline = time.monotonic() + cfg.overall_timeout
        sock = self._connect(deadline)
        try:
            sock.settimeout(max(0.001, min(cfg.read_timeout, deadline - time.monotonic())))
            sock.sendall(frame(message))
        except OSError as exc:
            self.close()
            raise LinkError(f"sending to the host failed ({_why(exc)}).", sent=True) from None
        try:
            reply = self._receive(sock, deadline, accept)
        except (OSError, FramingError) as exc:
            self.close()
            raise LinkError(f"no usable answer from the host ({_why(exc)}).", sent=True) from None
        if not cfg.keep_alive:
            self.close()
        return reply

    def _receive(
        self, sock: socket.socket, deadline: float, accept: Callable[[bytes], bool] | None
    ) -> bytes:
        while True:
            while self._ready:
                candidate = self._ready.pop(0)
                if accept is None or accept(candidate):
                    return candidate
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("overall timeout")
            sock.settimeout(min(self.config.read_timeout, remaining))
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError("the host closed the connection")
            self._ready.extend(self._decoder.feed(data))


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or "TLS error"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")
