"""``pos readers``, ``pos doctor`` and ``pos sim pinpad|fingerprint`` from the command line."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hardware_sim.fingerprint import SimulatedFingerprintSensor
from hardware_sim.pinpad import SimulatedPinPad
from terminal.cli import main
from terminal.peripherals.pinpad import SerialPinPad
from tests.process_support import finish, wait_until


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_readers_json_lists_serial_ports_and_explains_missing_pcscd() -> None:
    code, out, _ = cli("readers", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"devices", "notes"}
    assert all(set(d) == {"kind", "path", "what"} for d in doc["devices"])
    assert all(d["kind"] in ("pcsc", "nfc", "serial", "i2c") for d in doc["devices"])


def test_doctor_handshakes_with_both_peripherals_and_reports_fixes(tmp_path: Path) -> None:
    with SimulatedPinPad(time_scale=0) as pad, SimulatedFingerprintSensor() as sensor:
        sensor.enrol(0, "1")
        code, out, _ = cli(
            "doctor", "--pinpad", pad.port, "--fingerprint", sensor.port,
            "--printer", str(tmp_path / "lp0"), "--host", "127.0.0.1:1", "--json",
        )  # fmt: skip
    doc = json.loads(out)
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["PIN pad"]["status"] == "ok"
    assert "SIM-PP100" in checks["PIN pad"]["detail"]
    assert "FFFF9876543210E00001" in checks["PIN pad"]["detail"]
    assert checks["fingerprint sensor"]["status"] == "ok"
    assert "1 template(s)" in checks["fingerprint sensor"]["detail"]
    assert checks["printer"]["status"] == "fail" and checks["printer"]["fix"]
    assert checks["host link"]["status"] == "fail"
    assert "firewall" in checks["host link"]["fix"]
    assert code == 1 and doc["ok"] is False
    assert all(c["fix"] for c in doc["checks"] if c["status"] == "fail")


def test_doctor_reports_a_dead_pinpad_with_a_fix() -> None:
    with SimulatedPinPad(script=["pin"]) as pad:
        pad.dev.unplug()
        code, out, _ = cli("doctor", "--pinpad", pad.port, "--host", "embedded", "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["PIN pad"]["status"] == "fail"
    # The unplugged pad's /dev/pts/N is gone and, held by the simulator, not reused by a pty of
    # a parallel test (which once answered the handshake here and read as "ok").
    assert "does not exist" in checks["PIN pad"]["detail"]
    assert checks["PIN pad"]["fix"]
    assert checks["host link"]["status"] == "ok"
    assert code == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim", "pinpad", "--pty", "/tmp/x-pos-pp", "--pin", "12"], "--pin must be 4 to 12"),
        (["sim", "pinpad", "--pty", "/tmp/x-pos-pp", "--script", "dance"], "'dance' is not"),
        (["sim", "fingerprint", "--pty", "/tmp/x-pos-fp", "--finger", "9"], "finger '9' is"),
        (["sim", "pinpad", "--pty", "/nonexistent/dir/pp"], "does not exist"),
    ],
)
def test_sim_usage_errors_are_one_sentence(argv: list[str], message: str) -> None:
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_pos_sim_pinpad_serves_on_the_named_link(tmp_path: Path) -> None:
    link = tmp_path / "pinpad"
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal", "sim", "pinpad", "--pty", str(link), "--pin", "4321"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(link.is_symlink)
        assert os.readlink(link).startswith("/dev/pts/")
        with SerialPinPad.open(str(link)) as pad:
            assert pad.status().model == "SIM-PP100"
    finally:
        out, _ = finish(proc)
    assert proc.returncode == 0
    assert "PIN pad SIM-PP100 on" in out
    assert not link.exists()  # the link is removed on exit


def test_shipped_example_config_loads_with_the_biometric_capability() -> None:
    from terminal.config import load_settings

    root = Path(__file__).resolve().parents[1]
    settings = load_settings(str(root / "deploy" / "config.example.toml"))
    assert settings.emv.terminal_capabilities == bytes.fromhex("E0FCC8")
    assert settings.emv.terminal_capabilities[1] & 0x04
    unit = (root / "deploy" / "systemd" / "pos-terminal.service").read_text()
    assert "ExecStart=/opt/pos-terminal/.venv/bin/pos run" in unit and "User=pos" in unit
    rules = (root / "deploy" / "udev" / "99-pos-terminal.rules").read_text()
    assert 'SYMLINK+="pos-pinpad"' in rules and 'SYMLINK+="pos-fingerprint"' in rules
