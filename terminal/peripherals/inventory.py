"""What is plugged in: PC/SC readers, nfcpy devices, serial ports, I2C buses (no probing).

Nothing here writes to a device: USB devices are recognised by vendor/product id (nfcpy's
own table), serial ports by their USB bridge or by the Raspberry Pi UART names.  A port
is only *named* a PIN pad or a fingerprint sensor by ``pos doctor``'s handshakes.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

PI_UARTS = {
    "/dev/serial0": "Raspberry Pi primary UART (GPIO14/15): PN532 in HSU mode or R307 sensor",
    "/dev/ttyAMA0": "Raspberry Pi PL011 UART: nfcpy 'tty:AMA0:pn532', or R307 sensor",
    "/dev/ttyS0": "Raspberry Pi mini UART: enable_uart=1 and a fixed core clock needed",
}
USB_SERIAL_BRIDGES = {
    (0x1A86, 0x7523): "CH340 USB-serial (cheap PN532 boards, R307 adapters)",
    (0x10C4, 0xEA60): "CP210x USB-serial (PN532 boards, sensor adapters, PIN pads)",
    (0x0403, 0x6001): "FTDI FT232 USB-serial (PIN pads, PN532 boards)",
    (0x067B, 0x2303): "Prolific PL2303 USB-serial",
}


def on_raspberry_pi() -> bool:
    try:
        with open("/proc/device-tree/model", "rb") as handle:
            return b"Raspberry Pi" in handle.read()
    except OSError:
        return False


@dataclass(frozen=True)
class Device:
    kind: str  # pcsc | nfc | serial | i2c
    path: str  # what to pass: reader name, nfcpy path, serial port
    what: str


def pcsc_readers() -> tuple[list[Device], str]:
    try:
        from terminal.readers.pcsc import list_pcsc_readers
    except ImportError as exc:  # pragma: no cover - pyscard missing
        return [], f"pyscard is not importable ({exc})"
    listed = list_pcsc_readers()
    rows = [Device("pcsc", name, _describe_pcsc(name)) for name in listed]
    return rows, getattr(listed, "reason", "") or ""


def _describe_pcsc(name: str) -> str:
    lowered = name.lower()
    if "acr122" in lowered:
        return "ACS ACR122U contactless reader (PC/SC, CCID)"
    if "virtual pcd" in lowered or "vpcd" in lowered:
        return "vsmartcard virtual reader (simulated cards)"
    if "picc" in lowered or "contactless" in lowered:
        return "contactless PC/SC reader"
    return "PC/SC contact reader"


def nfc_usb_devices() -> tuple[list[Device], str]:
    try:
        import usb1
        from nfc.clf.device import usb_device_map
    except ImportError as exc:
        return [], f"nfcpy/libusb1 not importable ({exc})"
    rows = []
    try:
        with usb1.USBContext() as context:
            for dev in context.getDeviceIterator(skip_on_error=True):
                key = (dev.getVendorID(), dev.getProductID())
                driver = usb_device_map.get(key)
                if driver:
                    path = f"usb:{key[0]:04x}:{key[1]:04x}"
                    note = " - claimed by pcscd's CCID driver unless blacklisted" if (
                        driver == "acr122") else ""  # fmt: skip
                    rows.append(Device("nfc", path, f"nfcpy driver {driver}{note}"))
    except Exception as exc:  # noqa: BLE001 - libusb missing or no permission
        return rows, f"cannot list USB devices ({exc})"
    return rows, ""


def serial_ports() -> list[Device]:
    from serial.tools import list_ports

    rows = []
    seen = set()
    for port in list_ports.comports():
        seen.add(port.device)
        key = (port.vid, port.pid) if port.vid is not None else None
        what = USB_SERIAL_BRIDGES.get(key) if key else None
        if what is None:
            pi = PI_UARTS.get(port.device) if on_raspberry_pi() else None
            what = pi or (port.description if port.description not in ("", "n/a") else "")
            what = what or "serial port"
        rows.append(Device("serial", port.device, what))
    for path, what in PI_UARTS.items() if on_raspberry_pi() else ():
        if path not in seen and os.path.exists(path):
            rows.append(Device("serial", path, what))
    for link in sorted(glob.glob("/dev/pos-*")):  # names given by deploy/udev rules
        rows.append(Device("serial", link, f"udev alias -> {os.path.realpath(link)}"))
    return rows


def i2c_buses() -> list[Device]:
    return [
        Device("i2c", bus, "I2C bus (PN532 at 0x24): nfcpy has no I2C driver, see docs")
        for bus in sorted(glob.glob("/dev/i2c-*"))
    ]


def everything() -> tuple[list[Device], list[str]]:
    rows: list[Device] = []
    notes: list[str] = []
    for finder in (pcsc_readers, nfc_usb_devices):
        found, note = finder()
        rows += found
        if note:
            notes.append(note)
    rows += serial_ports() + i2c_buses()
    return rows, notes
