"""``--pinpad PORT`` and ``--fingerprint PORT`` for ``pos pay`` (and any other runner).

:func:`add_arguments` adds the two options; :func:`attach` opens the devices (their closing
joins the caller's ExitStack), signs on to the PIN pad, and returns the cardholder port and
the authoriser to use.  PORT is a device path (``/dev/ttyUSB0``, ``/dev/serial0``) or any
pyserial URL.  Without either option the caller's objects come back unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import replace
from typing import Any

from terminal.peripherals.biometric_block import default_issuer_sealer
from terminal.peripherals.cardholder import DeviceCardholder


def _print_device_errors(text: str) -> None:
    """Tell the cashier at once when a peripheral fails mid-transaction (stderr)."""
    if text.startswith("DEVICE_ERROR: "):
        print(f"pos: {text.removeprefix('DEVICE_ERROR: ')}", file=sys.stderr)


def check_finger(finger: str) -> None:
    """``--finger ID`` names a finger of the simulated sensor's library, or is a usage error."""
    from hardware_sim import fingerprint_library as lib
    from terminal.errors import UsageError

    if finger not in lib.finger_ids():
        known = ", ".join(lib.finger_ids())
        raise UsageError(f"--finger '{finger}' is unknown; known fingers: {known}")


def _simulated_sensor(stack: contextlib.ExitStack, finger: str) -> str:
    """``--finger ID`` alone: a simulated R30x sensor on a pty, that finger on the glass."""
    from hardware_sim.fingerprint import SimulatedFingerprintSensor

    check_finger(finger)
    sensor = stack.enter_context(SimulatedFingerprintSensor(finger=finger))
    return str(sensor.port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pinpad", metavar="PORT", default=None, help="serial PIN pad")
    parser.add_argument(
        "--fingerprint", metavar="PORT", default=None, help="serial fingerprint sensor (R30x)"
    )


def with_biometric_capability(settings: Any) -> Any:
    """Terminal Capabilities 9F33 byte 2 b3 (biometric) set, as a fitted sensor implies."""
    caps = bytearray(settings.emv.terminal_capabilities)
    if caps[1] & 0x04:
        return settings
    caps[1] |= 0x04
    return replace(settings, emv=replace(settings.emv, terminal_capabilities=bytes(caps)))


def attach(
    args: argparse.Namespace,
    stack: contextlib.ExitStack,
    cardholder: Any,
    authoriser: Any,
    settings: Any,
) -> tuple[Any, Any, Any]:
    """Open ``--pinpad`` / ``--fingerprint``; returns (cardholder, authoriser, settings)."""
    pinpad_port = getattr(args, "pinpad", None)
    sensor_port = getattr(args, "fingerprint", None)
    finger = getattr(args, "finger", None)
    if finger and not sensor_port:
        sensor_port = _simulated_sensor(stack, finger)
    if not pinpad_port and not sensor_port:
        return cardholder, authoriser, settings
    pinpad = None
    sensor = None
    if pinpad_port:
        from terminal.peripherals.pinpad import SerialPinPad

        pinpad = stack.enter_context(SerialPinPad.open(pinpad_port))
        pinpad.sign_on()
    if sensor_port:
        from terminal.peripherals.fingerprint import FingerprintSensor

        sensor = stack.enter_context(FingerprintSensor.open(sensor_port))
        sensor.handshake()
    device = DeviceCardholder(
        pinpad=pinpad,
        fingerprint=sensor,
        biometric_sealer=default_issuer_sealer() if sensor is not None else None,
        fallback_pin=getattr(cardholder, "_pin", None),
        application_index=getattr(cardholder, "application_index", 0),
        online_pin_encryptor=getattr(cardholder, "online_pin_encryptor", None),
        on_message=getattr(cardholder, "on_message", None) or _print_device_errors,
    )
    if sensor is not None:
        settings = with_biometric_capability(settings)
    return device, authoriser, settings
