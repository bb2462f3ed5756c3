"""The current settlement batch: what the terminal will reconcile and, if asked, upload.

Each approved transaction's original ISO 8583 request (0200 sale or refund, 0220 offline
advice or completion, 0100 pre-authorisation kept only to build its completion) is stored
**sealed** with AES-256-GCM under the terminal data key (``terminal.datakey``), associated data
``batch:<number>:<txn id>``.  Before sealing, everything a batch does not need is dropped:
track 2 (DE 35), the PIN block and KSN (DE 52/53), the biometric block (DE 62) and MACs — PCI
DSS 3.2 forbids keeping them after authorisation.  The PAN stays only while the batch is open
(a 0320 batch upload needs it) and is destroyed when the batch closes: rows are deleted with
SQLite ``secure_delete`` on (freed pages are zeroed) and the file is vacuumed.

Amounts, currency, STAN and the card scheme are kept in clear beside the sealed document so
totals can be shown without decrypting card data.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from terminal.errors import UserFacingError, reading_store

# Fields a batch record needs (ISO 8583:1987): MTI, PAN, processing code, amount, dates, STAN,
# expiry, entry mode, PSN, condition code, acquirer/terminal/merchant ids, currency, additional
# amounts, ICC data, authorisation code and original data elements (completions).
KEPT_FIELDS = frozenset(
    {"t", "2", "3", "4", "7", "11", "12", "13", "14", "22", "23", "25", "32", "38", "41", "42"}
    | {"49", "54", "55", "90"}
)
CREDIT_PROCESSING = ("20",)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    txn_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    stan TEXT NOT NULL,
    currency INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    credit INTEGER NOT NULL,
    scheme TEXT NOT NULL,
    in_totals INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    created REAL NOT NULL
);
"""


class BatchError(UserFacingError):
    """The batch store cannot do what was asked."""


@cache
def _schemes() -> dict[str, str]:
    text = resources.files("terminal.data").joinpath("card_schemes.json").read_text()
    return {k: str(v) for k, v in json.loads(text).items() if not k.startswith("_")}


def scheme_for_aid(aid_hex: str) -> str:
    """Card scheme from the AID's RID (its first 5 bytes, ISO/IEC 7816-5)."""
    rid = aid_hex.strip().upper()[:10]
    if len(rid) < 10:
        return "Unknown"
    return _schemes().get(rid, f"Other (RID {rid})")


def batch_document(doc: Mapping[str, str]) -> dict[str, str]:
    """The request without what must not outlive authorisation (track 2, PIN, biometrics)."""
    return {k: str(v) for k, v in doc.items() if k in KEPT_FIELDS}


@dataclass(frozen=True)
class BatchRecord:
    txn_id: str
    kind: str  # sale | refund | advice | completion | preauth
    state: str  # open | voided | completed (a pre-authorisation that was completed)
    stan: str
    currency_numeric: int
    amount_minor: int
    credit: bool
    scheme: str
    in_totals: bool
    document: dict[str, str]


class Batch:
    """The open batch in ``path`` (SQLite, WAL); ``data_key`` is the 32-byte AES key."""

    def __init__(self, path: str | Path, data_key: bytes) -> None:
        if len(data_key) != 32:
            raise BatchError("the batch needs the 32-byte terminal data key (AES-256).")
        self._aead = AESGCM(data_key)
        self._lock = threading.Lock()
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            with self._reading():
                self._db.execute("PRAGMA secure_delete=ON")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('batch_number', '1')")
        except BaseException:
            self._db.close()
            raise

    def _reading(self) -> contextlib.AbstractContextManager[None]:
        """SQLite damage becomes one sentence naming this file (see ``reading_store``)."""
        return reading_store("batch", self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def number(self) -> int:
        with self._lock, self._reading():
            row = self._db.execute("SELECT value FROM meta WHERE name = 'batch_number'").fetchone()
        return int(row[0])

    def _aad(self, txn_id: str, number: int | None = None) -> bytes:
        return f"batch:{self.number if number is None else number}:{txn_id}".encode()

    def _seal(self, txn_id: str, doc: Mapping[str, str], number: int | None = None) -> bytes:
        nonce = os.urandom(12)
        plain = json.dumps(dict(doc), sort_keys=True).encode()
        return nonce + self._aead.encrypt(nonce, plain, self._aad(txn_id, number))

    def add(
        self, txn_id: str, kind: str, doc: Mapping[str, str], *, scheme: str, in_totals: bool
    ) -> BatchRecord:
        """Seal and store one approved transaction's request (idempotent per ``txn_id``)."""
        clean = batch_document(doc)
        try:
            currency, amount = int(clean["49"]), int(clean["4"])
            stan = clean["11"]
        except (KeyError, ValueError):
            raise BatchError("a batch record needs its amount, currency and STAN.") from None
        credit = clean.get("3", "00")[:2] in CREDIT_PROCESSING
        sealed = self._seal(txn_id, clean)
        with self._lock, self._reading():
            self._db.execute(
                "INSERT INTO records VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(txn_id) DO NOTHING",
                (
                    txn_id,
                    kind,
                    stan,
                    currency,
                    amount,
                    int(credit),
                    scheme,
                    int(in_totals),
                    sealed,
                    time.time(),
                ),
            )
        record = self.get(txn_id)
        if record is None:
            raise BatchError("the batch record could not be written back; check the disk.")
        return record

    def get(self, txn_id: str) -> BatchRecord | None:
        with self._lock, self._reading():
            row = self._db.execute(
                "SELECT txn_id, kind, state, stan, currency, amount_minor, credit, scheme, "
                "in_totals, sealed FROM records WHERE txn_id = ?",
                (txn_id,),
            ).fetchone()
        return self._record(row) if row else None

    def records(self) -> list[BatchRecord]:
        """Every record of the open batch, oldest first (sealed documents opened)."""
        with self._lock, self._reading():
            rows = self._db.execute(
                "SELECT txn_id, kind, state, stan, currency, amount_minor, credit, scheme, "
                "in_totals, sealed FROM records ORDER BY created, txn_id"
            ).fetchall()
        return [self._record(r) for r in rows]

    def _record(self, row: tuple[Any, ...]) -> BatchRecord:
        txn_id, kind, state, stan, cur, amount, credit, scheme, in_totals, sealed = row
        blob = bytes(sealed)
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], self._aad(str(txn_id)))
        except InvalidTag:
            raise BatchError(
                "a batch record cannot be decrypted; the data key is wrong or the batch file "
                "was tampered with - restore both from the same backup."
            ) from None
        return BatchRecord(
            str(txn_id),
            str(kind),
            str(state),
            str(stan),
            int(cur),
            int(amount),
            bool(credit),
            str(scheme),
            bool(in_totals),
            json.loads(plain),
        )

    def mark(self, txn_id: str, state: str) -> None:
        """Set a record's state: ``voided`` (left out of totals) or ``completed`` (pre-auth)."""
        if state not in ("open", "voided", "completed"):
            raise ValueError(f"unknown batch record state {state!r}")
        with self._lock, self._reading():
            self._db.execute("UPDATE records SET state = ? WHERE txn_id = ?", (state, txn_id))

    def close_batch(self) -> int:
        """Destroy every record (card data included) and open the next batch; return its number.

        Open pre-authorisations are carried into the next batch (they settle when completed);
        they are sealed again under the new batch number in the same SQLite transaction.
        """
        nxt = self.number % 999_999 + 1
        carried = [
            (r, self._seal(r.txn_id, r.document, nxt))
            for r in self.records()
            if r.kind == "preauth" and r.state == "open"
        ]
        with self._lock, self._reading():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM records")
                for r, sealed in carried:
                    self._db.execute(
                        "INSERT INTO records VALUES (?, ?, 'open', ?, ?, ?, ?, ?, 0, ?, ?)",
                        (
                            r.txn_id,
                            r.kind,
                            r.stan,
                            r.currency_numeric,
                            r.amount_minor,
                            int(r.credit),
                            r.scheme,
                            sealed,
                            time.time(),
                        ),
                    )
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE name = 'batch_number'", (str(nxt),)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return nxt
