"""Receipts on paper: ESC/POS through python-escpos to a serial, USB, network printer or file.

Printer addresses (``pos receipt --printer SPEC``):

* ``serial:/dev/ttyUSB0[@BAUD]`` or any ``/dev/tty*`` path - a serial printer (9600 baud);
* ``/dev/usb/lpN`` or ``usblp:/dev/usb/lpN`` - a USB printer through the kernel's usblp
  driver (written like a file);
* ``usb:VID:PID`` - a USB printer through libusb (python-escpos ``Usb``; needs pyusb);
* ``tcp:HOST[:PORT]`` - a network printer's raw port (9100 by default);
* ``file:PATH`` - the ESC/POS byte stream written to a file.

The paper sensor is read with ``DLE EOT 4`` (ESC/POS real-time status, paper roll sensor)
before printing and again after, where the link can answer (serial and network): an empty
roll gives :class:`PrinterOutOfPaper` instead of a silently lost receipt.
"""

from __future__ import annotations

import logging
from textwrap import wrap
from typing import Any

from escpos.constants import RT_MASK_NOPAPER, RT_STATUS_PAPER
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError

from terminal.errors import UsageError, UserFacingError
from terminal.receipts.layout import WIDTH, layout, pair_text
from terminal.receipts.model import Receipt

log = logging.getLogger(__name__)
STATUS_TIMEOUT = 2.0


class PrinterError(UserFacingError):
    """The printer cannot be reached or refused the job."""


class PrinterOutOfPaper(PrinterError):
    """The paper roll sensor reports no paper."""


def render_escpos(receipt: Receipt, printer: Escpos, *, width: int = WIDTH) -> None:
    """Draw the receipt with python-escpos commands, QR printed natively (GS ( k), then cut."""
    printer.hw("INIT")
    for line in layout(receipt):
        if line.kind == "center":
            printer.set(align="center")
            for part in wrap(line.text, width):
                printer.textln(part)
            printer.set(align="left")
        elif line.kind == "big":
            printer.set(align="center", bold=True, double_width=True, double_height=True)
            printer.textln(line.text)
            printer.set(align="left", bold=False, normal_textsize=True)
        elif line.kind == "pair":
            printer.textln(pair_text(line.text, line.right, width))
        elif line.kind == "rule":
            printer.textln("-" * width)
        elif line.kind == "signature":
            printer.ln(2)
            printer.textln("X" + "_" * (width - 1))
            printer.textln(line.text)
        elif line.kind == "qr":
            printer.set(align="center")
            printer.qr(line.text, native=True, size=6)
            printer.ln()
            printer.set(align="left")
        elif line.kind == "blank":
            printer.ln()
        else:
            printer.textln(line.text[:width])
    printer.cut()


def open_printer(spec: str) -> tuple[Escpos, str]:
    """A python-escpos printer for ``spec`` and its kind (serial, usb, network, file)."""
    from escpos import printer as p

    kind, _, rest = spec.partition(":")
    if spec.startswith("/dev/tty") or kind == "serial":
        path = spec if kind != "serial" else rest
        path, _, baud = path.partition("@")
        if baud and not baud.isdigit():
            raise UsageError(f"--printer '{spec}': the baud rate after @ must be a number")
        return p.Serial(path, baudrate=int(baud or 9600), timeout=STATUS_TIMEOUT, dsrdtr=False), (
            "serial"
        )
    if spec.startswith("/dev/usb/") or kind == "usblp":
        return p.File(rest if kind == "usblp" else spec), "usb"
    if kind == "usb":
        vid, _, pid = rest.partition(":")
        try:
            ids = int(vid, 16), int(pid, 16)
        except ValueError:
            raise UsageError(
                f"--printer '{spec}' wants usb:VID:PID in hex, e.g. usb:04b8:0202"
            ) from None
        if not p.Usb.is_usable():
            raise UserFacingError(
                "printing by USB vendor/product id needs pyusb, which is not installed; "
                "use the kernel device instead, e.g. --printer /dev/usb/lp0"
            )
        return p.Usb(*ids), "usb"
    if kind == "tcp":
        host, _, port = rest.partition(":")
        if not host or (port and not port.isdigit()):
            raise UsageError(f"--printer '{spec}' wants tcp:HOST[:PORT], e.g. tcp:10.0.0.9:9100")
        return p.Network(host, int(port or 9100), timeout=STATUS_TIMEOUT), "network"
    if kind == "file" and rest:
        return p.File(rest), "file"
    raise UsageError(
        f"--printer '{spec}' is not a printer address: use serial:/dev/ttyUSB0, /dev/usb/lp0, "
        "usb:VID:PID, tcp:HOST[:PORT] or file:PATH"
    )


def paper_status(printer: Escpos, kind: str) -> int | None:
    """2 paper present, 1 near end, 0 no paper (python-escpos scale); None: cannot ask."""
    if kind == "serial":
        printer._raw(RT_STATUS_PAPER)
        reply: bytes = printer.device.read(1)
    elif kind == "network":
        printer._raw(RT_STATUS_PAPER)
        try:
            reply = printer._read()
        except TimeoutError:
            reply = b""
    else:
        return None
    if not reply:
        return None
    if reply[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
        return 0
    return 1 if reply[0] & 0x0C else 2


def print_receipt(receipt: Receipt, spec: str) -> str:
    """Print one receipt; returns the printer kind.  Errors are one sentence for the cashier."""
    printer, kind = open_printer(spec)
    try:
        try:
            printer.open()
        except (EscposError, OSError) as exc:
            raise PrinterError(
                f"cannot open the printer at {spec} ({_first_line(exc)}); check its cable and "
                "power, then reprint"
            ) from None
        _print(printer, kind, receipt, spec)
    finally:
        try:
            printer.close()
        except (EscposError, OSError) as exc:  # pragma: no cover - closing a dead link
            log.debug("printer close: %s", exc)
    return kind


def _print(printer: Escpos, kind: str, receipt: Receipt, spec: str) -> None:
    try:
        if paper_status(printer, kind) == 0:
            raise PrinterOutOfPaper(
                "the printer is out of paper: load a new roll, then reprint the receipt"
            )
        render_escpos(receipt, printer)
        if paper_status(printer, kind) == 0:
            raise PrinterOutOfPaper(
                "the printer ran out of paper while printing: load a new roll, then reprint "
                "the receipt"
            )
    except (EscposError, OSError) as exc:  # pyserial's SerialException is an OSError
        raise PrinterError(
            f"the printer at {spec} stopped answering ({_first_line(exc)}); check the cable, "
            "then reprint"
        ) from None


def _first_line(exc: Any) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
