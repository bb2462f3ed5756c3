"""Acquirer and issuer host simulator (TEST infrastructure, honest about the protocol).

* :class:`HostSimulator` - threaded ISO 8583 server over TCP or TLS 1.3 with mutual auth;
* :func:`embedded_host` - a host on 127.0.0.1 with an ephemeral port, for ``pos pay --host
  embedded`` and tests; yields the simulator and the terminal's :class:`LinkConfig`;
* :func:`test_tls` - the shipped TEST-ONLY TLS material for both ends (pin included).
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from acquirer_client.link import LinkConfig, TlsConfig
from hardware_sim.host.config import HostConfig, HostTls
from hardware_sim.host.server import FAULTS, HostSimulator

__all__ = ["FAULTS", "HostConfig", "HostSimulator", "HostTls", "embedded_host", "test_tls"]


def _tls_dir() -> Path:
    return Path(str(resources.files("hardware_sim.data.tls")))


def test_tls() -> tuple[HostTls, TlsConfig]:
    """TEST-ONLY: (host side, terminal side) TLS material; the terminal pins the host cert."""
    d = _tls_dir()
    host = HostTls(d / "host.pem", d / "host-key.pem", d / "ca.pem")
    der = ssl.PEM_cert_to_DER_cert((d / "host.pem").read_text())
    terminal = TlsConfig(
        ca_file=d / "ca.pem",
        cert_file=d / "terminal.pem",
        key_file=d / "terminal-key.pem",
        pinned_sha256=hashlib.sha256(der).digest(),
        server_hostname="localhost",
    )
    return host, terminal


test_tls.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@contextmanager
def embedded_host(
    tls: bool = True, config: HostConfig | None = None, **link: Any
) -> Iterator[tuple[HostSimulator, LinkConfig]]:
    """Start a host on 127.0.0.1:ephemeral; yield it and the link config to reach it."""
    config = config or HostConfig()
    host_tls, terminal_tls = test_tls()
    config.host, config.port = "127.0.0.1", 0
    config.tls = host_tls if tls else None
    sim = HostSimulator(config)
    host, port = sim.start()
    try:
        yield (
            sim,
            LinkConfig(host, port, tls=terminal_tls if tls else None, plain_tcp=not tls, **link),
        )
    finally:
        sim.stop()
