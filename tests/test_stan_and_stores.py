"""STANs (ISO 8583 DE 11) never reused after the counter file is lost, damaged terminal data
files reported as one sentence (exit 2), and an unusable POS_DATA_DIR refused (exit 2)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from terminal.cli import main
from terminal.errors import ConfigError, DamagedStoreError, DataDirError, is_damaged_database
from terminal.hostlink import StanAllocator, latest_journaled_stan
from terminal.journal import Journal
from terminal.operators import hash_pin
from terminal.runtime import data_dir

GARBAGE = bytes(range(256)) * 20  # 5120 bytes, no SQLite header
DAMAGED = "stop taking payments, keep the file for support and restore the last backup."


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def pay_stan() -> str:
    code, out, err = cli("pay", "--host", "embedded", "1.00", "--json")
    assert code == 0, err
    return str(json.loads(out)["stan"])


def journal_with_stans(path: Path, *stans: str) -> Journal:
    journal = Journal(path)
    for stan in stans:
        txn = journal.new_transaction_id()
        journal.append(txn, "started", amount=100)
        journal.append(txn, "online_request", stan=stan)
        journal.append(txn, "host_response", stan=stan)
    return journal


# ------------------------------------------------------------------ STAN (DE 11)


@pytest.mark.parametrize(
    "content", [b"abc", b"-5", b"", b"0", b"1000000", b"12x", b"\xff\xfe", b"1_0", None]
)
def test_a_lost_or_damaged_stan_file_continues_after_the_journal(
    tmp_path: Path, content: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    journal = journal_with_stans(tmp_path / "journal.sqlite", "000001", "000002", "000003")
    journal.close()
    stan_file = tmp_path / "stan"
    if content is not None:
        stan_file.write_bytes(content)
    allocator = StanAllocator(stan_file, lambda: latest_journaled_stan(tmp_path / "journal.sqlite"))
    with caplog.at_level(logging.WARNING, logger="terminal.hostlink"):
        assert [allocator(), allocator.reserve(), allocator()] == [4, 5, 5]
    assert stan_file.read_text() == "5"
    assert not (tmp_path / "stan.tmp").exists()
    problem = "missing" if content is None else "damaged"
    if content == b"\xff\xfe":
        problem = "unreadable"
    assert [r.getMessage() for r in caplog.records] == [
        f"STAN file {stan_file} is {problem}; continuing after STAN 000003, "
        "the last one in the journal"
    ]


def test_a_fresh_terminal_starts_at_stan_1(tmp_path: Path) -> None:
    allocator = StanAllocator(
        tmp_path / "stan", lambda: latest_journaled_stan(tmp_path / "journal.sqlite")
    )
    assert [allocator(), allocator()] == [1, 2]
    assert not (tmp_path / "journal.sqlite").exists()  # asking did not create a journal


def test_an_empty_journal_and_a_damaged_file_start_at_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Journal(tmp_path / "journal.sqlite").close()
    (tmp_path / "stan").write_text("abc")
    allocator = StanAllocator(
        tmp_path / "stan", lambda: latest_journaled_stan(tmp_path / "journal.sqlite")
    )
    with caplog.at_level(logging.WARNING, logger="terminal.hostlink"):
        assert allocator() == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"STAN file {tmp_path / 'stan'} is damaged; no STAN in the journal, starting at 1"
    ]


def test_a_good_stan_file_counts_on_and_wraps_after_999999(tmp_path: Path) -> None:
    stan_file = tmp_path / "stan"
    stan_file.write_text("41\n")
    allocator = StanAllocator(stan_file, lambda: 7)
    assert allocator() == 42
    stan_file.write_text("999999")
    assert [allocator(), allocator()] == [1, 2]


def test_the_journal_knows_the_newest_stan_after_a_void_and_a_wrap(tmp_path: Path) -> None:
    journal = journal_with_stans(tmp_path / "j.sqlite", "999998", "999999", "000001")
    first = journal.entries()[0].txn_id
    journal.append(first, "void_requested", stan="999998")  # repeats an old STAN
    journal.append("tbatch0000000001", "settlement_started", type="batch")
    assert journal.latest_stan() == 1
    journal.close()
    assert latest_journaled_stan(tmp_path / "j.sqlite") == 1
    assert Journal(":memory:").latest_stan() is None


def test_pay_after_the_stan_file_is_damaged_keeps_stans_unique_and_voidable(
    tmp_path: Path,
) -> None:
    assert [pay_stan(), pay_stan(), pay_stan()] == ["000001", "000002", "000003"]
    stan_file = data_dir() / "stan"
    stan_file.write_text("abc\n")
    assert pay_stan() == "000004"
    stan_file.unlink()
    assert pay_stan() == "000005"
    stan_file.write_text("-5")
    assert pay_stan() == "000006"
    code, out, _ = cli("journal", "list", "--json")
    assert code == 0
    assert [r["stan"] for r in json.loads(out)] == [f"{n:06d}" for n in range(1, 7)]

    config = tmp_path / "pos.toml"
    config.write_text(f'[operators]\nsupervisor_pin_hash = "{hash_pin("4321")}"\n')
    code, out, err = cli(
        "void", "000001", "--host", "embedded", "--supervisor-pin", "4321",
        "--config", str(config), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["stan"] == "000001"
    code, out, _ = cli("journal", "list", "--json")
    assert [(r["stan"], r["status"]) for r in json.loads(out)][:2] == [
        ("000001", "voided"),
        ("000002", "approved"),
    ]


def test_an_unwritable_stan_file_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "stan").mkdir()
    with pytest.raises(DataDirError) as caught:
        StanAllocator(tmp_path / "stan")()
    assert str(caught.value) == (
        f"The STAN file {tmp_path / 'stan'} cannot be written (Is a directory); "
        "point POS_DATA_DIR at a writable folder."
    )


# ------------------------------------------------------------------ damaged data files


def damage(name: str) -> Path:
    path = data_dir() / name
    path.write_bytes(GARBAGE)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["pay", "--host", "embedded", "1.00"],
        ["journal", "list"],
        ["journal", "verify"],
        ["journal", "verify", "--json"],
        ["journal", "show", "t0123456789abcde"],
        ["recover", "--host", "embedded"],
        ["settle", "--host", "embedded"],
        ["receipt", "t0123456789abcde"],
    ],
)
def test_a_garbage_journal_is_reported_as_damaged(argv: list[str]) -> None:
    path = damage("journal.sqlite")
    assert cli(*argv) == (
        2,
        "",
        f"pos: The journal file {path} is damaged (file is not a database); {DAMAGED}\n",
    )


@pytest.mark.parametrize(
    ("name", "label"), [("batch.sqlite", "batch"), ("saf.sqlite", "store-and-forward")]
)
@pytest.mark.parametrize(
    "argv",
    [
        ["pay", "--host", "embedded", "1.00"],
        ["recover", "--host", "embedded"],
        ["settle", "--host", "embedded"],
    ],
)
def test_a_garbage_batch_or_queue_is_reported_as_damaged(
    name: str, label: str, argv: list[str]
) -> None:
    Journal(data_dir() / "journal.sqlite").close()
    path = damage(name)
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        f"pos: The {label} file {path} is damaged (file is not a database); {DAMAGED}"
    )
    assert "internal error" not in err


def test_a_journal_payload_that_is_not_json_is_reported_as_damaged() -> None:
    path = data_dir() / "journal.sqlite"
    journal_with_stans(path, "000001").close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("UPDATE events SET payload = '{not json' WHERE seq = 2")
    db.close()
    message = f"pos: The journal file {path} is damaged (record 2 is not valid JSON); {DAMAGED}\n"
    assert cli("journal", "list") == (2, "", message)
    code, out, err = cli("pay", "--host", "embedded", "1.00")
    assert (code, out, err.splitlines(keepends=True)[-1]) == (2, "", message)
    assert cli("journal", "verify") == (
        1,
        "Journal TAMPERED: record 2 does not match the hash chain.\n",
        "",
    )


def test_a_malformed_journal_page_is_reported_as_damaged() -> None:
    path = data_dir() / "journal.sqlite"
    journal = Journal(path)
    for _ in range(300):
        journal.append(journal.new_transaction_id(), "started", note="x" * 200)
    journal.close()
    image = bytearray(path.read_bytes())
    image[4096 * 3 : 4096 * 12] = b"\xab" * (4096 * 9)  # table pages, header intact
    path.write_bytes(bytes(image))
    assert cli("journal", "list") == (
        2,
        "",
        f"pos: The journal file {path} is damaged (database disk image is malformed); {DAMAGED}\n",
    )


def test_damage_found_outside_the_stores_is_still_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    damage("other.sqlite")

    def broken(_args: object) -> int:
        sqlite3.connect(data_dir() / "other.sqlite").execute("SELECT 1 FROM sqlite_master")
        return 0

    monkeypatch.setattr("terminal.cli.journal.list_entries", broken)
    assert cli("journal", "list") == (
        2,
        "",
        "pos: a terminal data file is damaged (file is not a database); stop taking payments, "
        "keep the POS_DATA_DIR folder for support and restore the last backup.\n",
    )


def test_a_locked_database_is_not_called_damaged(tmp_path: Path) -> None:
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert not is_damaged_database(locked)
    assert not is_damaged_database(ValueError("x"))
    with pytest.raises(DamagedStoreError):
        damage("journal.sqlite")
        Journal(data_dir() / "journal.sqlite")


def test_a_journal_path_that_cannot_be_opened_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError) as under_a_file:
        Journal(tmp_path / "file" / "journal.sqlite")
    assert str(under_a_file.value) == (
        f"The journal file {tmp_path / 'file' / 'journal.sqlite'} cannot be opened "
        "(Not a directory); point journal_path or POS_DATA_DIR at a writable folder."
    )
    with pytest.raises(ConfigError) as a_folder:
        Journal(tmp_path)
    assert str(a_folder.value) == (
        f"The journal file {tmp_path} cannot be opened (unable to open database file); "
        "point journal_path or POS_DATA_DIR at a writable folder."
    )


# ------------------------------------------------------------------ POS_DATA_DIR


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("file", "Not a directory"),
        ("/dev/null", "Not a directory"),
        ("file/sub", "Not a directory"),
        ("/proc/pos-no-such-dir", "No such file or directory"),
    ],
)
@pytest.mark.parametrize(
    "argv",
    [["pay", "--host", "embedded", "1.00"], ["journal", "list"], ["settle", "--host", "embedded"]],
)
def test_an_unusable_data_dir_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, reason: str, argv: list[str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    folder = where if where.startswith("/") else str(tmp_path / where)
    monkeypatch.setenv("POS_DATA_DIR", folder)
    assert cli(*argv) == (
        2,
        "",
        f"pos: POS_DATA_DIR '{folder}' is not a usable directory ({reason}); "
        "point it at a writable folder.\n",
    )


def test_an_empty_data_dir_means_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POS_DATA_DIR", "")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "pos-terminal"
    assert data_dir().is_dir()
    assert cli("journal", "list") == (0, "The journal is empty.\n", "")
    assert (tmp_path / "xdg" / "pos-terminal" / "journal.sqlite").is_file()
