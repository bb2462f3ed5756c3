"""Online PIN end to end: ``pos pay --pinpad PTY`` with the PIN pad simulator on a pty,
the contact card simulator, and the embedded host simulator decrypting the DUKPT block.

mc_debit's CVM list starts with online enciphered PIN (42 03), then signature (5E 03).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware_sim.pinpad import SimulatedPinPad
from tests.peripherals_support import pay


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    yield


def run_with_pad(*script: str, card: str = "mc_debit", amount: str = "12.00"):
    with SimulatedPinPad(pin="1234", script=script, time_scale=0) as sim:
        result = pay(amount, "--card", card, "--pinpad", sim.port)
        return (*result, sim)


def test_online_pin_approved() -> None:
    code, out, err, sim = run_with_pad("pin")
    assert code == 0, err
    assert (out["outcome"], out["response_code"]) == ("approved", "00")
    assert out["cvm_results"] == "420300"  # online PIN, if supported, result unknown
    assert out["tvr"] == "0000048000"  # byte 3 b3: online PIN entered
    assert sim.state.pin_requests == 1


def test_wrong_pin_is_declined_55_by_the_host() -> None:
    code, out, _, _ = run_with_pad("digits:9999")
    assert code == 1
    assert (out["outcome"], out["response_code"]) == ("declined", "55")
    assert out["tvr"] == "0000048000" and out["cvm_results"] == "420300"


def test_cancel_on_the_pad_aborts_without_going_online() -> None:
    code, out, _, _ = run_with_pad("cancel")
    assert code == 1
    assert out["outcome"] == "aborted"
    assert out["reason"] == "the cardholder cancelled PIN entry"
    assert out["response_code"] == "" and out["stan"] == ""


def test_pad_timeout_means_pin_not_entered_then_signature() -> None:
    code, out, _, _ = run_with_pad("timeout")
    assert code == 0
    assert out["tvr"][4:6] == "08"  # byte 3 b4: PIN not entered
    assert out["cvm_results"] == "5E0300"  # signature, result unknown


def test_pad_unplugged_mid_entry_falls_back_with_a_message() -> None:
    code, out, err, _ = run_with_pad("disconnect")
    assert code == 0
    assert "pos: the PIN pad was disconnected; reconnect it and retry" in err.splitlines()
    assert out["tvr"][4:6] == "10"  # byte 3 b5: PIN pad not present or not working
    assert out["cvm_results"] == "5E0300"
    assert out["response_code"] == "00"


def test_garbled_frame_on_the_line_is_recovered() -> None:
    code, out, _, sim = run_with_pad("garble", "pin")
    assert code == 0 and out["response_code"] == "00"
    assert sim.state.naks_received == 1


def test_missing_pinpad_port_is_one_sentence() -> None:
    code, out, err = pay("1.00", "--card", "mc_debit", "--pinpad", "/nonexistent/pinpad")
    assert code == 1 and out == {}
    last = err.splitlines()[-1]
    assert last.startswith("pos: cannot open serial port /nonexistent/pinpad")
    assert "dialout" in last
