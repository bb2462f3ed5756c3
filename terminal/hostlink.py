"""Opening the acquirer link for a run: the embedded host simulator or a real HOST:PORT."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from acquirer_client.client import AcquirerClient
from acquirer_client.messages import TerminalIdentity
from acquirer_client.saf import SafStore
from emv.ports import Clock
from terminal.config import Settings
from terminal.datakey import load_or_create
from terminal.errors import DataDirError, UsageError, reading_store
from terminal.journal import MAX_STAN, Journal
from terminal.runtime import data_dir, journal_path

log = logging.getLogger(__name__)


STAN_FILE_PATTERN = re.compile(r"[0-9]{1,6}")


class StanAllocator:
    """STANs (ISO 8583 DE 11, n6: 1..999999) that survive restarts, kept in a small file.

    The file holds the last STAN handed out.  When it is missing or damaged (not a number
    in 1..999999), counting continues after the last STAN the journal recorded, so a STAN is
    never reused within what the journal knows; only a terminal with no journaled STAN starts
    at 1.  :meth:`reserve` lets the journal record the STAN *before* the request is built;
    the client's next call then uses exactly that STAN.
    """

    def __init__(
        self, path: Path, latest_journaled: Callable[[], int | None] | None = None
    ) -> None:
        self.path = path
        self._latest_journaled = latest_journaled or (lambda: None)
        self._reserved: int | None = None

    def _last_used(self) -> int:
        try:
            text = self.path.read_bytes().decode("ascii").strip()
        except FileNotFoundError:
            problem = "missing"
        except (OSError, UnicodeDecodeError):
            problem = "unreadable"
        else:
            if STAN_FILE_PATTERN.fullmatch(text) and 0 < int(text) <= MAX_STAN:
                return int(text)
            problem = "damaged"
        journaled = self._latest_journaled()
        if journaled is None:
            if problem != "missing":
                log.warning(
                    "STAN file %s is %s; no STAN in the journal, starting at 1", self.path, problem
                )
            return 0
        log.warning(
            "STAN file %s is %s; continuing after STAN %06d, the last one in the journal",
            self.path,
            problem,
            journaled,
        )
        return journaled

    def _next(self) -> int:
        value = self._last_used() % MAX_STAN + 1
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as handle:
                handle.write(str(value))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise DataDirError(
                f"The STAN file {self.path} cannot be written ({exc.strerror or exc}); "
                "point POS_DATA_DIR at a writable folder."
            ) from None
        return value

    def reserve(self) -> int:
        self._reserved = self._next()
        return self._reserved

    def __call__(self) -> int:
        if self._reserved is not None:
            value, self._reserved = self._reserved, None
            return value
        return self._next()


def latest_journaled_stan(path: Path) -> int | None:
    """The last STAN the journal at ``path`` recorded; None when there is no journal yet."""
    if not path.is_file():
        return None
    journal = Journal(path)
    try:
        return journal.latest_stan()
    finally:
        journal.close()


def _reversal_store(base: Path) -> SafStore:
    """Durable reversal and advice queue; advices are sealed under the data key."""
    path = base / "saf.sqlite"
    with reading_store("store-and-forward", path):
        return SafStore(path, data_key=load_or_create(base / "keys" / "data.key"))


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
    journal_file = journal_path(settings)
    stan = StanAllocator(base / "stan", lambda: latest_journaled_stan(journal_file))
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
