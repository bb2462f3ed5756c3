"""The file ledger's WAL is copied back into the ledger file by a thread of its own, so the
serving thread's commits never stall on a checkpoint, and nothing is left only in the WAL."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from hardware_sim.host.ledger import Ledger


def _record(ledger: Ledger, n: int) -> None:
    with ledger.group():
        for i in range(n):
            with ledger.transaction():
                ledger.record(
                    dedupe_key=f"T1:{i:06d}",
                    kind="financial",
                    mti="0200",
                    terminal_id="T1",
                    stan=f"{i:06d}",
                    amount_minor=100,
                    signed_minor=100,
                    status="approved",
                )


def _rows_in_main_file(db: Path, tmp: Path) -> int:
    """Rows readable from the ledger file alone, without its -wal file."""
    copy = tmp / "copy.db"
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as con:
        try:
            return int(con.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])
        except sqlite3.Error:
            return 0


def test_the_writer_never_checkpoints_and_the_thread_does(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    ledger = Ledger(str(db))
    try:
        assert ledger._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        _record(ledger, 300)
        deadline = time.monotonic() + 20
        while _rows_in_main_file(db, tmp_path) < 300 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _rows_in_main_file(db, tmp_path) == 300
    finally:
        ledger.close()


def test_close_leaves_everything_in_the_ledger_file(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    ledger = Ledger(str(db))
    _record(ledger, 50)
    ledger.close()
    assert _rows_in_main_file(db, tmp_path) == 50
    again = Ledger(str(db))
    try:
        assert again.net_charged("T1") == 5000
    finally:
        again.close()
