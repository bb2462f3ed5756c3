"""Split-sales check (EMV Book 3 10.6.1): the floor limit counts today's offline approvals on
the same card, found in the journal by a PAN fingerprint (never the PAN itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from terminal.cli import main


def pay(capsys: pytest.CaptureFixture[str], config: Path, card: str) -> dict:
    main(["pay", "9.00", "--card", card, "--config", str(config), "--host", "none", "--json"])
    return json.loads(capsys.readouterr().out)


def test_second_sale_on_the_same_card_exceeds_the_floor_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "floor.toml"
    config.write_text(
        '[[aid]]\naid = "A0000000031010"\napplication_version = "008C"\nfloor_limit = 1500\n'
    )
    first = pay(capsys, config, "sda_legacy")
    assert first["outcome"] == "approved" and first["tvr"][6:8] == "00"
    # 9.00 + 9.00 >= 15.00: TVR byte 4 b8 'transaction exceeds floor limit'.
    second = pay(capsys, config, "sda_legacy")
    assert second["tvr"][6:8] == "80"
    assert second["cryptogram_type"] == "AAC"  # offline-only now: no host, default action
    # Another card is not affected by the first card's sales.
    other = pay(capsys, config, "dda_card")
    assert other["tvr"][6:8] == "00"
