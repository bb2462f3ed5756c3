"""``python -m terminal.operators``: the helper that makes a supervisor PIN hash line.

Its error messages point users at it, so it must behave like every other command: one
sentence on a problem, never a traceback, and a usable line when it succeeds.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

from terminal.operators import verify_pin


def operators(*argv: str, stdin: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "terminal.operators", *argv],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_pin_on_standard_input_gives_a_config_table_that_verifies() -> None:
    done = operators(stdin="9999\n")
    assert done.returncode == 0, done.stderr
    table = tomllib.loads(done.stdout)["operators"]
    assert verify_pin(table["supervisor_pin_hash"], "9999")
    assert not verify_pin(table["supervisor_pin_hash"], "9998")
    assert "9999" not in done.stdout + done.stderr


def test_no_pin_or_a_bad_one_is_one_sentence() -> None:
    for stdin in ("", "12\n", "abcd\n"):
        done = operators(stdin=stdin)
        assert done.returncode == 1
        assert (
            done.stderr == "operators: the supervisor PIN must be 4 to 12 digits; enter it again.\n"
        )
        assert done.stdout == ""


def test_help_and_unknown_arguments() -> None:
    assert operators("--help", stdin="").stdout.startswith("usage: python -m terminal.operators")
    bad = operators("--pin", "1234", stdin="")
    assert bad.returncode == 2
    assert bad.stderr == "operators: unexpected argument '--pin'; run with --help.\n"
