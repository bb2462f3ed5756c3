"""The R30x/AS608 sensor driver and simulator over a real pty, cross-checked with pyfingerprint."""

from __future__ import annotations

import pytest
from pyfingerprint.pyfingerprint import PyFingerprint

from hardware_sim import fingerprint_library as lib
from hardware_sim.fingerprint import SimulatedFingerprintSensor, checksum, packet
from terminal.peripherals.fingerprint import FingerprintError, FingerprintSensor
from terminal.peripherals.link import PeripheralDisconnected


def test_packet_layout_matches_the_manual() -> None:
    # VfyPwd with password 0: EF01 FFFFFFFF 01 0007 13 00000000 001B
    raw = packet(b"\xff\xff\xff\xff", 0x01, bytes.fromhex("1300000000"))
    assert raw.hex().upper() == "EF01FFFFFFFF0100071300000000001B"
    assert checksum(0x01, b"\x00\x07", bytes.fromhex("1300000000")) == b"\x00\x1b"


def test_library_matches_same_finger_only() -> None:
    ref = lib.reference_template("1")
    assert len(ref) == 512
    assert lib.matches(lib.capture_sample("1"), ref)
    assert not lib.matches(lib.capture_sample("2"), ref)
    assert lib.match_score(lib.capture_sample("3"), ref) < 5
    assert lib.enrolled_finger("4761739001010408") == "1"


def test_handshake_enrol_capture_search() -> None:
    with SimulatedFingerprintSensor(finger="1", seed=7) as sim:
        with FingerprintSensor.open(sim.port) as sensor:
            sensor.handshake()
            assert sensor.packet_size == 128
            assert sensor.template_count() == 0
            sensor.enrol(page=4)
            assert sensor.template_count() == 1
            template = sensor.capture_template(timeout_s=1)
            assert template is not None and len(template) == 512
            assert lib.matches(template, lib.reference_template("1"))
            page, score = sensor.search() or (None, 0)
            assert page == 4 and score >= 60
            sim.finger = "2"
            assert sensor.capture_template(timeout_s=1) is not None
            assert sensor.search() is None  # a non-matching finger is not found


def test_download_then_search_the_uploaded_template() -> None:
    with SimulatedFingerprintSensor(finger="3", seed=1) as sim:
        sim.enrol(9, "1")
        with FingerprintSensor.open(sim.port) as sensor:
            sensor.handshake()
            sensor.download(lib.capture_sample("1"), buffer=1)
            found = sensor.search(buffer=1)
            assert found is not None and found[0] == 9


def test_no_finger_times_out_with_none() -> None:
    with SimulatedFingerprintSensor(finger=None) as sim:
        with FingerprintSensor.open(sim.port) as sensor:
            sensor.handshake()
            assert sensor.capture_template(timeout_s=0.2) is None
            assert sim.captures == 0


def test_garbled_answer_is_asked_again() -> None:
    with SimulatedFingerprintSensor(finger="1", script=["garble", "finger:1"]) as sim:
        with FingerprintSensor.open(sim.port) as sensor:
            sensor.handshake()
            template = sensor.capture_template(timeout_s=1)
            assert template is not None and lib.matches(template, lib.reference_template("1"))


def test_wrong_password_is_a_clear_sentence() -> None:
    with SimulatedFingerprintSensor(password=0x1234) as sim:
        with FingerprintSensor.open(sim.port) as sensor:
            with pytest.raises(FingerprintError, match="sensor password is wrong"):
                sensor.handshake()


def test_silent_sensor_is_a_clear_sentence() -> None:
    with SimulatedFingerprintSensor(address=0x12345678) as sim:  # ignores our address
        with FingerprintSensor.open(sim.port) as sensor:
            with pytest.raises(FingerprintError, match="did not answer; check its power"):
                sensor.command(0x13, bytes(4), retries=0)


def test_unplugged_sensor() -> None:
    with SimulatedFingerprintSensor(script=["disconnect"]) as sim:
        with FingerprintSensor.open(sim.port) as sensor:
            sensor.handshake()
            with pytest.raises(PeripheralDisconnected, match="fingerprint sensor was disconnected"):
                sensor.capture_template(timeout_s=1)


def test_simulator_speaks_pyfingerprint() -> None:
    """The reference Python driver drives the simulator through the same pty."""
    with SimulatedFingerprintSensor(finger="1", seed=3) as sim:
        sim.enrol(0, "1")
        finger = PyFingerprint(sim.port, 57600, 0xFFFFFFFF, 0)
        assert finger.verifyPassword()
        assert finger.getTemplateCount() == 1
        assert finger.getStorageCapacity() == 1000
        assert finger.readImage() is True
        finger.convertImage(0x01)
        position, score = finger.searchTemplate()
        assert position == 0 and score >= 60
        characteristics = finger.downloadCharacteristics(0x01)
        assert len(characteristics) == 512
        assert finger.uploadCharacteristics(0x02, characteristics)
        assert finger.compareCharacteristics() == 100
        del finger
