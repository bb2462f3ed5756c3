"""A broken value in the configuration file stops the terminal at start (exit code 2) with one
sentence naming the key, what is wrong and what to write instead - never mid-transaction.

Every value refused here used to load and then fail inside a sale (journaled as ABORTED or
shown as an internal error) or be sent to the card / the acquirer in a form the EMV data
dictionary (Book 3 Annex A1, Book 4 Annex A1) or ISO 8583 does not allow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from terminal.cli import main
from terminal.config import ConfigError, load_settings

AID = '[[aid]]\naid = "A0000000031010"\n'
GARBAGE = "{GARBAGE}"  # replaced by a file that exists but holds no JSON

# (TOML text, fragment of the one-sentence error)
BROKEN = [
    pytest.param("[terminal]\ncountry_code = 99999\n", "'terminal.country_code' must be", id="cc"),
    pytest.param("[terminal]\ncountry_code = 0\n", "'terminal.country_code' must be", id="cc0"),
    pytest.param(
        "[terminal]\nmerchant_category_code = 99999\n",
        "'terminal.merchant_category_code' must be",
        id="mcc",
    ),
    pytest.param(AID + "floor_limit = 4294967296\n", "'aid[1].floor_limit' must be", id="floor-b4"),
    pytest.param(
        AID + "floor_limit = 12345678901234567890\n",
        "'aid[1].floor_limit' must be",
        id="floor-20-digits",
    ),
    pytest.param(AID + "floor_limit = 9999999999\n", "from 0 to 4294967295", id="floor-10-digits"),
    pytest.param(
        AID + "random_selection_threshold = 4294967296\n",
        "'aid[1].random_selection_threshold' must be",
        id="threshold-b4",
    ),
    pytest.param(
        AID + "floor_limit = 5000\nrandom_selection_threshold = 5000\n",
        "'aid[1].random_selection_threshold' must be 0 or below floor_limit (5000)",
        id="threshold-above-floor",
    ),
    pytest.param(
        '[terminal]\nacquirer_id = "ABCDEF"\n', "'terminal.acquirer_id' must be", id="acq-alpha"
    ),
    pytest.param(
        '[terminal]\nacquirer_id = "123"\n', "'terminal.acquirer_id' must be", id="acq-short"
    ),
    pytest.param(
        '[terminal]\nacquirer_id = "123456789012"\n',
        "'terminal.acquirer_id' must be",
        id="acq-long",
    ),
    pytest.param("[host]\nread_timeout = nan\n", "'host.read_timeout' must be", id="nan"),
    pytest.param("[host]\nread_timeout = inf\n", "'host.read_timeout' must be", id="inf"),
    pytest.param("[host]\nread_timeout = -1.0\n", "'host.read_timeout' must be", id="neg"),
    pytest.param("[host]\nread_timeout = 0\n", "'host.read_timeout' must be", id="zero"),
    pytest.param("[host]\nconnect_timeout = nan\n", "'host.connect_timeout' must be", id="c-nan"),
    pytest.param("[host]\ntotal_timeout = 1e20\n", "'host.total_timeout' must be", id="t-huge"),
    pytest.param("[host]\nread_timeout = true\n", "'host.read_timeout' must be", id="t-bool"),
    pytest.param(
        '[journal]\npath = "/proc/nonexist/j.sqlite"\n', "'journal.path' names", id="j-proc"
    ),
    pytest.param("[journal]\npath = 5\n", "'journal.path' must be a file path", id="j-int"),
    pytest.param('[journal]\npath = ""\n', "'journal.path' must be a file path", id="j-empty"),
    pytest.param('[journal]\npath = "/"\n', "'journal.path' names", id="j-directory"),
    pytest.param(
        f'[oda]\ncapk_file = "{GARBAGE}"\n', "'oda.capk_file' must name a JSON", id="capk"
    ),
    pytest.param(
        f'[oda]\nrevocation_file = "{GARBAGE}"\n',
        "'oda.revocation_file' must name a JSON",
        id="revocation",
    ),
    pytest.param(
        '[terminal]\nterminal_type = "99"\n', "'terminal.terminal_type' must be one of", id="tt"
    ),
    pytest.param(
        '[terminal]\nterminal_type = "20"\n', "'terminal.terminal_type' must be one of", id="tt20"
    ),
    pytest.param(
        '[terminal]\nterminal_id = "POS1"\n',
        "'terminal.terminal_id' must be exactly 8 letters or digits",
        id="tid-short",
    ),
    pytest.param(
        '[terminal]\nterminal_id = "POS 0001"\n',
        "'terminal.terminal_id' must be exactly 8 letters or digits",
        id="tid-space",
    ),
    pytest.param(
        '[terminal]\nifd_serial = "SIM1"\n',
        "'terminal.ifd_serial' must be exactly 8 letters or digits",
        id="ifd-short",
    ),
    pytest.param(
        AID + 'default_ddol = "9F"\n',
        "'aid[1].default_ddol' must be a data object list",
        id="ddol",
    ),
    pytest.param(
        AID + 'default_tdol = "9F0206 9F37"\n',
        "'aid[1].default_tdol' must be a data object list",
        id="tdol",
    ),
    pytest.param(
        '[terminal]\nexception_file = ["notapan", 5]\n',
        "'terminal.exception_file[1]' must be a PAN of 12 to 19 digits",
        id="exception-file",
    ),
    pytest.param(
        '[terminal]\nexception_file = ["4761739001010119", 5]\n',
        "'terminal.exception_file[2]' must be a PAN of 12 to 19 digits",
        id="exception-file-int",
    ),
    pytest.param(
        "[contactless.terminal]\n"
        'country_code = "0276"\nterminal_type = 34\nterminal_capabilities = "E0F8C8"\n'
        'additional_capabilities = "6000F0A001"\nmerchant_category_code = "5411"\n'
        "terminal_floor_limit = 4294967296\n"
        '[[contactless.combinations]]\naid = "A0000000031010"\nkernel_id = 3\n'
        'ttq = "36004000"\n',
        "contactless.terminal.terminal_floor_limit must be between 0 and 4294967295",
        id="contactless-9F1B",
    ),
    pytest.param(
        "[contactless.terminal]\n"
        'country_code = "09F9"\nterminal_type = 34\nterminal_capabilities = "E0F8C8"\n'
        'additional_capabilities = "6000F0A001"\nmerchant_category_code = "5411"\n'
        '[[contactless.combinations]]\naid = "A0000000031010"\nkernel_id = 3\n'
        'ttq = "36004000"\n',
        "contactless.terminal.country_code must be decimal digits (format n)",
        id="contactless-9F1A",
    ),
    pytest.param(
        "[contactless.terminal]\n"
        'country_code = "0276"\nterminal_type = 34\nterminal_capabilities = "E0F8C8"\n'
        'additional_capabilities = "6000F0A001"\nmerchant_category_code = "99AA"\n'
        '[[contactless.combinations]]\naid = "A0000000031010"\nkernel_id = 3\n'
        'ttq = "36004000"\n',
        "contactless.terminal.merchant_category_code must be decimal digits (format n)",
        id="contactless-9F15",
    ),
]


def _write(tmp_path: Path, text: str) -> Path:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("this is not JSON\n")
    path = tmp_path / "pos.toml"
    path.write_text(text.replace(GARBAGE, str(garbage)))
    return path


@pytest.mark.parametrize("text, fragment", BROKEN)
def test_a_broken_value_is_refused_at_load(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(str(_write(tmp_path, text)))
    message = str(caught.value)
    assert fragment in message
    assert caught.value.exit_code == 2
    assert "\n" not in message


@pytest.mark.parametrize("text, fragment", BROKEN)
def test_pay_with_a_broken_value_exits_2_before_anything_is_journaled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, fragment: str
) -> None:
    config = _write(tmp_path, text)
    code = main(["pay", "--host", "embedded", "--config", str(config), "1.00"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert fragment in err
    assert err.startswith("pos: config ") and len(err.strip().splitlines()) == 1
    assert out == "" and "Traceback" not in err
    data = Path(os.environ["POS_DATA_DIR"])
    assert not (data / "journal.sqlite").exists()  # no sale was started, not even the journal
    assert not Path("/proc/nonexist").exists()


def test_the_message_says_what_to_write(tmp_path: Path) -> None:
    cases = {
        "[terminal]\ncountry_code = 99999\n": (
            "config key 'terminal.country_code' must be an ISO 3166 numeric country code "
            "from 1 to 999 (9F1A is n3), e.g. 276, not 99999"
        ),
        "[terminal]\nmerchant_category_code = 99999\n": (
            "config key 'terminal.merchant_category_code' must be an ISO 18245 merchant "
            "category code from 0 to 9999 (9F15 is n4), e.g. 5411, not 99999"
        ),
        AID + "floor_limit = 4294967296\n": (
            "config key 'aid[1].floor_limit' must be a whole number of minor units from 0 to "
            "4294967295 (9F1B is binary, 4 bytes), not 4294967296"
        ),
        '[terminal]\nacquirer_id = "ABCDEF"\n': (
            "config key 'terminal.acquirer_id' must be 6 to 11 digits in quotes (9F01 is n6-11, "
            "ISO 8583 DE 32 is n..11), e.g. \"000001\", not 'ABCDEF'"
        ),
        "[host]\nread_timeout = nan\n": (
            "config key 'host.read_timeout' must be a number of seconds above 0 and at most "
            "3600, e.g. 10.0, not nan"
        ),
        "[journal]\npath = 5\n": (
            "config key 'journal.path' must be a file path in quotes, "
            'e.g. "/var/lib/pos/journal.sqlite", not 5'
        ),
        '[terminal]\nterminal_type = "99"\n': (
            "config key 'terminal.terminal_type' must be one of 11-16, 21-26 or 34-36 "
            "(9F35, EMV Book 4 Annex A1), e.g. \"22\", not '99'"
        ),
        '[terminal]\nterminal_id = "POS1"\n': (
            "config key 'terminal.terminal_id' must be exactly 8 letters or digits "
            "(9F1C is an8, ISO 8583 DE 41 is ans8), e.g. \"POS00001\", not 'POS1'"
        ),
        AID + 'default_ddol = "9F"\n': (
            "config key 'aid[1].default_ddol' must be a data object list of tag and length "
            "pairs (EMV Book 3 5.4), e.g. \"9F3704\", not '9F'"
        ),
        '[terminal]\nexception_file = ["notapan"]\n': (
            "config key 'terminal.exception_file[1]' must be a PAN of 12 to 19 digits in quotes "
            "(5A is cn, up to 19 digits); the entry is not shown, as it may be a card number"
        ),
    }
    for text, sentence in cases.items():
        with pytest.raises(ConfigError) as caught:
            load_settings(str(_write(tmp_path, text)))
        assert str(caught.value) == sentence


def test_an_unusable_journal_path_names_the_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for path, reason in [
        ("/proc/nonexist/j.sqlite", "'/proc' is not writable"),
        (f"{blocker}/j.sqlite", f"'{blocker}' is not a directory"),
        (str(tmp_path), f"'{tmp_path}' is a directory"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_settings(str(_write(tmp_path, f'[journal]\npath = "{path}"\n')))
        assert reason in str(caught.value)
        assert "give a file in a directory the terminal can write" in str(caught.value)


def test_a_capk_file_without_a_keys_list_is_a_config_error(tmp_path: Path) -> None:
    capk = tmp_path / "capk.json"
    capk.write_text(json.dumps({"entries": []}))
    with pytest.raises(ConfigError) as caught:
        load_settings(str(_write(tmp_path, f'[oda]\ncapk_file = "{capk}"\n')))
    assert "'oda.capk_file' must name a JSON file shaped like emv/data/capk.json" in str(
        caught.value
    )
    assert "has no 'keys' list" in str(caught.value)


def test_values_at_the_edges_of_their_format_are_accepted(tmp_path: Path) -> None:
    journal = tmp_path / "new" / "dir" / "journal.sqlite"
    text = (
        '[terminal]\ncountry_code = 999\nmerchant_category_code = 9999\nterminal_type = "36"\n'
        'terminal_id = "ABCD1234"\nifd_serial = "SIM00001"\nacquirer_id = "12345678901"\n'
        'exception_file = ["541333008901", "5413330089010434123"]\n'
        + AID
        + "floor_limit = 4294967295\nrandom_selection_threshold = 4294967294\n"
        'default_ddol = ""\ndefault_tdol = "9F02065F2A029A039C0195059F3704"\n'
        "[host]\nconnect_timeout = 0.5\nread_timeout = 3600\ntotal_timeout = 3600.0\n"
        f'[journal]\npath = "{journal}"\n'
    )
    settings = load_settings(str(_write(tmp_path, text)))
    emv = settings.emv
    assert (emv.country_code, emv.merchant_category_code, emv.terminal_type) == (999, 9999, 0x36)
    assert emv.acquirer_id == "12345678901" and emv.terminal_id == "ABCD1234"
    assert emv.exception_file == ("541333008901", "5413330089010434123")
    assert emv.aids[0].floor_limit == 4294967295 and emv.aids[0].default_ddol == b""
    assert settings.host.read_timeout == 3600.0 and settings.host.connect_timeout == 0.5
    assert settings.journal_path == str(journal)
    assert not journal.parent.exists()  # loading the file checks, it does not create anything


def test_every_terminal_type_of_book_4_is_accepted(tmp_path: Path) -> None:
    for value in [*range(0x11, 0x17), *range(0x21, 0x27), *range(0x34, 0x37)]:
        text = f'[terminal]\nterminal_type = "{value:02X}"\n'
        assert load_settings(str(_write(tmp_path, text))).emv.terminal_type == value


def test_threshold_zero_is_allowed_with_a_zero_floor_limit(tmp_path: Path) -> None:
    text = AID + "floor_limit = 0\nrandom_selection_threshold = 0\n"
    assert load_settings(str(_write(tmp_path, text))).emv.aids[0].random_selection_threshold == 0


def test_the_example_configurations_still_load() -> None:
    root = Path(__file__).resolve().parent.parent
    load_settings(str(root / "deploy" / "config.example.toml"))
    load_settings(None)
