"""The host's own stream transport (``hardware_sim.host.transport``) over real sockets.

Against the host simulator (TLS 1.3 with mutual auth, and plain TCP) and against a bare echo
protocol, to reach the buffered-write paths a 0800 answer never needs.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from acquirer_client import messages as m
from acquirer_client.framing import FrameDecoder, frame
from acquirer_client.link import Connection, LinkConfig, LinkError
from hardware_sim.host import HostConfig, HostSimulator, embedded_host, server, test_tls
from hardware_sim.host.transport import Server, start_server
from tests.process_support import wait_until

HOST_TLS, TERMINAL_TLS = test_tls()


def echo_request(stan: int) -> bytes:
    return m.encode(
        {"t": "0800", "11": f"{stan:06d}", "7": "0101000000", "41": "TRANSP01", "70": "301"}
    )


def stan_of(reply: bytes) -> int:
    doc = m.decode(reply)
    assert doc["t"] == "0810" and doc["39"] == "00"
    return int(doc["11"])


def tls_client(link: LinkConfig, with_cert: bool = True) -> ssl.SSLSocket:
    """A raw TLS socket to the host (the terminal's material, optionally without its cert)."""
    if with_cert:
        ctx = TERMINAL_TLS.context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=str(TERMINAL_TLS.ca_file))
    raw = socket.create_connection((link.host, link.port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    decoder, out = FrameDecoder(), []
    while len(out) < count:
        data = sock.recv(65536)
        assert data, f"closed after {len(out)} of {count} frames"
        out.extend(decoder.feed(data))
    return out


def closed_by_peer(sock: socket.socket, within: float = 5.0) -> bool:
    """True once the peer closed (EOF, reset or a TLS alert) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False
    return True


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def still_serves(link: LinkConfig, stan: int = 900) -> bool:
    conn = Connection(link)
    try:
        return stan_of(conn.exchange(echo_request(stan))) == stan
    finally:
        conn.close()


# ---------------------------------------------------------------------- the host simulator


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_many_exchanges_over_one_connection(tls: bool) -> None:
    with embedded_host(tls=tls) as (sim, link):
        conn = Connection(link)
        try:
            for stan in range(1, 201):
                assert stan_of(conn.exchange(echo_request(stan))) == stan
            (terminal,) = sim._protocols
            transport = terminal.transport
            assert transport is not None
            sock = transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert transport.get_extra_info("peername")[0] == "127.0.0.1"
            if tls:
                assert transport.get_extra_info("ssl_object").version() == "TLSv1.3"
                assert transport.get_extra_info("sslcontext") is sim._context
                assert transport.get_extra_info("peercert")["subject"]  # mutual TLS
            else:
                assert transport.get_extra_info("ssl_object") is None
        finally:
            conn.close()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_concurrent_terminals_each_get_their_own_answers(tls: bool) -> None:
    errors: list[BaseException] = []
    with embedded_host(tls=tls) as (_sim, link):

        def terminal(number: int) -> None:
            conn = Connection(link)
            try:
                for i in range(25):
                    stan = number * 1000 + i
                    assert stan_of(conn.exchange(echo_request(stan))) == stan
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=terminal, args=(n,)) for n in range(1, 25)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors


def test_pipelined_requests_in_one_write_are_answered_in_order() -> None:
    with embedded_host(tls=True) as (_sim, link):
        sock = tls_client(link)
        try:
            sock.sendall(b"".join(frame(echo_request(stan)) for stan in range(1, 151)))
            replies = read_frames(sock, 150)
        finally:
            sock.close()
        assert [stan_of(r) for r in replies] == list(range(1, 151))


def test_a_client_without_a_certificate_is_refused_and_others_are_served() -> None:
    with embedded_host(tls=True) as (sim, link):
        good = Connection(link)
        try:
            assert stan_of(good.exchange(echo_request(1))) == 1
            # a TLS 1.3 client finishes its side before the host has seen its (missing) cert:
            # the refusal arrives as an alert or a close on the first read
            anonymous = tls_client(link, with_cert=False)
            try:
                anonymous.sendall(frame(echo_request(2)))
                assert closed_by_peer(anonymous)
            except (ConnectionError, ssl.SSLError):
                pass  # refused while sending
            finally:
                anonymous.close()
            assert stan_of(good.exchange(echo_request(3))) == 3
            assert still_serves(link)
        finally:
            good.close()
        assert sim.handled == 3  # the anonymous request never reached the host


def test_a_client_that_never_handshakes_is_closed_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "HANDSHAKE_TIMEOUT", 0.3)
    with embedded_host(tls=True) as (sim, link):
        started = time.monotonic()  # before connecting: the host's timer starts at accept
        silent = socket.create_connection((link.host, link.port), timeout=5)
        try:
            assert closed_by_peer(silent, within=5)
            waited = time.monotonic() - started
        finally:
            silent.close()
        assert 0.2 <= waited < 3
        assert still_serves(link)
        assert isinstance(sim._server, Server) and not sim._server._handshaking


def test_a_peer_reset_mid_message_or_mid_handshake_does_not_disturb_others() -> None:
    with embedded_host(tls=True) as (sim, link):
        good = Connection(link)
        try:
            assert stan_of(good.exchange(echo_request(1))) == 1
            half = tls_client(link)
            half.sendall(frame(echo_request(2))[:10])  # half a frame, then RST
            reset(half)
            hello = socket.create_connection((link.host, link.port), timeout=5)
            hello.sendall(b"\x16\x03\x01\x02\x00\x01\x00")  # the start of a ClientHello
            reset(hello)
            time.sleep(0.2)
            for stan in range(3, 30):
                assert stan_of(good.exchange(echo_request(stan))) == stan
            assert still_serves(link)
        finally:
            good.close()
        deadline = time.monotonic() + 5
        while sim._protocols and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not sim._protocols


def test_stop_closes_every_connection_and_the_listener() -> None:
    config = HostConfig(tls=HOST_TLS)
    sim = HostSimulator(config)
    host, port = sim.start()
    link = LinkConfig(host, port, tls=TERMINAL_TLS)
    clients = [tls_client(link) for _ in range(5)]
    for n, sock in enumerate(clients):
        sock.sendall(frame(echo_request(n + 1)))
        assert stan_of(read_frames(sock, 1)[0]) == n + 1
    handshaking = socket.create_connection((host, port), timeout=5)  # never says hello
    time.sleep(0.1)
    sim.stop()
    try:
        for sock in [*clients, handshaking]:
            assert closed_by_peer(sock, within=3)
        with pytest.raises(OSError):
            socket.create_connection((host, port), timeout=1).close()
        with pytest.raises(LinkError):
            Connection(link).exchange(echo_request(99))
    finally:
        for sock in [*clients, handshaking]:
            sock.close()


# ---------------------------------------------------------------------- a bare echo protocol


class Echo(asyncio.Protocol):
    """Echoes what it reads; records its callbacks (once each, in order)."""

    instances: list[Echo] = []

    def __init__(self) -> None:
        self.events: list[str] = []
        self.transport: asyncio.Transport | None = None
        self.most_buffered = 0
        Echo.instances.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.events.append("made")
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)  # make writes wait

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if data.startswith(b"boom"):
            raise RuntimeError("a protocol bug")
        self.transport.write(data)
        self.most_buffered = max(self.most_buffered, self.transport.get_write_buffer_size())
        if data.endswith(b"bye"):
            self.transport.close()

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")


@contextmanager
def echo_server(
    tls: bool, listener: socket.socket | None = None, factory: Callable[[], Echo] = Echo
) -> Iterator[tuple[Server, int, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener = listener or socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    context = HOST_TLS.context() if tls else None
    # No echo test is about the handshake timeout: 60 s, so that 100 mutual-TLS handshakes
    # made one after another on a loaded machine all start before their timer runs out.
    made = start_server(loop, factory, listener, context, 60.0 if tls else None)
    srv = asyncio.run_coroutine_threadsafe(made, loop).result(5)
    try:
        yield srv, port, loop
    finally:
        loop.call_soon_threadsafe(srv.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def echo_client(port: int, tls: bool) -> socket.socket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # the host must buffer
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    if not tls:
        return raw
    return TERMINAL_TLS.context().wrap_socket(raw, server_hostname="localhost")


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_a_large_echo_is_buffered_and_arrives_whole_and_in_order(tls: bool) -> None:
    Echo.instances = []
    payload = bytes(range(256)) * (4 * 4096)  # 4 MiB: more than the socket buffers hold
    with echo_server(tls) as (_srv, port, _loop):
        sock = echo_client(port, tls)
        try:
            sock.sendall(payload)  # the host keeps reading while its writes are buffered
            received = bytearray()
            while len(received) < len(payload):
                chunk = sock.recv(1 << 20)
                assert chunk
                received += chunk
        finally:
            sock.close()
        assert bytes(received) == payload
        (echo,) = Echo.instances
        assert echo.most_buffered > 0  # the writer path was taken
        assert wait_until(lambda: echo.events == ["made", "eof", "lost"])


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_close_flushes_pending_data_then_closes(tls: bool) -> None:
    Echo.instances = []
    payload = b"x" * (3 << 20) + b"bye"
    with echo_server(tls) as (_srv, port, _loop):
        sock = echo_client(port, tls)
        try:
            sock.sendall(payload)
            received = bytearray()
            while chunk := sock.recv(1 << 20):
                received += chunk
        finally:
            sock.close()
        assert bytes(received) == payload
        (echo,) = Echo.instances
        assert wait_until(lambda: echo.events == ["made", "lost"])


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_connection_lost_once_whatever_ends_the_connection(tls: bool) -> None:
    Echo.instances = []
    with echo_server(tls) as (srv, port, loop):
        polite, rude, buggy, kept = (echo_client(port, tls) for _ in range(4))
        for sock in (polite, rude, buggy, kept):
            sock.sendall(b"hello")
            assert sock.recv(100) == b"hello"
        polite.close()
        reset(rude)
        buggy.sendall(b"boom")  # the protocol raises: that connection only is dropped
        assert closed_by_peer(buggy)
        buggy.close()
        assert wait_until(lambda: sum(e.events.count("lost") for e in Echo.instances) == 3)
        kept.sendall(b"still here")
        assert kept.recv(100) == b"still here"
        survivor = next(e for e in Echo.instances if "lost" not in e.events)
        assert survivor.transport is not None
        loop.call_soon_threadsafe(survivor.transport.abort)
        loop.call_soon_threadsafe(survivor.transport.abort)  # twice: still one connection_lost
        assert closed_by_peer(kept)
        kept.close()
        assert wait_until(lambda: all(e.events.count("lost") == 1 for e in Echo.instances))
        assert all(e.events[0] == "made" and e.events[-1] == "lost" for e in Echo.instances)
        assert srv.is_serving()


def test_one_worker_closing_leaves_a_shared_listener_serving() -> None:
    """Pre-forked workers each hold a descriptor of one listener (here: ``dup``)."""
    shared = socket.create_server(("127.0.0.1", 0))
    try:
        with echo_server(False, shared.dup()) as (first, port, loop):
            with echo_server(False, shared.dup()) as (_second, _, _):
                loop.call_soon_threadsafe(first.close)
                assert wait_until(lambda: not first.is_serving())
                for _ in range(10):  # every one reaches the remaining worker
                    sock = echo_client(port, False)
                    try:
                        sock.sendall(b"ping")
                        assert sock.recv(10) == b"ping"
                    finally:
                        sock.close()
    finally:
        shared.close()


def test_many_clients_connecting_at_once_are_all_accepted() -> None:
    Echo.instances = []
    with echo_server(True) as (_srv, port, _loop):
        raws = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(100)]
        ctx = TERMINAL_TLS.context()
        socks = [ctx.wrap_socket(raw, server_hostname="localhost") for raw in raws]
        try:
            for n, sock in enumerate(socks):
                sock.sendall(b"%d" % n)
            for n, sock in enumerate(socks):
                assert sock.recv(10) == b"%d" % n
        finally:
            for sock in socks:
                sock.close()
        assert wait_until(lambda: sum(e.events.count("lost") for e in Echo.instances) == 100)
