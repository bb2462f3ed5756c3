"""The contact kernel end to end through pyscard -> pcscd -> vpcd, with `pos pay`.

The same profiles and expectations as tests/test_kernel_profiles.py, but the card sits in a
real PC/SC reader slot, so every APDU crosses pcsc-lite and the vpcd driver.
"""

from __future__ import annotations

import json

import pytest

from hardware_sim.card import load_card
from terminal.cli import main
from tests import pcsc_harness
from tests.pcsc_harness import VpcdSlot
from tests.test_kernel_profiles import EXPECTED

pcsc_daemon = pcsc_harness.pcsc_daemon
vpcd_slot = pcsc_harness.vpcd_slot

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcscd")]

FIXED = ["--txn-datetime", "2026-11-24T10:30:00", "--unpredictable-number", "1A2B3C4D"]


def pay(capsys: pytest.CaptureFixture[str], reader: str, *extra: str) -> tuple[int, dict]:
    code = main(
        [
            "pay",
            "9.99",
            "--json",
            "--plain-tcp",
            "--reader",
            f"pcsc:{reader}",
            "--trust-test-keys",
            *FIXED,
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out) if out.strip() else {"error": err}


@pytest.mark.parametrize("profile", ["visa_credit", "mc_debit", "sda_legacy", "tampered_sda"])
def test_profile_through_pcsc_matches_in_process(
    vpcd_slot: VpcdSlot, capsys: pytest.CaptureFixture[str], profile: str
) -> None:
    card = load_card(profile)
    vpcd_slot.insert(card)
    code, result = pay(capsys, vpcd_slot.reader, "--pin", card.test_pin or "1234")
    outcome, tvr, tsi, cvm, cryptogram = EXPECTED[profile]
    assert (result["outcome"], result["tvr"], result["tsi"]) == (outcome, tvr, tsi), result
    assert (result["cvm_results"], result["cryptogram_type"]) == (cvm, cryptogram)
    assert code == (0 if outcome == "approved" else 1)


def test_card_pulled_mid_transaction_through_pcsc(
    vpcd_slot: VpcdSlot, capsys: pytest.CaptureFixture[str]
) -> None:
    vpcd_slot.insert(load_card("visa_credit"), remove_after_apdus=5)
    code, result = pay(capsys, vpcd_slot.reader)
    assert code == 1
    assert result["outcome"] == "aborted"
    assert result["reason"] == "card removed"


def test_no_such_reader_is_one_sentence(capsys: pytest.CaptureFixture[str], pcsc_daemon) -> None:
    code = main(["pay", "1.00", "--reader", "pcsc:No Such Reader 99", "--plain-tcp"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "No Such Reader 99" in err and "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if "data key" not in line]
    assert len(errors) == 1
