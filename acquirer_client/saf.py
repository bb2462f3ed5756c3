"""Durable reversal queue and store-and-forward advice queue (SQLite).

* Reversals (ISO 8583 0400): persisted **armed** before the original request leaves, made
  **due** when its answer is lost (or the card declines after approval), and deleted only when
  the host answers 0410.  An armed reversal found when the store opens means the terminal
  stopped mid-transaction: it becomes due.  A reversal holds no card data (see
  ``messages.reversal_request``), so nothing sensitive is kept at rest.
* Advices (0220) for offline-approved transactions (EMV Book 3 10.8, TC under the floor
  limit): kept until the host answers 0230, within a count ceiling and an amount ceiling
  per currency; when full, :meth:`SafStore.can_accept` says no and the terminal must stop
  approving offline.  An advice carries the PAN, so it is stored encrypted (AES-256-GCM)
  under the injected data key, with the queue key as associated data.

Every retry sends the stored message unchanged: same STAN, same DE 7 and DE 90, so the host
can de-duplicate.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from acquirer_client import messages as m

SCHEMA = """
CREATE TABLE IF NOT EXISTS reversals (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, message TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS advices (
    key TEXT PRIMARY KEY, currency INTEGER NOT NULL, amount_minor INTEGER NOT NULL,
    sealed BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL
);
"""


class SafError(Exception):
    """The store cannot do what was asked (full, no data key, unreadable entry)."""


class SafStore:
    """Implements :class:`acquirer_client.client.ReversalStore` plus the advice queue."""

    def __init__(
        self,
        path: str | Path,
        *,
        data_key: bytes | None = None,
        max_advice_count: int = 100,
        max_advice_amount_minor: int = 1_000_000,
    ) -> None:
        if data_key is not None and len(data_key) != 32:
            raise SafError("the store-and-forward data key must be 32 bytes (AES-256).")
        self._aead = AESGCM(data_key) if data_key is not None else None
        self.max_advice_count = max_advice_count
        self.max_advice_amount_minor = max_advice_amount_minor
        self._lock = threading.Lock()
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            # Crash recovery: an armed reversal means the answer to its original never arrived.
            self._db.execute("UPDATE reversals SET state = 'due' WHERE state = 'armed'")
        except BaseException:
            self._db.close()  # a damaged file (sqlite3.DatabaseError) is the caller's to report
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ reversals

    def arm(self, key: str, reversal: m.IsoDoc) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO reversals (key, state, message, created) VALUES (?, 'armed', ?, ?) "
                "ON CONFLICT(key) DO NOTHING",
                (key, json.dumps(reversal, sort_keys=True), time.time()),
            )

    def disarm(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM reversals WHERE key = ? AND state = 'armed'", (key,))

    def make_due(self, key: str) -> None:
        with self._lock:
            self._db.execute("UPDATE reversals SET state = 'due' WHERE key = ?", (key,))

    def due(self) -> list[tuple[str, m.IsoDoc]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, message FROM reversals WHERE state = 'due' ORDER BY created, key"
            ).fetchall()
        return [(str(k), json.loads(v)) for k, v in rows]

    def acknowledged(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM reversals WHERE key = ?", (key,))

    def attempted(self, key: str) -> None:
        with self._lock:
            self._db.execute("UPDATE reversals SET attempts = attempts + 1 WHERE key = ?", (key,))
            self._db.execute("UPDATE advices SET attempts = attempts + 1 WHERE key = ?", (key,))

    # ------------------------------------------------------------------ advices

    def advice_totals(self, currency: int) -> tuple[int, int]:
        """(count of all queued advices, amount queued in ``currency``)."""
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM advices").fetchone()[0]
            amount = self._db.execute(
                "SELECT COALESCE(SUM(amount_minor), 0) FROM advices WHERE currency = ?",
                (currency,),
            ).fetchone()[0]
        return int(count), int(amount)

    def can_accept(self, amount_minor: int, currency: int) -> bool:
        """Whether one more offline approval of this amount still fits under the ceilings."""
        count, amount = self.advice_totals(currency)
        return (
            count + 1 <= self.max_advice_count
            and amount + amount_minor <= self.max_advice_amount_minor
        )

    def enqueue_advice(self, key: str, advice: Mapping[str, str]) -> None:
        if self._aead is None:
            raise SafError("store-and-forward needs a data key to keep advices encrypted.")
        amount, currency = int(advice.get("4", "0")), int(advice.get("49", "0"))
        if not self.can_accept(amount, currency):
            raise SafError("the store-and-forward queue is full; offline approval must stop.")
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, json.dumps(dict(advice)).encode(), key.encode())
        with self._lock:
            self._db.execute(
                "INSERT INTO advices (key, currency, amount_minor, sealed, created) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (key, currency, amount, sealed, time.time()),
            )

    def advices(self) -> list[tuple[str, m.IsoDoc]]:
        if self._aead is None:
            raise SafError("store-and-forward needs its data key to read queued advices.")
        with self._lock:
            rows = self._db.execute(
                "SELECT key, sealed FROM advices ORDER BY created, key"
            ).fetchall()
        out: list[tuple[str, m.IsoDoc]] = []
        for key, sealed in rows:
            blob = bytes(sealed)
            try:
                plain = self._aead.decrypt(blob[:12], blob[12:], str(key).encode())
            except InvalidTag:
                raise SafError(
                    "a queued advice cannot be decrypted; the data key is wrong or the store "
                    "was tampered with."
                ) from None
            out.append((str(key), json.loads(plain)))
        return out

    def advice_sent(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM advices WHERE key = ?", (key,))
