"""Opening the acquirer link for a run: the embedded host simulator or a real HOST:PORT."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from acquirer_client.client import AcquirerClient
from acquirer_client.messages import TerminalIdentity
from acquirer_client.saf import SafStore
from emv.ports import Clock
from terminal.config import Settings
from terminal.datakey import load_or_create
from terminal.errors import UsageError
from terminal.runtime import data_dir


class StanAllocator:
    """STANs that survive restarts (DE 11, 1..999999), kept in a small file.

    :meth:`reserve` lets the journal record the STAN *before* the request is built; the
    client's next call then uses exactly that STAN.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reserved: int | None = None

    def _next(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            current = int(self.path.read_text().strip() or "0")
        except (FileNotFoundError, ValueError):
            current = 0
        value = current % 999_999 + 1
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            handle.write(str(value))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        return value

    def reserve(self) -> int:
        self._reserved = self._next()
        return self._reserved

    def __call__(self) -> int:
        if self._reserved is not None:
            value, self._reserved = self._reserved, None
            return value
        return self._next()


def _reversal_store(base: Path) -> SafStore:
    """Durable reversal and advice queue; advices are sealed under the data key."""
    return SafStore(base / "saf.sqlite", data_key=load_or_create(base / "keys" / "data.key"))


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--host '{address}' must be 'embedded' or HOST:PORT, e.g. 127.0.0.1:8583")
    return host, int(port)


@contextlib.contextmanager
def open_authoriser(
    settings: Settings,
    address: str,
    *,
    plain_tcp: bool = False,
    clock: Clock | None = None,
    host_config: object | None = None,
) -> Iterator[AcquirerClient | None]:
    """``host_config`` (a ``hardware_sim.host.HostConfig``) tunes the embedded host only."""
    cfg = settings.emv
    identity = TerminalIdentity(cfg.terminal_id, cfg.merchant_id, cfg.acquirer_id)
    base = data_dir()
    base.mkdir(parents=True, exist_ok=True)
    stan = StanAllocator(base / "stan")
    timeouts = {
        "connect_timeout": settings.host.connect_timeout,
        "read_timeout": settings.host.read_timeout,
        "overall_timeout": settings.host.total_timeout,
    }
    tls = settings.host.tls and not plain_tcp
    if address == "none":
        yield None
        return
    if address == "embedded":
        from hardware_sim.host import embedded_host

        with embedded_host(tls=tls, config=host_config, **timeouts) as (_sim, link):  # type: ignore[arg-type]
            store = _reversal_store(base)
            client = AcquirerClient(
                link, identity, stan, clock=clock, reversals=store, advices=store
            )
            try:
                yield client
            finally:
                client.close()
        return
    from acquirer_client.link import LinkConfig

    host, port = parse_address(address)
    terminal_tls = None
    if tls:
        from hardware_sim.host import test_tls

        terminal_tls = test_tls()[1]  # TEST-ONLY material: real deployments configure their own
    link = LinkConfig(host, port, tls=terminal_tls, plain_tcp=not tls, **timeouts)
    store = _reversal_store(base)
    client = AcquirerClient(link, identity, stan, clock=clock, reversals=store, advices=store)
    try:
        yield client
    finally:
        client.close()
