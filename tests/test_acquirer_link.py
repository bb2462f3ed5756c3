"""The acquirer client against the host simulator over real loopback sockets (TLS and TCP)."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import replace

import pytest

from acquirer_client import messages as m
from acquirer_client.client import AcquirerClient, counter_stan_source
from acquirer_client.framing import FrameDecoder, FramingError, frame
from acquirer_client.link import LinkConfig
from emv.ports import OnlineUnavailable
from hardware_sim.host import HostConfig, embedded_host, test_tls
from hardware_sim.host.testcards import luhn_complete, online_request
from tests.net_support import refusing_tcp_port

TERMINAL = m.TerminalIdentity("TERM0001", "MERCHANT000001", "123456")
# The faulted request's timeout is under test; every other exchange on these links (a
# reversal, the next approval: ~20 ms here) gets 5 s, ample on a loaded CI machine.
FAST = {
    "connect_timeout": 5.0,
    "read_timeout": 4.0,
    "overall_timeout": 5.0,
}


def _client(link: LinkConfig, start: int = 1) -> AcquirerClient:
    return AcquirerClient(link, TERMINAL, counter_stan_source(start))


def test_framing() -> None:
    assert frame(b"abc") == b"\x00\x03abc"
    dec = FrameDecoder()
    assert dec.feed(b"\x00\x03a") == []
    assert dec.feed(b"bc\x00\x01z\x00") == [b"abc", b"z"]
    assert dec.pending == 1
    with pytest.raises(FramingError):
        FrameDecoder().feed(b"\x00\x00")
    with pytest.raises(FramingError):
        frame(b"")


def test_tls_is_the_default() -> None:
    with pytest.raises(ValueError, match="TLS"):
        LinkConfig("127.0.0.1", 1)


@pytest.mark.parametrize("tls", [True, False])
def test_approval_over_the_wire(tls: bool) -> None:
    with embedded_host(tls=tls) as (sim, link), _client(link) as client:
        response = client.authorise(online_request(amount_minor=1234))
        assert response.approved and response.stan == "000001"
        assert response.issuer_authentication_data is not None
        assert response.issuer_authentication_data[-2:] == b"00"
        # the connection is kept and reused for the next one
        assert client.authorise(online_request(amount_minor=66, atc=2)).approved
        assert sim.ledger.net_charged("TERM0001") == 1300
        assert client.reversals.due() == []


def test_decline_over_tls() -> None:
    with embedded_host() as (sim, link), _client(link) as client:
        response = client.authorise(online_request(amount_minor=1051))
        assert response.response_code == "51" and not response.approved
        assert sim.ledger.net_charged() == 0


def test_wrong_pin_refuses_before_sending() -> None:
    with embedded_host() as (sim, link):
        assert link.tls is not None
        bad = replace(link, tls=replace(link.tls, pinned_sha256=bytes(32)))
        with _client(bad) as client, pytest.raises(OnlineUnavailable, match="pinned"):
            client.authorise(online_request())
        assert client.reversals.due() == []
        assert sim.ledger.rows() == []


def test_host_requires_client_certificate() -> None:
    with embedded_host() as (sim, link):
        ctx = ssl.create_default_context(cafile=str(test_tls()[1].ca_file))
        with socket.create_connection((link.host, link.port), timeout=2) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls_sock:
                tls_sock.settimeout(2)
                with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                    tls_sock.sendall(frame(b"0800"))
                    if not tls_sock.recv(10):
                        raise ConnectionResetError("closed")
        assert sim.handled == 0


def test_unreachable_host_is_unavailable_without_reversal() -> None:
    with refusing_tcp_port() as port:
        link = LinkConfig("127.0.0.1", port, plain_tcp=True, **FAST)
        with _client(link) as client, pytest.raises(OnlineUnavailable, match="cannot reach"):
            client.authorise(online_request())
    assert client.reversals.due() == []


@pytest.mark.parametrize(
    "fault", ["delay", "drop_before", "drop_after", "garble", "late_after_reversal"]
)
def test_fault_ends_with_ledger_and_reversal_queue_agreeing(fault: str) -> None:
    config = HostConfig(fault_delay_seconds=10.0)
    with embedded_host(config=config, **FAST) as (sim, link), _client(link) as client:
        sim.inject(fault)
        with pytest.raises(OnlineUnavailable):
            client.authorise(online_request(amount_minor=5000))
        assert len(client.reversals.due()) == 1
        # the next transaction first clears the reversal, then goes through normally
        assert client.authorise(online_request(amount_minor=700, atc=2)).approved
        assert client.reversals.due() == []
        assert sim.ledger.net_charged() == 700
        first = [r for r in sim.ledger.rows() if r.stan == "000001"]
        if fault == "drop_before":
            assert [r.kind for r in first] == ["reversal"]
            assert first[0].status == "unmatched"
        else:
            assert [(r.kind, r.status) for r in first] == [
                ("financial", "reversed"),
                ("reversal", "applied"),
            ]


def test_answer_twice_is_harmless() -> None:
    with embedded_host(**FAST) as (sim, link), _client(link) as client:
        sim.inject("twice")
        assert client.authorise(online_request(amount_minor=100)).approved
        assert client.authorise(online_request(amount_minor=200, atc=2)).approved
        assert client.authorise(online_request(amount_minor=300, atc=3)).approved
        assert sim.ledger.net_charged() == 600
        assert client.reversals.due() == []


def test_card_decline_after_approval_reverses() -> None:
    with embedded_host() as (sim, link), _client(link) as client:
        assert client.authorise(online_request(amount_minor=900)).approved
        client.reverse_last()
        assert client.reversals.due() == []
        assert sim.ledger.net_charged() == 0


def test_host_survives_garbage_and_serves_others() -> None:
    with embedded_host(tls=False) as (sim, link):
        for junk in (b"\x00\x05hello", b"\x00\x04\xff\xff\xff\xff", b"\x00\x00", b"\xff\xff"):
            with socket.create_connection((link.host, link.port), timeout=2) as s:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                assert s.recv(100) == b""  # closed without an answer
        with _client(link) as client:
            assert client.authorise(online_request()).approved
        assert sim.unreadable_messages >= 2


def test_many_terminals_at_once() -> None:
    results: list[bool] = []
    errors: list[BaseException] = []
    with embedded_host() as (sim, link):

        def terminal(n: int) -> None:
            tid = m.TerminalIdentity(f"T{n:07d}", "MERCHANT000001", "123456")
            pan = luhn_complete(f"476173900102{n:03d}")
            try:
                with AcquirerClient(link, tid, counter_stan_source()) as c:
                    for i in range(4):
                        req = online_request(pan, amount_minor=200 + 2 * n, atc=i + 1)
                        results.append(c.authorise(req).approved)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=terminal, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert results == [True] * 64
        assert sim.ledger.net_charged() == sum(4 * (200 + 2 * n) for n in range(16))
