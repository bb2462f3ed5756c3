"""``pos doctor``: check the installation and print a fix for every failure.

Checks, in order: pcscd, device permissions (udev rules, groups), reader presence, the PIN
pad handshake (``--pinpad``), the fingerprint sensor handshake (``--fingerprint``), the
receipt printer (``--printer``), and the host link (``--host`` or the configuration).
Exit 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

UDEV_RULES = Path("/etc/udev/rules.d/99-pos-terminal.rules")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check readers, peripherals, permissions and host link")
    p.add_argument("--pinpad", metavar="PORT", default=None, help="PIN pad to handshake with")
    p.add_argument("--fingerprint", metavar="PORT", default=None, help="sensor to handshake")
    p.add_argument("--printer", metavar="PATH", default=None, help="ESC/POS printer device")
    p.add_argument("--host", default=None, help="embedded | HOST:PORT (default: configuration)")
    p.add_argument("--config", default=None, help="terminal configuration (TOML)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def check_pcscd() -> list[Check]:
    from terminal.peripherals.inventory import pcsc_readers

    readers, reason = pcsc_readers()
    if reason and not PCSCD_SOCKET.exists():
        return [
            Check("pcscd", "fail", "the PC/SC daemon is not running",
                  "sudo apt install pcscd && sudo systemctl enable --now pcscd.socket"),
        ]  # fmt: skip
    if reason:
        return [
            Check("pcscd", "ok", "pcscd is running"),
            Check("card readers", "fail", reason,
                  "plug in a PC/SC reader (check 'lsusb'), then run 'pos readers'"),
        ]  # fmt: skip
    names = ", ".join(r.path for r in readers)
    return [
        Check("pcscd", "ok", "pcscd is running"),
        Check("card readers", "ok", f"{len(readers)} PC/SC reader(s): {names}"),
    ]


def check_permissions() -> list[Check]:
    out = []
    if os.geteuid() == 0:
        out.append(Check("groups", "ok", "running as root (the service should not: see docs)"))
    else:
        groups = {grp.getgrgid(g).gr_name for g in os.getgroups()}
        missing = sorted({"dialout", "plugdev"} - groups)
        if missing:
            out.append(Check("groups", "fail", f"this user is not in {', '.join(missing)}",
                             f"sudo usermod -aG {','.join(missing)} $USER, then log in again"))  # fmt: skip
        else:
            out.append(Check("groups", "ok", "user is in dialout and plugdev"))
    if UDEV_RULES.exists():
        out.append(Check("udev rules", "ok", f"{UDEV_RULES} is installed"))
    else:
        out.append(Check("udev rules", "warn", "the terminal's udev rules are not installed",
                         "sudo cp deploy/udev/99-pos-terminal.rules /etc/udev/rules.d/ && "
                         "sudo udevadm control --reload && sudo udevadm trigger"))  # fmt: skip
    return out


def _port_check(port: str, name: str) -> Check | None:
    if "://" in port or os.path.exists(port):
        if "://" not in port and not os.access(port, os.R_OK | os.W_OK):
            return Check(name, "fail", f"no read/write permission on {port}",
                         "add your user to 'dialout' or install deploy/udev rules")  # fmt: skip
        return None
    return Check(name, "fail", f"{port} does not exist",
                 "check the cable and 'pos readers'; on a Pi enable the UART in config.txt")  # fmt: skip


def check_pinpad(port: str) -> Check:
    problem = _port_check(port, "PIN pad")
    if problem:
        return problem
    from terminal.peripherals.link import PeripheralError
    from terminal.peripherals.pinpad import SerialPinPad

    try:
        with SerialPinPad.open(port) as pad:
            status = pad.status()
            pad.sign_on()
    except PeripheralError as exc:
        return Check("PIN pad", "fail", str(exc),
                     "check power, the cable, and 19200 8N1; see docs/pinpad-protocol.md")  # fmt: skip
    if not status.ksn:
        return Check("PIN pad", "fail", f"{status.model} {status.serial_number} has no PIN key",
                     "load a DUKPT initial key as a TR-31 key block (LK command)")  # fmt: skip
    return Check("PIN pad", "ok",
                 f"{status.model} serial {status.serial_number} fw {status.firmware}, "
                 f"next KSN {status.ksn}, session key agreed")  # fmt: skip


def check_fingerprint(port: str) -> Check:
    problem = _port_check(port, "fingerprint sensor")
    if problem:
        return problem
    from terminal.peripherals.fingerprint import FingerprintSensor
    from terminal.peripherals.link import PeripheralError

    try:
        with FingerprintSensor.open(port) as sensor:
            sensor.handshake()
            count = sensor.template_count()
    except PeripheralError as exc:
        return Check("fingerprint sensor", "fail", str(exc),
                     "check 3.3 V power, TX->RX crossing, and 57600 baud; see docs/raspberry-pi.md")  # fmt: skip
    return Check("fingerprint sensor", "ok",
                 f"R30x protocol answered, {count} template(s) stored, {sensor.packet_size}-byte "
                 "packets")  # fmt: skip


def check_printer(path: str) -> Check:
    if not os.path.exists(path):
        return Check("printer", "fail", f"{path} does not exist",
                     "plug the printer in; USB printers appear as /dev/usb/lp0")  # fmt: skip
    if not os.access(path, os.W_OK):
        return Check("printer", "fail", f"no write permission on {path}",
                     "add your user to 'lp' or install deploy/udev rules")  # fmt: skip
    if path.startswith("/dev/tty") or "://" in path:
        import serial

        try:
            with serial.serial_for_url(path, 9600, timeout=1) as port:
                port.write(b"\x10\x04\x01")  # ESC/POS DLE EOT 1: real-time printer status
                reply = port.read(1)
        except (serial.SerialException, OSError) as exc:
            return Check("printer", "fail", f"cannot talk to {path} ({exc})", "check the cable")
        if not reply:
            return Check("printer", "fail", "the printer did not answer DLE EOT 1",
                         "check power and baud rate (9600 by default)")  # fmt: skip
        if reply[0] & 0x08:
            return Check("printer", "fail", "the printer reports it is offline",
                         "close the cover and load paper")  # fmt: skip
    return Check("printer", "ok", f"{path} is writable")


def check_host(address: str) -> Check:
    if address in ("embedded", "none"):
        return Check("host link", "ok", f"'{address}' (the built-in host simulator)")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return Check("host link", "fail", f"'{address}' is not HOST:PORT",
                     "set [host] address = \"HOST:PORT\" in the configuration")  # fmt: skip
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as exc:
        return Check("host link", "fail", f"cannot connect to {address} ({exc.strerror or exc})",
                     "check the network, the acquirer address and any firewall")  # fmt: skip
    return Check("host link", "ok", f"TCP connection to {address} opened")


def run(args: argparse.Namespace) -> int:
    from terminal.config import load_settings

    settings = load_settings(args.config)
    checks = check_pcscd() + check_permissions()
    from terminal.peripherals.inventory import nfc_usb_devices

    nfc, note = nfc_usb_devices()
    checks.append(Check("NFC devices", "ok" if nfc else "skip",
                        ", ".join(d.path for d in nfc) or note or "no nfcpy USB device found"))  # fmt: skip
    checks.append(check_pinpad(args.pinpad) if args.pinpad else
                  Check("PIN pad", "skip", "no --pinpad PORT given"))  # fmt: skip
    checks.append(check_fingerprint(args.fingerprint) if args.fingerprint else
                  Check("fingerprint sensor", "skip", "no --fingerprint PORT given"))  # fmt: skip
    checks.append(check_printer(args.printer) if args.printer else
                  Check("printer", "skip", "no --printer PATH given"))  # fmt: skip
    checks.append(check_host(args.host or settings.host.address))
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            print(f"[{c.status.upper():>4}] {c.name}: {c.detail}")
            if c.fix:
                print(f"       fix: {c.fix}")
    return 1 if failed else 0
