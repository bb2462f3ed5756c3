"""Crash test: the terminal process is SIGKILLed at each step of an online sale, restarted
with ``pos recover``, and the journal and the host ledger must then agree to the cent.

Everything runs as separate processes over a real TCP socket: the host simulator
(``pos sim host --plain --ledger FILE``) and each ``pos pay`` / ``pos recover`` /
``pos journal list``.  The kill comes from the TEST-ONLY hook :mod:`terminal.faults`
(``POS_CRASH_AFTER=<journal event kind>[:<n>]``), right after the event is committed, which
is the worst moment a power cut can pick: the record is durable, the action it guards is not
done.  Each case is its own terminal (own ``POS_DATA_DIR`` and terminal id), so one host
serves the whole module and its ledger is read per terminal id.

Agreement (issue 6, "Done means"):

* no transaction is left in doubt or with a reversal pending after recovery;
* the journal's approved amounts equal the ledger's approved, unreversed amounts for that
  terminal, as multisets (so nothing is charged twice and nothing approved is lost);
* every host approval ended completed (approved in the journal) or reversed in both;
* the hash chain is intact, and a second recovery finds nothing to do.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hardware_sim.host.config import default_rules
from tests.net_support import refusing_tcp_port
from tests.process_support import finish

pytestmark = pytest.mark.slow

WHEN = "2026-11-24T10:30:00"
UN = "1A2B3C4D"
LOST_SUFFIX = "37"  # the host rules below drop the answer to amounts ending in 37 (drop_after)
RUN_TIMEOUT = 60


def _pos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "terminal", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@dataclass
class Host:
    address: str
    ledger: Path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    base = tmp_path_factory.mktemp("crash-host")
    rules = default_rules()
    rules["faults_by_amount_suffix"] = {LOST_SUFFIX: "drop_after"}
    rules_file = base / "rules.json"
    rules_file.write_text(json.dumps(rules))
    ledger = base / "ledger.sqlite"
    env = dict(os.environ)
    env.pop("POS_CRASH_AFTER", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal", "sim", "host", "--listen", "127.0.0.1:0", "--plain"]
        + ["--ledger", str(ledger), "--rules", str(rules_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), (line, proc.stderr and proc.stderr.read())
        yield Host(line.removeprefix("listening on ").strip(), ledger)
    finally:
        finish(proc)


@pytest.fixture(scope="module")
def declining_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A replay card (``--card-trace``) that answers the issuer's approval with an AAC.

    Recorded from visa_credit with no host link (so its second GENERATE AC is a genuine
    AAC), then replayed against the host: the first GENERATE AC gives the same ARQC (same
    date, UN and amount), the host approves, and the card declines at completion.  The
    file holds the simulator's TEST-ONLY card data only.
    """
    base = tmp_path_factory.mktemp("crash-card")
    env = dict(os.environ, POS_DATA_DIR=str(base / "recorder"))
    env.pop("POS_CRASH_AFTER", None)
    recorded = _pos(
        "pay", "12.34", "--host", "none", "--json", "--trace", "--txn-datetime", WHEN,
        "--unpredictable-number", UN, env=env,
    )  # fmt: skip
    # The trace masks the card data and seals the exact bytes under the recorder's data key.
    from terminal.trace import unseal_entries

    saved = os.environ.get("POS_DATA_DIR")
    os.environ["POS_DATA_DIR"] = env["POS_DATA_DIR"]
    try:
        apdus = unseal_entries(json.loads(recorded.stdout)["apdus"])
    finally:
        if saved is None:
            os.environ.pop("POS_DATA_DIR", None)
        else:
            os.environ["POS_DATA_DIR"] = saved
    exchanges = []
    for apdu in apdus:
        command = apdu["command"].upper()
        # GENERATE AC is matched on CLA INS only: P1 asks TC (+CDA) online, AAC offline.
        pattern = "80AE*" if command.startswith("80AE") else command[:8] + "*"
        exchanges.append({"command": pattern, "response": apdu["response"]})
    second = [i for i, e in enumerate(exchanges) if e["command"] == "80AE*"][1]
    assert exchanges[second]["response"][8:12] == "0100"  # 9F27 01 00: an AAC
    exchanges.insert(second, {"command": "0082*", "response": "9000"})
    card = base / "declines_after_approval.json"
    card.write_text(json.dumps({"atr": "3B80800101", "exchanges": exchanges}))
    return card


class Terminal:
    """One simulated terminal: its data directory, configuration and terminal id."""

    def __init__(self, base: Path, terminal_id: str, host: Host, offline: bool = False) -> None:
        self.base = base
        self.terminal_id = terminal_id
        self.host = host
        self.config = base / "pos.toml"
        text = f'[terminal]\nterminal_id = "{terminal_id}"\n'
        if offline:  # Visa AID with a floor limit, so a card may approve offline (Y3)
            text += (
                '[[aid]]\naid = "A0000000031010"\nlabel = "VISA"\n'
                'application_version = "0096"\nfloor_limit = 5000\n'
            )
        self.config.write_text(text)
        self.env = dict(os.environ, POS_DATA_DIR=str(base / "data"))
        self.env.pop("POS_CRASH_AFTER", None)

    def run(self, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if crash:
            env["POS_CRASH_AFTER"] = crash
        return _pos(*args, "--config", str(self.config), env=env)

    def pay(
        self, amount: str, *extra: str, host: str | None = None, crash: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "pay", amount, "--host", host or self.host.address, "--plain-tcp", "--json",
            "--txn-datetime", WHEN, "--unpredictable-number", UN, *extra, crash=crash,
        )  # fmt: skip

    def recover(self, crash: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("recover", "--host", self.host.address, "--plain-tcp", "--json",
                        crash=crash)  # fmt: skip

    def journal(self) -> list[dict[str, Any]]:
        done = _pos("journal", "--config", str(self.config), "list", "--json", env=self.env)
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    def verify(self) -> bool:
        done = _pos("journal", "--config", str(self.config), "verify", "--json", env=self.env)
        return bool(json.loads(done.stdout)["intact"])

    def ledger(self) -> list[dict[str, Any]]:
        """This terminal's rows in the host ledger, read through a read-only connection."""
        db = sqlite3.connect(f"file:{self.host.ledger}?mode=ro", uri=True, timeout=10)
        try:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT kind, stan, amount_minor, signed_minor, response_code, status "
                "FROM transactions WHERE terminal_id = ? ORDER BY id",
                (self.terminal_id,),
            ).fetchall()
            return [dict(r) for r in rows]
        finally:
            db.close()


_ids = iter(range(1, 1000))


@pytest.fixture()
def terminal(tmp_path: Path, host: Host) -> Terminal:
    return Terminal(tmp_path, f"CRSH{next(_ids):04d}", host)


def assert_killed(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""  # killed before any outcome was printed


def assert_agree(term: Terminal) -> list[dict[str, Any]]:
    """The journal and the host ledger agree to the cent; returns the journal rows."""
    rows = term.journal()
    assert rows, "the journal must hold the interrupted sale"
    statuses = {r["status"] for r in rows}
    assert not statuses & {"in doubt", "reversal pending"}, rows
    assert statuses <= {"approved", "declined", "aborted", "reversed", "incomplete"}, rows
    ledger = term.ledger()
    charged = [
        r
        for r in ledger
        if r["status"] == "approved" and r["kind"] in ("authorisation", "financial", "advice")
    ]
    approved = [r for r in rows if r["status"] == "approved"]
    assert sorted(r["amount"] for r in approved) == sorted(r["signed_minor"] for r in charged)
    assert sum(r["amount"] for r in approved) == sum(r["signed_minor"] for r in charged)
    online = {r["stan"] for r in charged if r["kind"] != "advice"}
    assert len(online) == len([r for r in charged if r["kind"] != "advice"])  # no double charge
    journal_stans = {r["stan"] for r in approved}
    assert online <= journal_stans, (ledger, rows)
    # Every host approval ended completed (approved above) or reversed on both sides.
    for r in rows:
        if r["status"] == "reversed" and r["stan"]:
            same = [x for x in ledger if x["stan"] == r["stan"] and x["kind"] != "reversal"]
            assert all(x["status"] != "approved" for x in same), (r, ledger)
    assert term.verify()
    again = term.recover()
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["message"] == "Recovery: nothing was left in doubt."
    return rows


def crash_then_recover(term: Terminal, amount: str, crash: str, *extra: str) -> dict[str, Any]:
    assert_killed(term.pay(amount, *extra, crash=crash))
    done = term.recover()
    assert done.returncode == 0, (done.stdout, done.stderr)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


# ------------------------------------------------------------------ an approved online sale

APPROVED_STEPS = [
    ("started", "incomplete", 0),  # nothing left the terminal
    ("online_request", "reversed", 0),  # request journaled, maybe never sent: reversed
    ("host_response", "reversed", 0),  # host approved, card never completed: reversed
    ("completed", "approved", 1234),  # card completed: the sale stands
]


@pytest.mark.parametrize(("crash", "status", "net"), APPROVED_STEPS)
def test_sigkill_during_approved_sale(
    terminal: Terminal, crash: str, status: str, net: int
) -> None:
    crash_then_recover(terminal, "12.34", crash)
    (row,) = assert_agree(terminal)
    assert row["status"] == status
    assert sum(r["signed_minor"] for r in terminal.ledger() if r["status"] == "approved") == net


CONTACTLESS_STEPS = [
    ("online_request", "reversed", 0),
    ("host_response", "reversed", 0),  # approved, but the shopper never saw it: undone
    ("completed", "approved", 4000),
]


@pytest.mark.parametrize(("crash", "status", "net"), CONTACTLESS_STEPS)
def test_sigkill_during_contactless_online_sale(
    terminal: Terminal, crash: str, status: str, net: int
) -> None:
    """visa_qvsdc above the contactless floor limit answers ARQC: an online tap."""
    crash_then_recover(terminal, "40.00", crash, "--interface", "contactless")
    (row,) = assert_agree(terminal)
    assert row["status"] == status
    assert row["interface"] == "contactless"
    assert sum(r["signed_minor"] for r in terminal.ledger() if r["status"] == "approved") == net


def test_terminal_sells_again_after_a_crash(terminal: Terminal) -> None:
    """Restart by simply paying again: ``pos pay`` runs start-up recovery first."""
    assert_killed(terminal.pay("12.34", crash="host_response"))
    done = terminal.pay("20.00")
    assert done.returncode == 0, done.stderr
    assert "1 interrupted payment(s) reversed" in done.stderr
    rows = assert_agree(terminal)
    assert [r["status"] for r in rows] == ["reversed", "approved"]
    assert [r["amount"] for r in rows] == [1234, 2000]


def test_sigkill_during_recovery_itself(terminal: Terminal) -> None:
    """Power lost again while recovering: the next recovery finishes the job."""
    assert_killed(terminal.pay("12.34", crash="host_response"))
    assert_killed(terminal.recover(crash="reversal_queued"))
    done = terminal.recover()
    assert done.returncode == 0, done.stderr
    (row,) = assert_agree(terminal)
    assert row["status"] == "reversed"


# ------------------------------------------------------------------ the host declines


def test_sigkill_after_host_decline(terminal: Terminal) -> None:
    report = crash_then_recover(terminal, "12.05", "host_response")
    (row,) = assert_agree(terminal)
    assert row["status"] == "declined"
    assert report["closed_declined"] == [row["transaction_id"]]
    assert [r["response_code"] for r in terminal.ledger()] == ["05"]


# ------------------------------------------------------------------ the card declines after host approval


CARD_DECLINE_STEPS = [
    ("host_response", "reversed"),
    # The 0400 is due in the durable store before 'completed'; recovery sends it, and the
    # journal keeps the card's "declined" (it has no reversal record of its own).
    ("completed", "declined"),
    ("reversal_queued", "reversed"),
    ("reversal_acknowledged", "reversed"),
]


@pytest.mark.parametrize(("crash", "status"), CARD_DECLINE_STEPS)
def test_sigkill_when_card_declines_after_host_approval(
    terminal: Terminal, declining_card: Path, crash: str, status: str
) -> None:
    crash_then_recover(
        terminal, "12.34", crash, "--card-trace", str(declining_card), "--pin", "1234"
    )
    (row,) = assert_agree(terminal)
    assert row["status"] == status
    kinds = [(r["kind"], r["status"]) for r in terminal.ledger()]
    assert kinds == [("financial", "reversed"), ("reversal", "applied")]


# ------------------------------------------------------------------ the host's answer is lost

REVERSED_AT_HOST = [("financial", "reversed"), ("reversal", "applied")]
LOST_STEPS = [
    # Killed before the request left: the host never saw it, nothing to undo there.
    ("online_request", "reversed", []),
    ("host_unreachable", "reversed", REVERSED_AT_HOST),
    # The kernel's decline is journaled; the armed 0400 in the reversal store is sent at
    # recovery (the journal keeps "declined": it has no reversal record of its own).
    ("completed", "declined", REVERSED_AT_HOST),
    ("reversal_queued", "reversed", REVERSED_AT_HOST),
    ("reversal_acknowledged", "reversed", REVERSED_AT_HOST),
]


@pytest.mark.parametrize(("crash", "status", "at_host"), LOST_STEPS)
def test_sigkill_when_the_host_answer_is_lost(
    terminal: Terminal, crash: str, status: str, at_host: list[tuple[str, str]]
) -> None:
    amount = "12." + LOST_SUFFIX  # the host approves, moves the money, and drops the answer
    crash_then_recover(terminal, amount, crash)
    (row,) = assert_agree(terminal)
    assert row["status"] == status
    assert [(r["kind"], r["status"]) for r in terminal.ledger()] == at_host


# ------------------------------------------------------------------ offline approval, advice later


OFFLINE_STEPS = [
    ("started", "incomplete", 0),
    # The advice is parked before 'completed'; start-up recovery finishes the hand-off.
    ("completed", "approved", 999),
    ("advice_queued", "approved", 999),
]


def test_sigkill_after_an_offline_advice_was_sent(terminal: Terminal) -> None:
    """Host up: the offline approval's advice goes at once; killed right after, nothing is
    sent twice."""
    term = Terminal(terminal.base, terminal.terminal_id, terminal.host, offline=True)
    assert_killed(term.pay("9.99", "--card", "sda_legacy", crash="advice_sent"))
    done = term.recover()
    assert json.loads(done.stdout)["message"] == "Recovery: nothing was left in doubt."
    (row,) = assert_agree(term)
    assert row["status"] == "approved"
    assert [(r["kind"], r["signed_minor"]) for r in term.ledger()] == [("advice", 999)]


@pytest.mark.parametrize(("crash", "status", "net"), OFFLINE_STEPS)
def test_sigkill_around_an_offline_approval_advice(
    tmp_path: Path, host: Host, crash: str, status: str, net: int
) -> None:
    """Host down, floor limit 50.00: sda_legacy approves 9.99 offline with a TC and a sealed
    0220 advice is queued; the advice reaches the host at recovery, exactly once."""
    term = Terminal(tmp_path, f"CRSH{next(_ids):04d}", host, offline=True)
    with refusing_tcp_port() as down:
        killed = term.pay("9.99", "--card", "sda_legacy", host=f"127.0.0.1:{down}", crash=crash)
    assert_killed(killed)
    done = term.recover()
    assert done.returncode == 0, (done.stdout, done.stderr)
    (row,) = assert_agree(term)
    assert row["status"] == status
    assert sum(r["signed_minor"] for r in term.ledger() if r["status"] == "approved") == net
