"""Wiring the edges: readers, the host link, the clock and randomness for one run.

Everything that opens a device or a socket is created here, from the command-line
options or the configuration, so the kernel and the service stay free of I/O.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from emv.ports import CardTransport, FixedClock, SystemClock
from terminal.config import Settings
from terminal.errors import DataDirError, UsageError, UserFacingError


class DeterministicRandom:
    """Random source for reproducible runs: the first 4-byte draw is the given UN."""

    def __init__(self, unpredictable_number: bytes) -> None:
        self._first = unpredictable_number
        self._counter = 0

    def random_bytes(self, count: int) -> bytes:
        if self._first is not None and count == len(self._first):
            first, self._first = self._first, None  # type: ignore[assignment]
            return first
        out = b""
        while len(out) < count:
            self._counter += 1
            out += hashlib.sha256(b"pos-det:" + self._counter.to_bytes(4, "big")).digest()
        return out[:count]


def make_clock(txn_datetime: str | None) -> FixedClock | SystemClock:
    if not txn_datetime:
        return SystemClock()
    try:
        return FixedClock(datetime.fromisoformat(txn_datetime))
    except ValueError:
        raise UsageError(
            f"--txn-datetime '{txn_datetime}' is not ISO 8601, e.g. 2026-11-24T10:30:00"
        ) from None


def make_random(hex_un: str | None) -> Any:
    from emv.ports import SystemRandom

    if not hex_un:
        return SystemRandom()
    try:
        raw = bytes.fromhex(hex_un)
    except ValueError:
        raw = b""
    if len(raw) != 4:
        raise UsageError("--unpredictable-number must be 8 hex digits (4 bytes), e.g. 1A2B3C4D")
    return DeterministicRandom(raw)


def data_dir() -> Path:
    """The folder for the journal, batch, queues and keys, created if needed.

    ``POS_DATA_DIR`` names it; unset or empty means the user's data folder.  A path that is
    not a writable directory is refused with one sentence (:class:`DataDirError`).
    """
    env = os.environ.get("POS_DATA_DIR")
    if env:
        folder = Path(env)
    else:
        import platformdirs

        folder = Path(platformdirs.user_data_dir("pos-terminal"))
    problem = _unusable_reason(folder)
    if problem and env:
        raise DataDirError(
            f"POS_DATA_DIR '{folder}' is not a usable directory ({problem}); "
            "point it at a writable folder."
        )
    if problem:
        raise DataDirError(
            f"The data folder '{folder}' is not a usable directory ({problem}); "
            "set POS_DATA_DIR to a writable folder."
        )
    return folder


# Folders this process has already written a probe file in: data_dir() is called several
# times per sale, and one create-and-delete per folder is enough to know it is writable.
_WRITABLE_FOLDERS: set[Path] = set()


def _unusable_reason(folder: Path) -> str:
    """Why ``folder`` cannot hold the terminal's files ("" when it can), creating it if new."""
    try:
        if folder.exists() and not folder.is_dir():
            return os.strerror(errno.ENOTDIR)
        folder.mkdir(parents=True, exist_ok=True)
        if folder not in _WRITABLE_FOLDERS:
            with tempfile.TemporaryFile(dir=folder):
                pass
            _WRITABLE_FOLDERS.add(folder)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return ""


def journal_path(settings: Settings) -> Path:
    return Path(settings.journal_path) if settings.journal_path else data_dir() / "journal.sqlite"


@dataclass
class ReaderChoice:
    kind: str  # sim | pcsc | nfc
    detail: str


def parse_reader(spec: str) -> ReaderChoice:
    kind, _, detail = spec.partition(":")
    if kind not in ("sim", "pcsc", "nfc"):
        raise UsageError(f"--reader '{spec}' is not one of sim, pcsc[:NAME], nfc[:DEVICE]")
    if kind == "sim" and detail:
        raise UsageError(f"--reader '{spec}': the simulated reader takes no name; use --card")
    if kind == "nfc" and detail.startswith("udp:"):
        host, _, port = detail.removeprefix("udp:").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(
                f"--reader '{spec}' wants nfc:udp:HOST:PORT, e.g. nfc:udp:localhost:54321"
            )
    return ReaderChoice(kind, detail)


@contextlib.contextmanager
def open_reader(
    choice: ReaderChoice,
    card: Any,
    *,
    interface: str = "contact",
    timeout: float = 15.0,
) -> Iterator[CardTransport]:
    """Open the reader; for ``sim`` the given simulated card is inserted in-process."""
    if choice.kind == "sim":
        if interface == "contactless":
            from hardware_sim.contactless import InProcessTransport

            yield InProcessTransport(card)
            return
        from hardware_sim.reader import InProcessReader

        yield InProcessReader(card)
        return
    if choice.kind == "pcsc":
        from terminal.readers.pcsc import PcscReader

        reader = PcscReader(choice.detail or None, interface=interface)
        try:
            reader.wait_for_card(timeout)
            yield reader
        finally:
            reader.close()
        return
    from terminal.readers.nfc import NfcReader

    nfc = NfcReader(choice.detail or "usb")
    try:
        nfc.wait_for_card(timeout)
        yield nfc
    finally:
        nfc.close()


def load_sim_card(profile: str | None, trace_file: str | None, interface: str = "contact") -> Any:
    if trace_file:
        from hardware_sim.replay import ReplayCard
        from terminal.trace import unseal_replay

        try:
            opened = unseal_replay(trace_file)
            if isinstance(opened, dict):
                return ReplayCard.from_dict(opened, f"replay file {trace_file}")
            return ReplayCard.from_file(trace_file)
        except FileNotFoundError:
            raise UsageError(f"--card-trace file '{trace_file}' does not exist") from None
        except (ValueError, OSError) as exc:
            raise UsageError(f"--card-trace file '{trace_file}' is not usable: {exc}") from None
    if interface == "contactless":
        from hardware_sim.contactless import list_contactless_profiles, load_contactless_card

        name = profile or "visa_qvsdc"
        try:
            return load_contactless_card(name)
        except KeyError:
            names = ", ".join(list_contactless_profiles())
            raise UsageError(
                f"unknown contactless card profile '{name}'; contactless profiles: {names}"
            ) from None
    from hardware_sim.card import list_profiles, load_card

    name = profile or "visa_credit"
    try:
        return load_card(name)
    except KeyError:
        names = ", ".join(n for n, _ in list_profiles())
        raise UsageError(f"unknown card profile '{name}'; 'pos sim cards' lists: {names}") from None


class HostUnavailable(UserFacingError):
    pass
