"""Biometric end to end: ``pos pay --fingerprint PTY --pinpad PTY`` with the R30x sensor
simulator and the PIN pad simulator on ptys, the biometric card profiles, and the embedded
host simulator (which opens the sealed block from DE 62 and matches it for CVM 09).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware_sim import fingerprint_library as lib
from hardware_sim.fingerprint import SimulatedFingerprintSensor
from hardware_sim.pinpad import SimulatedPinPad
from tests.peripherals_support import pay


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("terminal.peripherals.cardholder.CAPTURE_TIMEOUT_S", 0.3)


def run(card: str, finger: str | None, *script: str, sensor: bool = True):
    with (
        SimulatedPinPad(pin="1234", time_scale=0) as pad,
        SimulatedFingerprintSensor(finger=finger, script=script) as fs,
    ):
        argv = ["12.00", "--card", card, "--pinpad", pad.port]
        if sensor:
            argv += ["--fingerprint", fs.port]
        code, out, err = pay(*argv)
        return code, out, err, fs, pad


def test_offline_finger_matches_on_the_card() -> None:
    code, out, err, fs, pad = run("bio_finger_offline", "1")
    assert code == 0, err
    assert out["cvm_results"] == "480302"
    assert out["tvr"] == "000400E000"  # byte 2 b3: biometric performed and successful
    assert out["response_code"] == "00"
    assert fs.captures == 1 and pad.state.pin_requests == 0


def test_offline_non_matching_finger_falls_back_to_online_pin() -> None:
    code, out, _, fs, pad = run("bio_finger_offline", "2")
    assert code == 0
    assert out["tvr"] == "000004E400"  # online PIN entered, biometric try limit exceeded
    assert out["cvm_results"] == "420300"
    assert fs.captures == 3 and pad.state.pin_requests == 1


def test_online_finger_matched_by_the_issuer() -> None:
    code, out, err, fs, _ = run("bio_finger_online", "1")
    assert code == 0, err
    assert out["cvm_results"] == "490300"
    assert out["tvr"] == "000000E000"
    assert (out["outcome"], out["response_code"]) == ("approved", "00")
    assert fs.captures == 1


def test_online_non_matching_finger_is_declined_by_the_issuer() -> None:
    code, out, _, _, _ = run("bio_finger_online", "3")
    assert code == 1
    assert (out["outcome"], out["response_code"]) == ("declined", "05")
    assert out["cvm_results"] == "490300"


def test_sensor_timeout_is_capture_failed_then_online_pin() -> None:
    code, out, _, fs, _ = run("bio_finger_offline", None)
    assert code == 0
    assert out["tvr"] == "000006E000"  # online PIN entered + biometric capture failed
    assert out["cvm_results"] == "420300"
    assert fs.captures == 0


def test_sensor_unplugged_is_capture_failed_with_a_message() -> None:
    code, out, err, _, _ = run("bio_finger_offline", "1", "disconnect")
    assert code == 0
    assert "pos: the fingerprint sensor was disconnected; reconnect it and retry" in (
        err.splitlines()
    )
    assert out["tvr"] == "000006E000" and out["cvm_results"] == "420300"


def test_biometric_card_at_a_terminal_without_sensor() -> None:
    code, out, _, _, _ = run("bio_card_no_sensor", "1", sensor=False)
    assert code == 0
    assert out["tvr"] == "000004E200"  # byte 4 b2: biometric type not supported
    assert out["cvm_results"] == "420300"


def test_no_biometric_data_reaches_the_disk(tmp_path: Path) -> None:
    run("bio_finger_online", "1")
    run("bio_finger_offline", "1")
    reference = lib.reference_template("1")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            for window in (reference[i : i + 8] for i in range(0, 512, 32)):
                assert window not in raw
                assert window.hex().encode() not in raw.lower()


def test_finger_option_alone_uses_an_in_process_sensor_simulator() -> None:
    code, out, err = pay("12.00", "--card", "bio_finger_offline", "--finger", "1")
    assert code == 0, err
    assert out["cvm_results"] == "480302" and out["tvr"] == "000400E000"
    code, out, err = pay("12.00", "--card", "bio_finger_offline", "--finger", "42")
    assert code == 2 and "--finger '42' is unknown" in err
