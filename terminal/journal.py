"""The transaction journal: SQLite in WAL mode, append-only, hash-chained.

Every state change is written *before* the action it guards (request sent, card
completion, receipt).  Rows can only be inserted: triggers refuse UPDATE and DELETE, and
each row carries SHA-256(previous hash || row) so that tampering with the file is
detected by :meth:`Journal.verify` (``pos journal verify``).

No full PAN, PIN, CVV or track data is ever written: :func:`guard_payload` refuses any
payload that contains a Luhn-valid 13-19 digit number.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from terminal.errors import ConfigError, DamagedStoreError, reading_store
from terminal.faults import after_journal_event

GENESIS = "0" * 64
MAX_STAN = 999_999  # ISO 8583 DE 11 is n6, 000001..999999
# A PAN-like number standing as its own token (not a stretch of digits inside hex data).
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d{13,19}(?![0-9A-Za-z])")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    txn_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_txn ON events(txn_id);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        value = int(ch)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def contains_pan(text: str) -> bool:
    return any(luhn_valid(m.group()) for m in _DIGIT_RUN.finditer(text))


def guard_payload(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    if contains_pan(text):
        raise ValueError("refusing to journal a full PAN")
    return text


def _digest(prev: str, seq: int, txn_id: str, at: str, kind: str, payload: str) -> str:
    material = "|".join([prev, str(seq), txn_id, at, kind, payload]).encode()
    return hashlib.sha256(material).hexdigest()


@dataclass
class JournalEntry:
    """A transaction folded from its events."""

    txn_id: str
    started_at: str
    data: dict[str, Any] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """approved | declined | aborted | voided | void pending | reversed | reversal pending
        | in doubt | incomplete.

        An approval stays "approved" when the reversal in its history undid a lost online
        request that the card then approved offline (Y3): that sale stands, sent by advice.
        """
        kinds = self.kinds
        if "void_acknowledged" in kinds:
            return "voided"
        if "void_requested" in kinds:
            return "void pending"
        completed = "completed" in kinds
        outcome = str(self.data.get("outcome", "completed")) if completed else ""
        if outcome == "approved":
            return "approved"
        if "reversal_acknowledged" in kinds:
            return "reversed"
        if "reversal_queued" in kinds:
            return "reversal pending"
        if completed:
            return outcome
        if "online_request" in kinds:
            return "in doubt"
        return "incomplete"


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.OperationalError) as exc:
            # mkdir(exist_ok=True) says "File exists" when the parent is a file
            not_a_folder = isinstance(exc, FileExistsError)
            reason = "Not a directory" if not_a_folder else getattr(exc, "strerror", None) or exc
            raise ConfigError(
                f"The journal file {self.path} cannot be opened ({reason}); point journal_path "
                "or POS_DATA_DIR at a writable folder."
            ) from None
        try:
            with self._reading():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def _reading(self) -> contextlib.AbstractContextManager[None]:
        """SQLite damage becomes one sentence naming this file (see ``reading_store``)."""
        return reading_store("journal", self.path)

    def close(self) -> None:
        self._db.close()

    def new_transaction_id(self) -> str:
        """16 characters starting with a letter, so an id can never look like a PAN."""
        return "t" + uuid.uuid4().hex[:15]

    def append(self, txn_id: str, kind: str, **payload: Any) -> int:
        text = guard_payload(payload)
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock, self._reading():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                digest = _digest(prev, seq, txn_id, at, kind, text)
                self._db.execute(
                    "INSERT INTO events VALUES (?,?,?,?,?,?,?)",
                    (seq, txn_id, at, kind, text, prev, digest),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        after_journal_event(kind)  # TEST-ONLY crash hook; nothing unless POS_CRASH_AFTER
        return seq

    def verify(self) -> tuple[bool, int | None, int]:
        """(chain intact, first bad sequence number, rows checked)."""
        prev = GENESIS
        count = 0
        with self._reading():
            for seq, txn_id, at, kind, payload, prev_hash, digest in self._db.execute(
                "SELECT * FROM events ORDER BY seq"
            ):
                count += 1
                if prev_hash != prev or _digest(prev, seq, txn_id, at, kind, payload) != digest:
                    return False, seq, count
                prev = digest
        return True, None, count

    def _payload(self, seq: int, payload: str) -> dict[str, Any]:
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise DamagedStoreError("journal", self.path, f"record {seq} is not valid JSON")
        return data

    def _fold(self, where: str = "", args: tuple[str, ...] = ()) -> list[JournalEntry]:
        folded: dict[str, JournalEntry] = {}
        query = f"SELECT seq, txn_id, at, kind, payload FROM events {where} ORDER BY seq"  # noqa: S608
        with self._reading():
            for seq, txn_id, at, kind, payload in self._db.execute(query, args):
                entry = folded.setdefault(txn_id, JournalEntry(txn_id, at))
                entry.kinds.append(kind)
                entry.data.update(self._payload(seq, payload))
        return list(folded.values())

    def latest_stan(self) -> int | None:
        """The STAN (ISO 8583 DE 11) allocated last, as far as the journal knows; None if none.

        A STAN is journaled first when it is allocated (online request, advice, completion);
        later events of the same transaction repeat it (host response, void), so the
        (transaction, STAN) pair that first appears last is the newest allocation - also after
        the counter wrapped from 999999 back to 1.
        """
        seen: set[tuple[str, int]] = set()
        latest: int | None = None
        query = "SELECT seq, txn_id, payload FROM events WHERE payload LIKE '%\"stan\":%'"
        with self._reading():
            for seq, txn_id, payload in self._db.execute(query + " ORDER BY seq"):
                text = str(self._payload(seq, payload).get("stan", ""))
                if not (text.isascii() and text.isdigit() and 0 < int(text) <= MAX_STAN):
                    continue
                pair = (txn_id, int(text))
                if pair not in seen:
                    seen.add(pair)
                    latest = pair[1]
        return latest

    def entries(self) -> list[JournalEntry]:
        return self._fold()

    def entry(self, txn_id: str) -> JournalEntry | None:
        """One transaction, read through the txn_id index (not a fold of the whole journal)."""
        found = self._fold("WHERE txn_id = ?", (txn_id,))
        return found[0] if found else None

    def in_doubt(self) -> list[JournalEntry]:
        """Online requests sent with no recorded completion or reversal (crash recovery)."""
        return [e for e in self.entries() if e.status == "in doubt"]

    def amount_today_for(self, pan_masked: str, pan_hash: str) -> int:
        total = 0
        today = datetime.now(UTC).date().isoformat()
        # Only transactions started today are folded, not the whole journal (hot path: every
        # contact sale runs the split-sales check).
        started_today = (
            "WHERE txn_id IN (SELECT txn_id FROM events WHERE kind = 'started' AND at >= ?)"
        )
        for e in self._fold(started_today, (today,)):
            if (
                e.data.get("pan_hash") == pan_hash
                and e.started_at.startswith(today)
                and e.data.get("outcome") == "approved"
                and e.data.get("offline")
            ):
                total += int(e.data.get("amount", 0)) + int(e.data.get("other_amount", 0))
        return total
