"""Loopback ports for "nothing answers there" tests that a parallel test cannot take over.

Binding port 0, closing the socket and using the number later leaves a window in which the
other xdist worker's host, printer or simulated card may be given the same port - and every
embedded host serves the same test TLS certificate the terminal pins, so it would answer.
These keep the port bound for the whole test instead: a TCP port bound but never listening
refuses every connection; a bound UDP socket that is never read answers nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def refusing_tcp_port() -> Iterator[int]:
    """A 127.0.0.1 TCP port that refuses connections until the block ends."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


@contextmanager
def silent_udp_port() -> Iterator[int]:
    """A 127.0.0.1 UDP port where nothing answers (no simulated card in the field)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])
