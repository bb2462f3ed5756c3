"""The host simulator's SQLite ledger: accounts, every message it processed, AML alerts.

Each processed request is one row keyed by a de-duplication key (terminal id, STAN and the
original data elements), so a retried request is answered from the stored response and
never moves money twice.  Only masked PANs and a SHA-256 of the PAN are stored.

Durability of a file ledger: WAL journal with ``synchronous=NORMAL``.  A commit is in the WAL
(in the OS page cache) before the host answers, so a crash of the host *process* loses nothing
that was answered; a power cut or kernel crash may lose the last commits since the previous
WAL fsync (at checkpoint, which a background thread runs every half second).  That is the
trade-off accepted for a simulator (``FULL`` would add an fsync per commit); with group commit
(:meth:`Ledger.group`) an fsync would be paid once per event-loop turn, not per request.
``:memory:`` ledgers (unit tests) keep nothing at all.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    pan_hash TEXT PRIMARY KEY, pan_masked TEXT NOT NULL, balance_minor INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    mti TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,
    original_key TEXT,
    pan_hash TEXT,
    pan_masked TEXT,
    processing_code TEXT,
    amount_minor INTEGER NOT NULL DEFAULT 0,
    signed_minor INTEGER NOT NULL DEFAULT 0,
    currency TEXT,
    response_code TEXT,
    auth_code TEXT,
    rrn TEXT,
    status TEXT NOT NULL,
    settled INTEGER NOT NULL DEFAULT 0,
    response BLOB,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS by_card ON transactions (pan_hash, created);
DROP INDEX IF EXISTS by_original;
CREATE INDEX IF NOT EXISTS by_original_key ON transactions (original_key)
    WHERE original_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS aml_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id INTEGER NOT NULL,
    pan_masked TEXT NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def pan_hash(pan: str) -> str:
    return hashlib.sha256(pan.encode()).hexdigest()


@dataclass(frozen=True)
class LedgerRow:
    id: int
    kind: str
    mti: str
    terminal_id: str
    stan: str
    original_key: str | None
    pan_hash: str | None
    pan_masked: str | None
    amount_minor: int
    signed_minor: int
    currency: str | None
    response_code: str | None
    status: str


@dataclass(frozen=True)
class CardState:
    """What the issuer rules read of one card before deciding (see :meth:`Ledger.card_state`)."""

    approved_debits: int
    approved_debit_amount: int
    recent_requests: int
    balance: int | None


class Ledger:
    """Thread-safe SQLite ledger (``:memory:`` or a file path)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock_file: int | None = None
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Workers of one host queue on a kernel lock instead of SQLite's sleeping retries.
            self._lock_file = os.open(path + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        self._db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self._in_group = False
        self._insert_sql: dict[tuple[str, ...], str] = {}
        self._checkpointer: _Checkpointer | None = None
        if path != ":memory:":
            # the commit that crossed the WAL threshold used to copy the WAL back and fsync,
            # stalling every terminal on the event loop: a thread of its own does it instead
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = _Checkpointer(path)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit for this thread and, on a shared file, for other host workers.

        Inside :meth:`group` it is a savepoint: it succeeds or fails alone, and becomes
        durable with the group's one commit.
        """
        with self.lock:
            if self._in_group:
                self._db.execute("SAVEPOINT request")
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK TO request")
                    self._db.execute("RELEASE request")
                    raise
                self._db.execute("RELEASE request")
                return
            with self._exclusive():
                yield

    @contextmanager
    def group(self) -> Iterator[None]:
        """Group commit: the transactions opened inside share one ``BEGIN IMMEDIATE`` and one
        ``COMMIT`` (one WAL append instead of one per request).  The caller must release the
        answers of a group only after this block has returned (the commit happened)."""
        with self.lock:
            if self._in_group:
                yield
                return
            with self._exclusive():
                self._in_group = True
                try:
                    yield
                finally:
                    self._in_group = False

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        finally:
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self.lock:
            self._db.close()
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None

    # ----------------------------------------------------------------- accounts

    def balance(self, pan: str, default: int) -> int:
        with self.lock:
            row = self._db.execute(
                "SELECT balance_minor FROM accounts WHERE pan_hash = ?", (pan_hash(pan),)
            ).fetchone()
        return int(row[0]) if row else default

    def adjust_balance(self, pan: str, masked: str, delta: int, default: int) -> None:
        self.adjust_balance_by_hash(pan_hash(pan), masked, delta, default)

    def adjust_balance_by_hash(self, key: str, masked: str, delta: int, current: int) -> None:
        """Move ``delta`` on the account ``key``; ``current`` is its balance if not yet opened.

        One statement: opens the account at ``current + delta`` or moves the existing balance.
        """
        with self.lock:
            self._db.execute(
                "INSERT INTO accounts (pan_hash, pan_masked, balance_minor) VALUES (?, ?, ?) "
                "ON CONFLICT(pan_hash) DO UPDATE SET balance_minor = balance_minor + ?",
                (key, masked, current + delta, delta),
            )

    # ----------------------------------------------------------------- transactions

    def stored_response(self, dedupe_key: str) -> bytes | None:
        with self.lock:
            row = self._db.execute(
                "SELECT response FROM transactions WHERE dedupe_key = ?", (dedupe_key,)
            ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def lookup(self, dedupe_key: str) -> tuple[bytes | None, bool]:
        """One read for a card request: (its stored response if already answered, whether a
        reversal naming it as the original arrived first)."""
        stored: bytes | None = None
        reversed_first = False
        with self.lock:
            for is_self, response in self._db.execute(
                "SELECT dedupe_key = ?1, response FROM transactions "
                "WHERE dedupe_key = ?1 OR (original_key = ?1 AND kind = 'reversal')",
                (dedupe_key,),
            ):
                if is_self:
                    stored = bytes(response) if response is not None else None
                else:
                    reversed_first = True
        return stored, reversed_first

    def card_state(self, key: str, velocity_since: float, recent_since: float) -> CardState:
        """The card ``key`` (a PAN hash) as the rules see it, in one indexed read: approved
        debits since ``velocity_since`` (count and amount), card requests of any outcome since
        ``recent_since`` (the AML window), and the account balance (None: not yet opened)."""
        with self.lock:
            row = self._db.execute(
                "SELECT "
                "COALESCE(SUM(status = 'approved' AND signed_minor > 0 AND created >= ?2), 0), "
                "COALESCE(SUM(CASE WHEN status = 'approved' AND signed_minor > 0 "
                "AND created >= ?2 THEN amount_minor ELSE 0 END), 0), "
                "COALESCE(SUM(kind IN ('authorisation', 'financial', 'advice') "
                "AND created >= ?3), 0), "
                "(SELECT balance_minor FROM accounts WHERE pan_hash = ?1) "
                "FROM transactions WHERE pan_hash = ?1 AND created >= MIN(?2, ?3)",
                (key, velocity_since, recent_since),
            ).fetchone()
        balance = None if row[3] is None else int(row[3])
        return CardState(int(row[0]), int(row[1]), int(row[2]), balance)

    def seen(self, dedupe_key: str) -> bool:
        with self.lock:
            return (
                self._db.execute(
                    "SELECT 1 FROM transactions WHERE dedupe_key = ?", (dedupe_key,)
                ).fetchone()
                is not None
            )

    def record(self, **row: object) -> int:
        row.setdefault("created", time.time())
        columns = tuple(row)
        sql = self._insert_sql.get(columns)
        if sql is None:  # one statement text per column set (callers use a handful)
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO transactions ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - fixed names
            self._insert_sql[columns] = sql
        with self.lock:
            cur = self._db.execute(sql, tuple(row.values()))
            return int(cur.lastrowid or 0)

    def set_response(self, txn_id: int, response: bytes) -> None:
        with self.lock:
            self._db.execute(
                "UPDATE transactions SET response = ? WHERE id = ?", (response, txn_id)
            )

    def original(self, original_key: str) -> LedgerRow | None:
        """The authorisation/financial/advice row an original key names."""
        rows = self._rows(
            "WHERE dedupe_key = ? AND kind IN ('authorisation', 'financial', 'advice')",
            (original_key,),
        )
        return rows[0] if rows else None

    def reversal_for(self, original_key: str) -> LedgerRow | None:
        rows = self._rows("WHERE kind = 'reversal' AND original_key = ?", (original_key,))
        return rows[0] if rows else None

    def set_status(self, txn_id: int, status: str) -> None:
        with self.lock:
            self._db.execute("UPDATE transactions SET status = ? WHERE id = ?", (status, txn_id))

    def add_alert(self, txn_id: int, masked: str, reason: str) -> None:
        with self.lock:
            self._db.execute(
                "INSERT INTO aml_alerts (transaction_id, pan_masked, reason, created) "
                "VALUES (?, ?, ?, ?)",
                (txn_id, masked, reason, time.time()),
            )

    def alerts(self) -> list[tuple[int, str, str]]:
        with self.lock:
            rows = self._db.execute(
                "SELECT transaction_id, pan_masked, reason FROM aml_alerts ORDER BY id"
            ).fetchall()
        return [(int(a), str(b), str(c)) for a, b, c in rows]

    def rows(self, kind: str | None = None) -> list[LedgerRow]:
        if kind is None:
            return self._rows("", ())
        return self._rows("WHERE kind = ?", (kind,))

    def _rows(self, where: str, args: tuple[object, ...]) -> list[LedgerRow]:
        sql = (
            "SELECT id, kind, mti, terminal_id, stan, original_key, pan_hash, pan_masked, "
            "amount_minor, "
            "signed_minor, currency, response_code, status FROM transactions "
            f"{where} ORDER BY id"
        )
        with self.lock:
            return [LedgerRow(*r) for r in self._db.execute(sql, args).fetchall()]

    # ----------------------------------------------------------------- money views

    def net_charged(self, terminal_id: str | None = None) -> int:
        """Money that moved: approved, not reversed debits minus credits (minor units)."""
        sql = (
            "SELECT COALESCE(SUM(signed_minor), 0) FROM transactions WHERE status = 'approved' "
            "AND kind IN ('authorisation', 'financial', 'advice')"
        )
        args: tuple[object, ...] = ()
        if terminal_id is not None:
            sql += " AND terminal_id = ?"
            args = (terminal_id,)
        with self.lock:
            return int(self._db.execute(sql, args).fetchone()[0])

    def unsettled_totals(self, terminal_id: str, currency: str) -> dict[str, int]:
        """Batch totals of the terminal's unsettled financial transactions in one currency."""
        sql = (
            "SELECT signed_minor > 0, status, COUNT(*), COALESCE(SUM(amount_minor), 0) "
            "FROM transactions WHERE terminal_id = ? AND currency = ? AND settled = 0 "
            "AND kind IN ('financial', 'advice') AND status IN ('approved', 'reversed') "
            "GROUP BY 1, 2"
        )
        out = dict.fromkeys(("debits_count", "debits_amount", "credits_count", "credits_amount"), 0)
        with self.lock:
            for is_debit, status, count, amount in self._db.execute(sql, (terminal_id, currency)):
                if status != "approved":
                    continue
                side = "debits" if is_debit else "credits"
                out[f"{side}_count"] += int(count)
                out[f"{side}_amount"] += int(amount)
        return out

    def mark_settled(self, terminal_id: str, currency: str) -> None:
        with self.lock:
            self._db.execute(
                "UPDATE transactions SET settled = 1 WHERE terminal_id = ? AND currency = ?",
                (terminal_id, currency),
            )


class _Checkpointer:
    """Copies the WAL back into the ledger file off the serving thread (SQLite's
    ``wal_checkpoint(PASSIVE)`` every ``interval`` seconds: it never blocks the writer, and
    the writer restarts the WAL from its beginning once a checkpoint has caught up)."""

    def __init__(self, path: str, interval: float = 0.5) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                continue  # busy or locked this time: the next turn catches up

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # the next open checkpoints what is left
        self._db.close()
