"""Errors that reach a cashier or a CLI user as one clear sentence."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


class UserFacingError(Exception):
    """An error whose message says what happened and what to do."""

    exit_code = 1


class UsageError(UserFacingError):
    """A wrong command-line argument."""

    exit_code = 2


class ConfigError(UserFacingError):
    """A broken or inconsistent configuration file."""

    exit_code = 2


class DataDirError(UserFacingError):
    """The terminal's data folder (POS_DATA_DIR), or a file in it, cannot be used."""

    exit_code = 2


class DamagedStoreError(UserFacingError):
    """A terminal data file (journal, batch, queue) that can no longer be read."""

    exit_code = 2

    def __init__(self, label: str, path: object, reason: str) -> None:
        super().__init__(
            f"The {label} file {path} is damaged ({reason}); stop taking payments, keep the "
            "file for support and restore the last backup."
        )


_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def is_damaged_database(exc: BaseException) -> bool:
    """Whether SQLite says the file is not a database or is malformed (not busy, not locked)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _DAMAGE_CODES  # low byte: the primary code


@contextlib.contextmanager
def reading_store(label: str, path: object) -> Iterator[None]:
    """Turn SQLite's "file is not a database" or "malformed" into :class:`DamagedStoreError`."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if is_damaged_database(exc):
            raise DamagedStoreError(label, path, str(exc)) from None
        raise
