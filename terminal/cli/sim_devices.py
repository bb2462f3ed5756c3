"""``pos sim pinpad`` and ``pos sim fingerprint``: simulated serial peripherals on a pty.

* ``pos sim pinpad --pty PATH [--pin DIGITS] [--script ACTION,...]`` - the secure PIN pad of
  docs/pinpad-protocol.md; it types PIN when asked (TEST-ONLY DUKPT key).
* ``pos sim fingerprint --pty PATH [--finger ID] [--enrol ID]`` - a ZhianTec R30x sensor with
  that finger on the glass (see ``hardware_sim/data/fingerprints.json`` for the IDs).

Each creates a pseudo-terminal, links PATH to it and serves until Ctrl-C; the terminal then
uses ``pos pay --pinpad PATH`` / ``--fingerprint PATH``.

Registered as extra devices of the existing ``pos sim`` parser (module listed after
``terminal.cli.sim`` in ``COMMAND_MODULES``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from hardware_sim.signals import stop_on_signals, wait_for_stop
from terminal.errors import UsageError

PIN_ACTIONS = ("pin", "cancel", "bypass", "timeout", "silent", "disconnect", "garble")


def _sim_subparsers(sub: Any) -> Any:
    sim = sub.choices.get("sim")
    if sim is None:
        raise RuntimeError("terminal.cli.sim must be registered before terminal.cli.sim_devices")
    for action in sim._actions:  # argparse keeps the sub-parsers action here
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the 'pos sim' parser has no devices")


def register(sub: Any) -> None:
    inner = _sim_subparsers(sub)
    pad = inner.add_parser("pinpad", help="simulated secure PIN pad on a pty")
    pad.add_argument("--pty", required=True, metavar="PATH", help="symlink to create")
    pad.add_argument("--pin", default="1234", help="PIN the simulated cardholder types")
    pad.add_argument(
        "--script",
        default="",
        help="comma-separated actions per PIN request: pin, digits:NNNN, cancel, bypass, "
        "timeout, silent, disconnect, garble",
    )
    pad.set_defaults(handler=serve_pinpad)
    finger = inner.add_parser("fingerprint", help="simulated R30x fingerprint sensor on a pty")
    finger.add_argument("--pty", required=True, metavar="PATH", help="symlink to create")
    finger.add_argument("--finger", default="1", help="finger on the glass (0 = none)")
    finger.add_argument("--enrol", action="append", default=[], metavar="ID",
                        help="store this finger in the sensor's library (repeatable)")  # fmt: skip
    finger.set_defaults(handler=serve_fingerprint)


def check_link_path(path: str) -> None:
    """--pty PATH: its folder exists, and PATH is free or an old symlink we may replace."""
    parent = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"--pty {path}: the folder {parent} does not exist")
    if os.path.exists(path) and not os.path.islink(path):
        raise UsageError(f"--pty {path} exists and is not a symlink; choose another path")


def serve_pinpad(args: argparse.Namespace) -> int:
    check_link_path(args.pty)
    if not (args.pin.isdigit() and 4 <= len(args.pin) <= 12):
        raise UsageError("--pin must be 4 to 12 digits")
    script = [a.strip() for a in args.script.split(",") if a.strip()]
    for action in script:
        if action not in PIN_ACTIONS and not (
            action.startswith("digits:") and action[7:].isdigit()
        ):
            raise UsageError(f"--script action '{action}' is not one of {', '.join(PIN_ACTIONS)}")
    from hardware_sim.pinpad import SimulatedPinPad

    stop = stop_on_signals()
    with SimulatedPinPad(pin=args.pin, script=script, link_path=args.pty) as pad:
        print(f"PIN pad {pad.model} on {args.pty} ({pad.dev.path}); TEST keys; Ctrl-C stops")
        wait_for_stop(stop)
    return 0


def serve_fingerprint(args: argparse.Namespace) -> int:
    check_link_path(args.pty)
    from hardware_sim import fingerprint_library as lib
    from hardware_sim.fingerprint import SimulatedFingerprintSensor

    known = lib.finger_ids()
    for finger in [args.finger, *args.enrol]:
        if finger not in known:
            raise UsageError(f"finger '{finger}' is unknown; known fingers: {', '.join(known)}")
    stop = stop_on_signals()
    with SimulatedFingerprintSensor(finger=args.finger, link_path=args.pty) as sensor:
        for page, finger in enumerate(args.enrol):
            sensor.enrol(page, finger)
        print(f"fingerprint sensor on {args.pty} ({sensor.dev.path}), finger {args.finger}; "
              "Ctrl-C stops")  # fmt: skip
        wait_for_stop(stop)
    return 0
