"""``pos refund|void|preauth|complete|settle`` end to end: one persistent host simulator on a
loopback socket, each command a fresh ``pos`` run on the same data directory, as a shop uses
them through the day.  Errors are one sentence with the documented exit code."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from acquirer_client.link import LinkConfig
from hardware_sim.host import HostSimulator, embedded_host
from terminal.cli import main
from terminal.journal import contains_pan
from terminal.operators import hash_pin, verify_pin

PIN = "4321"


@pytest.fixture(scope="module")
def pin_hash() -> str:
    return hash_pin(PIN)


@pytest.fixture()
def host() -> Iterator[tuple[HostSimulator, LinkConfig]]:
    with embedded_host(tls=False, read_timeout=3.0, overall_timeout=6.0) as (sim, link):
        yield sim, link


@pytest.fixture()
def config(tmp_path: Path, pin_hash: str) -> str:
    path = tmp_path / "pos.toml"
    path.write_text(f'[operators]\nsupervisor_pin_hash = "{pin_hash}"\n')
    return str(path)


class Pos:
    def __init__(self, capsys: pytest.CaptureFixture[str], link: LinkConfig, config: str):
        self.capsys = capsys
        self.link_args = ["--host", f"127.0.0.1:{link.port}", "--plain-tcp", "--config", config]

    def __call__(self, *argv: str, link: bool = True) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([*argv, *(self.link_args if link else [])])
        out, err = self.capsys.readouterr()
        err = "\n".join(line for line in err.splitlines() if "data key" not in line)
        return code, out, err

    def json(self, *argv: str) -> dict:  # type: ignore[type-arg]
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        assert out.count("\n") == 1  # one object
        return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture()
def pos(
    capsys: pytest.CaptureFixture[str], host: tuple[HostSimulator, LinkConfig], config: str
) -> Pos:
    return Pos(capsys, host[1], config)


def test_a_day_from_the_command_line(pos: Pos, host: tuple[HostSimulator, LinkConfig]) -> None:
    sim, _ = host
    sale = pos.json("pay", "12.34")
    other = pos.json("pay", "8.00", "--card", "mc_debit")
    refund = pos.json("refund", "5.00", "--supervisor-pin", PIN)
    assert (refund["outcome"], refund["type"], refund["cryptogram_type"]) == (
        "approved",
        "refund",
        "AAC",
    )
    voided = pos.json("void", other["stan"], "--supervisor-pin", PIN)
    assert voided == {
        "transaction_id": other["transaction_id"],
        "stan": other["stan"],
        "amount": 800,
        "currency": "EUR",
        "status": "voided",
    }
    pre = pos.json("preauth", "50.00")
    assert pre["type"] == "preauth" and pre["outcome"] == "approved"
    done = pos.json("complete", pre["transaction_id"], "42.00")
    assert (done["amount"], done["advice"]) == (4200, "sent")

    listing = json.loads(pos("journal", "list", "--json", link=False)[1])
    status = {row["transaction_id"]: row["status"] for row in listing}
    assert status[other["transaction_id"]] == "voided"
    assert status[sale["transaction_id"]] == "approved"

    report = pos.json("settle")
    assert report["closed"] and report["in_balance"] and report["batch_number"] == 1
    (eur,) = report["currencies"]
    assert (eur["debits_count"], eur["debits_amount"]) == (2, 1234 + 4200)
    assert (eur["credits_count"], eur["credits_amount"]) == (1, 500)
    assert eur["net_amount"] == 1234 + 4200 - 500
    assert "BATCH 000001 CLOSED" in report["report"]
    assert "EUR Visa" in report["report"] and "EUR Mastercard" not in report["report"]
    # The host's books for this terminal: settled financial + advice rows, to the cent.
    booked = sum(
        r.signed_minor
        for r in sim.ledger.rows()
        if r.kind in ("financial", "advice") and r.status == "approved"
    )
    assert booked == 1234 - 500 + 4200
    assert not contains_pan(json.dumps(report))

    # The human report prints as text; the next batch is empty.
    code, out, _ = pos("settle")
    assert code == 0 and "No transactions in this batch." in out and "BATCH 000002 CLOSED" in out


def test_a_settlement_batch_id_is_not_taken_for_a_transaction(pos: Pos) -> None:
    pos.json("pay", "3.00")
    assert pos.json("settle")["batch_number"] == 1
    code, out, err = pos("receipt", "batch-000001", link=False)
    assert (code, out) == (2, "")
    assert err == (
        "pos: 'batch-000001' is a settlement batch, not a transaction; 'pos settle' reports batches"
    )
    code, _, err = pos("complete", "batch-000001")
    assert (code, err) == (1, "pos: transaction batch-000001 is not a pre-authorisation.")


def test_supervisor_pin_is_checked_before_the_card(pos: Pos) -> None:
    code, out, err = pos("refund", "5.00", "--supervisor-pin", "9999")
    assert (code, out) == (1, "")
    assert err == "pos: the supervisor PIN is wrong, so the refund was not started."
    code, _, err = pos("refund", "5.00")  # stdin is not a terminal: no prompt
    assert code == 1 and err == "pos: a refund needs the supervisor PIN (--supervisor-pin)."
    assert json.loads(pos("journal", "list", "--json", link=False)[1]) == []


def test_supervisor_pin_from_stdin(pos: Pos, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
    code, out, err = pos("refund", "1.00", "--supervisor-pin", "-", "--json")
    assert code == 0, err
    assert json.loads(out)["outcome"] == "approved"


def test_pay_refund_type_needs_the_supervisor(pos: Pos) -> None:
    code, _, err = pos("pay", "5.00", "--type", "refund")
    assert code == 2 and err == "pos: a refund needs the supervisor PIN; use 'pos refund'"


@pytest.mark.parametrize(
    ("argv", "code", "sentence"),
    [
        (["void", "12ab", "--supervisor-pin", PIN], 2, "'12ab' is not a STAN"),
        (["void", "424242", "--supervisor-pin", PIN], 1, "no transaction with STAN 424242"),
        (["complete", "nope"], 1, "no transaction 'nope' in the journal"),
        (["refund", "5.00", "--supervisor-pin", PIN, "--reader", "nfc"], 2, "contact kernel"),
        (["refund", "-3", "--supervisor-pin", PIN], 2, "must be a positive number"),
        (["preauth", "1.00", "--card", "nosuch"], 2, "unknown card profile 'nosuch'"),
    ],
)
def test_errors_are_one_sentence(pos: Pos, argv: list[str], code: int, sentence: str) -> None:
    got, out, err = pos(*argv)
    assert got == code and out == ""
    assert err.count("\n") == 0 and sentence in err and "Traceback" not in err


def test_void_of_a_decline_and_complete_of_a_sale_are_refused(pos: Pos) -> None:
    declined = pos("pay", "20.51", "--json")  # the host declines amounts ending in 51
    stan = json.loads(declined[1])["stan"]
    code, _, err = pos("void", stan, "--supervisor-pin", PIN)
    assert code == 1 and "is declined, and only approvals can be voided" in err
    sale = pos.json("pay", "3.00")
    code, _, err = pos("complete", sale["transaction_id"])
    assert code == 1 and err.endswith("is not a pre-authorisation.")
    pre = pos.json("preauth", "10.00")
    code, _, err = pos("complete", pre["transaction_id"], "10.01")
    assert code == 1 and "more than the 1000 minor units authorised" in err


def test_settle_with_the_host_down_keeps_the_batch(
    pos: Pos, host: tuple[HostSimulator, LinkConfig], tmp_path: Path, config: str
) -> None:
    pos.json("pay", "7.00")
    dead = ["--host", "127.0.0.1:1", "--plain-tcp", "--config", config]
    code = main(["settle", *dead])
    _, err = pos.capsys.readouterr()
    assert code == 1 and "could not be reached for settlement" in err
    assert "the batch stays open" in err
    report = pos.json("settle")  # the link is back
    assert report["closed"] and report["currencies"][0]["debits_amount"] == 700


def test_config_errors_exit_2(pos: Pos, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[operators]\nsupervisor_pin_hash = "plain-1234"\n')
    code = main(["void", "1", "--supervisor-pin", PIN, "--config", str(bad)])
    err = pos.capsys.readouterr().err
    assert code == 2 and "is not a scrypt hash" in err
    none = tmp_path / "none.toml"
    none.write_text("")
    code = main(["void", "1", "--supervisor-pin", PIN, "--config", str(none)])
    err = pos.capsys.readouterr().err
    assert code == 2 and "no supervisor PIN is configured" in err


def test_pin_hash_is_salted_and_verifies(pin_hash: str) -> None:
    again = hash_pin(PIN)
    assert again != pin_hash and again.startswith("scrypt$16384$8$1$")
    assert verify_pin(pin_hash, PIN) and verify_pin(again, PIN)
    assert not verify_pin(pin_hash, "1234") and not verify_pin(pin_hash, "43210")
    assert PIN not in pin_hash


def test_settlement_refuses_to_drop_approvals_a_replaced_journal_forgot(pos: Pos) -> None:
    """The journal wiped (here: replaced by a new, empty one) after a host-approved sale: the
    batch still holds that sale, so closing would leave it out of the totals."""
    first = pos.json("pay", "1.00")
    data = Path(os.environ["POS_DATA_DIR"])
    for leftover in data.glob("journal.sqlite*"):
        leftover.unlink()
    pos.json("pay", "2.00")
    code, out, err = pos("settle")
    assert (code, out) == (1, "")
    assert err.startswith("pos: 1 approval(s) in batch 1 are missing from the journal ")
    assert f"(first: {first['transaction_id']})" in err
    assert err.endswith(
        "the batch stays open - restore the journal from its backup, then settle again."
    )
    assert pos("settle")[0] == 1  # still open, still refused: nothing was closed
