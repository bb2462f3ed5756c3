"""The `pos` command-line contract (backbone issue): exit codes, JSON fields, one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from terminal.cli import main
from tests.net_support import refusing_tcp_port

FIXED = ["--txn-datetime", "2026-11-24T10:30:00", "--unpredictable-number", "1A2B3C4D"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_card_is_approved_online_with_tc(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pay", "12.34", "--currency", "EUR", "--json", *FIXED)
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "approved"
    assert result["cryptogram_type"] == "TC"
    assert result["response_code"] == "00"
    assert result["amount"] == 1234
    assert result["currency"] == "EUR"
    assert result["pan_masked"] == "476173******0119"
    assert len(result["tvr"]) == 10 and len(result["tsi"]) == 4 and len(result["cvm_results"]) == 6
    assert result["stan"].isdigit() and result["auth_code"]
    for key in ("reason", "interface", "aid", "apdu_count", "duration_ms"):
        assert key in result


def test_replay_of_a_trace_gives_the_same_tvr_and_tsi(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "pay", "12.34", "--json", "--trace", *FIXED)
    assert code == 0
    first = json.loads(out)
    # the enciphered offline PIN's VERIFY keeps its header and Lc; its data is never printed
    verify = [e["command"] for e in first["apdus"] if e["command"].startswith("002000")]
    assert verify == ["0020008880" + "??" * 0x80]
    from hardware_sim.replay import replay_from_trace

    trace_file = tmp_path / "trace.json"
    trace_file.write_text(json.dumps(replay_from_trace(first["apdus"])))
    # The replayed cardholder types the same PIN; DeterministicRandom repeats the PIN padding.
    code, out, _ = run(
        capsys, "pay", "12.34", "--json", "--pin", "1234", "--card-trace", str(trace_file), *FIXED
    )
    second = json.loads(out)
    assert (second["tvr"], second["tsi"]) == (first["tvr"], first["tsi"])
    assert second["apdu_count"] == first["apdu_count"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["pay", "abc"], "is not a number"),
        (["pay", "1.234", "--currency", "EUR"], "more than 2 decimals"),
        (["pay", "1", "--currency", "ZZZ"], "unknown currency"),
        (["pay", "1", "--card", "nope"], "unknown card profile"),
        (["pay", "1", "--reader", "serial"], "is not one of"),
        (["pay", "1", "--txn-datetime", "yesterday"], "ISO 8601"),
        (["pay", "1", "--unpredictable-number", "12"], "8 hex digits"),
        (["pay", "1", "--config", "/nonexistent.toml"], "does not exist"),
        (["pay", "1", "--bogus"], "unrecognized arguments"),
        (["pay", "1", "--card-trace", "/nonexistent.json"], "cannot read replay file"),
        # amounts: ASCII digits only, above zero, within tag 81's 4 bytes (cashback included)
        (["pay", "0"], "must be above zero"),
        (["pay", "0.00"], "must be above zero"),
        (["pay", "1e3"], "is not a number"),
        (["pay", "1_000"], "is not a number"),
        (["pay", "\u0661\u0662"], "is not a number"),
        (["pay", "+5"], "is not a number"),
        (["pay", "42949672.96"], "at most 42,949,672.95 EUR"),
        (["pay", "10.00", "--type", "cashback", "--cashback", "42949662.96"], "together exceed"),
        (["pay", "10.00", "--cashback", "5.00"], "go together"),
        (["pay", "10.00", "--type", "cashback"], "go together"),
        # a contact profile asked to tap, and bench arguments, are usage errors too
        (
            ["pay", "1", "--interface", "contactless", "--card", "visa_credit"],
            "contactless profiles",
        ),
        (["bench", "kernel", "--profile", "nosuch"], "unknown contact card profile 'nosuch'"),
        (["bench", "tap", "--profile", "visa_credit"], "unknown contactless card profile"),
        (["bench", "tap", "--runs", "0"], "'0' must be at least 1"),
        (["pay", "1", "--card-timeout", "nan"], "must be above 0 and at most 3600 seconds"),
        (["pay", "1", "--card-timeout", "-1"], "must be above 0 and at most 3600 seconds"),
        (["sim", "printer", "--pty", "/nonexistent/dir/lp"], "does not exist"),
        (["pay", "1", "--pin", "1234,12"], "--pin must be 4 to 12 digits (or several"),
        (["decode", "tlv", "6F1"], "odd number of hex digits (3)"),
        (["pay", "1", "--currency", ""], "argument --currency: is empty"),
        (["pay", "1", "--reader", "nfc:udp:localhost:notaport"], "wants nfc:udp:HOST:PORT"),
        (["pay", "1", "--reader", "sim:x"], "the simulated reader takes no name"),
        (["pay", "1", "--app", "-1"], "'-1' is not an application number"),
        (["qr", "pay", "1", "--qr-host", "host:notaport"], "must be HOST:PORT"),
        (["pay", "1", "--host", " "], "argument --host: is empty"),
        (["refund", "1", "--card", ""], "argument --card: is empty"),
        (["decode", "tlv", "6F", "0G"], "the input is not hex"),
        (["run", "--demo", "--finger", "abc"], "--finger 'abc' is unknown; known fingers: 0, 1"),
        (["run", "--demo", "--pinpad", "/nonexistent/pp"], "--pinpad /nonexistent/pp does not"),
    ],
)
def test_usage_errors_exit_2_with_one_sentence(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_broken_config_names_the_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[terminal]\nterminal_idd = "X"\n')
    code, _, err = run(capsys, "pay", "1", "--config", str(config))
    assert code == 2 and "terminal.terminal_idd" in err
    config.write_text("[terminal\n")
    code, _, err = run(capsys, "pay", "1", "--config", str(config))
    assert code == 2 and "not valid TOML" in err
    config.write_text('[terminal.tags]\n9F33 = "E0F8"\n')
    code, _, err = run(capsys, "pay", "1", "--config", str(config))
    assert code == 2 and "terminal.tags.9F33" in err
    config.write_text('[contactless.terminal]\ncountry_code = "0276"\n')
    code, _, err = run(capsys, "pay", "1", "--config", str(config))
    assert code == 2 and "contactless.terminal." in err and "is missing" in err


def test_tag_overrides_reach_the_card(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "ok.toml"
    config.write_text(
        '[terminal.tags]\n9F33 = "E0F0C8"\n\n[[aid]]\naid = "A0000000031010"\n'
        'application_version = "0096"\n[aid.tags]\n9F1B = "00002710"\n'
    )
    code, out, err = run(capsys, "pay", "1", "--config", str(config), "--json", "--trace", *FIXED)
    assert code in (0, 1), err
    result = json.loads(out)
    assert result["aid"] == "A0000000031010"


def test_malformed_card_data_aborts_cleanly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    replay = {
        "atr": "3B 80 80 01 01",
        "exchanges": [
            {"command": "00A404000E315041592E5359532E4444463031*", "response": "6A82"},
            {"command": "00A4040007A0000000031010*", "response": "6F0A8407A0000000031010A5FF9000"},
        ],
    }
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(replay))
    code, out, err = run(capsys, "pay", "1", "--json", "--card-trace", str(path))
    assert code == 1
    result = json.loads(out)
    assert result["outcome"] == "aborted"
    assert "malformed" in result["reason"]
    assert "Traceback" not in err


def test_decode_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decode", "tlv", "9F02060000000012345A084761739001010119")
    assert code == 0
    assert "Amount, Authorised (Numeric)" in out
    assert "4761739001010119" not in out and "476173******0119" in out
    code, out, _ = run(capsys, "decode", "dol", "9F3704")
    assert "Unpredictable Number [4]" in out


def test_sim_cards_lists_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sim", "cards", "--json")
    names = {row["name"] for row in json.loads(out)}
    assert {"visa_credit", "mc_debit", "two_apps", "pin_blocked"} <= names


def test_card_info_reads_without_paying(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "card", "info", "--card", "pin_blocked", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["pan_masked"].endswith(info["pan_masked"][-4:]) and "*" in info["pan_masked"]
    assert info["pin_try_counter"] == 0
    assert info["cvm_list"][0].startswith("Enciphered PIN verified by ICC")
    code, out, _ = run(capsys, "card", "info")
    assert "PIN tries left: 3" in out and "4761739001010119" not in out


def test_capk_store_updated_from_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from importlib import resources

    packaged = json.loads(resources.files("emv.data").joinpath("capk.json").read_text())
    good = tmp_path / "capk.json"
    good.write_text(json.dumps(packaged))
    config = tmp_path / "oda.toml"
    config.write_text(f'[oda]\ncapk_file = "{good}"\n')
    code, out, err = run(capsys, "pay", "9.99", "--config", str(config), "--json", *FIXED)
    assert code == 0, err
    assert json.loads(out)["tvr"][:2] == "00"  # CDA still verified with the test CA added
    # A file with one altered modulus is refused whole, with one sentence.
    live = next(k for k in packaged["keys"] if k.get("kind") == "live")
    live["modulus"] = "00" + live["modulus"][2:]
    bad = tmp_path / "capk-altered.json"
    bad.write_text(json.dumps(packaged))
    config.write_text(f'[oda]\ncapk_file = "{bad}"\n')
    code, _, err = run(capsys, "pay", "9.99", "--config", str(config), "--json", *FIXED)
    assert code == 1 and "checksum" in err and "Traceback" not in err
    config.write_text('[oda]\ncapk_file = "/nonexistent/capk.json"\n')
    code, _, err = run(capsys, "pay", "9.99", "--config", str(config))
    assert code == 2 and "oda.capk_file" in err


@pytest.mark.parametrize(
    ("pins", "verify_answers", "cvm", "tvr"),
    [
        ("4321", ["63C2"], "Signature", "0280088000"),  # one wrong try, then no PIN entered
        ("4321,1111", ["63C2", "9000"], "PIN verified", "0280008000"),
        ("1111", ["9000"], "PIN verified", "0280008000"),
    ],
)
def test_each_pin_given_is_typed_once_so_a_wrong_one_never_blocks_the_card(
    capsys: pytest.CaptureFixture[str], pins: str, verify_answers: list[str], cvm: str, tvr: str
) -> None:
    """sda_legacy's offline plaintext PIN is 1111 and its PIN Try Counter 3: '--pin 4321' used
    to be re-sent until the counter reached 0 (63C2, 63C1, 63C0), blocking the PIN."""
    code, out, _ = run(
        capsys, "pay", "1.00", "--card", "sda_legacy", "--pin", pins, "--json", "--trace", *FIXED
    )
    assert code == 0
    result = json.loads(out)
    verify = [e for e in result["apdus"] if e["command"].startswith("002000")]
    assert [e["response"][-4:].upper() for e in verify] == verify_answers
    assert (result["cvm"], result["tvr"]) == (cvm, tvr)


def test_control_characters_a_user_typed_are_not_echoed_raw(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An ESC sequence in an argument comes back escaped, never as a live terminal command."""
    code, out, err = run(capsys, "journal", "show", "\x1b[31mRED\x07")
    assert (code, out) == (2, "")
    assert err == "pos: no transaction '\\x1b[31mRED\\x07' in the journal; 'pos journal list'\n"


def test_an_unreachable_host_is_one_sentence_without_doubled_punctuation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with refusing_tcp_port() as port:
        code, out, _ = run(capsys, "pay", "1.00", "--host", f"127.0.0.1:{port}", "--plain-tcp",
                           "--json", *FIXED)  # fmt: skip
    assert code == 1
    assert json.loads(out)["reason"] == (
        "declined: the host could not be reached (cannot reach the acquirer host "
        "(Connection refused))"
    )
