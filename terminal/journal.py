"""The transaction journal: SQLite in WAL mode, append-only, hash-chained.

Every state change is written *before* the action it guards (request sent, card
completion, receipt).  Rows can only be inserted: triggers refuse UPDATE and DELETE, and
each row carries SHA-256(previous hash || row) so that tampering with the file is
detected by :meth:`Journal.verify` (``pos journal verify``).

No full PAN, PIN, CVV or track data is ever written: :func:`guard_payload` refuses any
payload that contains a Luhn-valid 13-19 digit number.
"""

from __future__ import annotations

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

from terminal.faults import after_journal_event

GENESIS = "0" * 64
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
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def new_transaction_id(self) -> str:
        """16 characters starting with a letter, so an id can never look like a PAN."""
        return "t" + uuid.uuid4().hex[:15]

    def append(self, txn_id: str, kind: str, **payload: Any) -> int:
        text = guard_payload(payload)
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
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
        for seq, txn_id, at, kind, payload, prev_hash, digest in self._db.execute(
            "SELECT * FROM events ORDER BY seq"
        ):
            count += 1
            if prev_hash != prev or _digest(prev, seq, txn_id, at, kind, payload) != digest:
                return False, seq, count
            prev = digest
        return True, None, count

    def _fold(self, where: str = "", args: tuple[str, ...] = ()) -> list[JournalEntry]:
        folded: dict[str, JournalEntry] = {}
        for txn_id, at, kind, payload in self._db.execute(
            f"SELECT txn_id, at, kind, payload FROM events {where} ORDER BY seq",  # noqa: S608
            args,
        ):
            entry = folded.setdefault(txn_id, JournalEntry(txn_id, at))
            entry.kinds.append(kind)
            entry.data.update(json.loads(payload))
        return list(folded.values())

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
