"""A simulated ESC/POS receipt printer (TEST infrastructure).

:class:`EscPosPrinter` parses the byte stream the way a thermal printer's firmware does,
enough to check what a receipt says: text lines (decoded with the selected code page), the
alignment/bold/size in force for each line, native QR codes (``GS ( k`` cn=49: fn 65 model,
67 module size, 69 error correction, 80 store data, 81 print), feeds and cuts (``GS V``), and it
answers the real-time status requests ``DLE EOT 1`` (printer) and ``DLE EOT 4`` (paper roll
sensor) - Epson ESC/POS Application Programming Guide.  A paper-out printer reports it and
drops everything sent to it; ``paper_lines`` makes the roll run out after that many lines.

Links: :class:`PtyPrinter` (a serial printer on a pseudo-terminal), :class:`TcpPrinter` (a
network printer's raw port 9100) and :func:`parse_file` (a file the terminal wrote).
An unknown command is recorded in ``unknown`` rather than guessed at.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hardware_sim.ptylink import PtyDevice

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C
CODE_PAGES = {0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252",
              17: "cp866", 19: "cp858"}  # fmt: skip
# ESC commands followed by exactly n parameter bytes
ESC_ARGS = {
    ord("@"): 0, ord("!"): 1, ord("E"): 1, ord("G"): 1, ord("-"): 1, ord("a"): 1,
    ord("t"): 1, ord("d"): 1, ord("J"): 1, ord("M"): 1, ord("{"): 1, ord("2"): 0,
    ord("3"): 1, ord("V"): 1, ord("R"): 1, ord("p"): 3, ord("c"): 2, ord("r"): 1,
    ord("U"): 1, ord(" "): 1, ord("$"): 2, ord("\\"): 2, ord("D"): -1, ord("e"): 1,
    ord("i"): 0, ord("m"): 0,
}  # fmt: skip
GS_ARGS = {
    ord("!"): 1, ord("B"): 1, ord("b"): 1, ord("h"): 1, ord("w"): 1, ord("H"): 1,
    ord("f"): 1, ord("L"): 2, ord("W"): 2, ord("a"): 1, ord("r"): 1, ord("I"): 1,
}  # fmt: skip
STATUS_ONLINE = 0x16  # DLE EOT 1: fixed bits 1, 2 and 4; bit 3 = 0 online
STATUS_OFFLINE = 0x1E
PAPER_OK = 0x12  # DLE EOT 4: fixed bits 1 and 4
PAPER_NEAR_END = 0x1E  # bits 2-3: roll near-end sensor
PAPER_OUT = 0x72  # bits 5-6: roll end sensor


@dataclass
class PrintedLine:
    text: str
    align: str = "left"
    bold: bool = False
    double_width: bool = False
    double_height: bool = False


@dataclass
class QrCode:
    data: str
    model: int = 2
    module_size: int = 3
    error_correction: str = "L"


@dataclass
class Ticket:
    """Everything printed between two cuts."""

    lines: list[PrintedLine] = field(default_factory=list)
    qr_codes: list[QrCode] = field(default_factory=list)
    cut: str = ""  # "", "full", "partial"

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class EscPosPrinter:
    """The printer's firmware: ``feed(bytes) -> reply bytes``."""

    def __init__(self, *, paper: bool = True, paper_lines: int | None = None) -> None:
        self.paper = paper
        self.paper_lines = paper_lines
        self.tickets: list[Ticket] = [Ticket()]
        self.unknown: list[bytes] = []
        self.dropped = 0  # bytes received while out of paper
        self.status_requests: list[int] = []
        self.received = 0
        self._buffer = bytearray()
        self._line = bytearray()
        self._qr_pending = QrCode("")
        self._lock = threading.Lock()
        self._reset_style()

    # ---------------------------------------------------------------- state
    def _reset_style(self) -> None:
        self.align, self.bold, self.dw, self.dh, self.code_page = "left", False, False, False, 0

    def set_paper(self, present: bool) -> None:
        self.paper = present

    @property
    def finished(self) -> list[Ticket]:
        """Tickets that were cut."""
        return [t for t in self.tickets if t.cut]

    @property
    def printed_lines(self) -> int:
        return sum(len(t.lines) for t in self.tickets)

    # ---------------------------------------------------------------- parsing
    def feed(self, data: bytes) -> bytes:
        with self._lock:
            self.received += len(data)
            self._buffer += data
            reply = bytearray()
            while self._buffer:
                used = self._step(reply)
                if used == 0:
                    break  # an incomplete command: wait for more bytes
                del self._buffer[:used]
            return bytes(reply)

    def _step(self, reply: bytearray) -> int:
        buf = self._buffer
        first = buf[0]
        if first == DLE:
            if len(buf) < 3:
                return 0
            if buf[1] == 0x04:  # DLE EOT n: real-time status, answered even without paper
                self.status_requests.append(buf[2])
                reply.append(self._status(buf[2]))
                return 3
            self.unknown.append(bytes(buf[:3]))
            return 3
        if first == ESC:
            return self._esc(buf)
        if first == GS:
            return self._gs(buf)
        if first == FS:
            if len(buf) < 2:
                return 0
            return 2  # FS . / FS & (Kanji mode on/off): no parameters
        if first == 0x0A:
            self._newline()
            return 1
        if first in (0x0D, 0x00):
            return 1
        if first == 0x09:
            self._text(b" " * 4)
            return 1
        self._text(bytes([first]))
        return 1

    def _esc(self, buf: bytearray) -> int:
        if len(buf) < 2:
            return 0
        cmd = buf[1]
        want = ESC_ARGS.get(cmd)
        if want is None:
            self.unknown.append(bytes(buf[:2]))
            return 2
        if want < 0:  # ESC D n1..nk NUL: tab stops
            end = buf.find(b"\x00", 2)
            return 0 if end < 0 else end + 1
        if len(buf) < 2 + want:
            return 0
        arg = buf[2] if want else 0
        if cmd == ord("@"):
            self._reset_style()
        elif cmd == ord("!"):
            self.bold, self.dh, self.dw = bool(arg & 0x08), bool(arg & 0x10), bool(arg & 0x20)
        elif cmd == ord("E"):
            self.bold = bool(arg & 1)
        elif cmd == ord("a"):
            self.align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center",
                          50: "right"}.get(arg, "left")  # fmt: skip
        elif cmd == ord("t"):
            self.code_page = arg
        elif cmd == ord("d"):
            if self._line:
                self._newline()
        elif cmd in (ord("i"), ord("m")):  # obsolete one-point / three-point partial cut
            self._cut("partial")
        return 2 + want

    def _gs(self, buf: bytearray) -> int:
        if len(buf) < 2:
            return 0
        cmd = buf[1]
        if cmd == ord("V"):  # GS V m [n]
            if len(buf) < 3:
                return 0
            mode = buf[2]
            size = 4 if mode in (65, 66, 97, 98, 103, 104) else 3
            if len(buf) < size:
                return 0
            self._cut("partial" if mode in (1, 49, 66, 98, 104) else "full")
            return size
        if cmd == ord("("):  # GS ( X pL pH data
            if len(buf) < 5:
                return 0
            size = 5 + buf[3] + 256 * buf[4]
            if len(buf) < size:
                return 0
            if buf[2] == ord("k"):
                self._two_d_code(bytes(buf[5:size]))
            return size
        if cmd == ord("v") and len(buf) >= 3 and buf[2] == ord("0"):  # GS v 0 raster image
            if len(buf) < 8:
                return 0
            size = 8 + (buf[4] + 256 * buf[5]) * (buf[6] + 256 * buf[7])
            return size if len(buf) >= size else 0
        if cmd == ord("k"):  # GS k m d1..dk NUL (A form) or GS k m n d1..dn (B form)
            if len(buf) < 4:
                return 0
            if buf[2] < 65:
                end = buf.find(b"\x00", 3)
                return 0 if end < 0 else end + 1
            size = 4 + buf[3]
            return size if len(buf) >= size else 0
        want = GS_ARGS.get(cmd)
        if want is None:
            self.unknown.append(bytes(buf[:2]))
            return 2
        if len(buf) < 2 + want:
            return 0
        if cmd == ord("!"):
            arg = buf[2]
            self.dw, self.dh = bool(arg & 0xF0), bool(arg & 0x0F)
        return 2 + want

    def _two_d_code(self, body: bytes) -> None:
        """GS ( k: cn fn [m] data; cn 49 is QR Code."""
        if len(body) < 2 or body[0] != 49:
            return
        fn = body[1]
        if fn == 65 and len(body) >= 3:
            self._qr_pending.model = body[2] - 48
        elif fn == 67 and len(body) >= 3:
            self._qr_pending.module_size = body[2]
        elif fn == 69 and len(body) >= 3:
            self._qr_pending.error_correction = "LMQH"[(body[2] - 48) % 4]
        elif fn == 80:
            self._qr_pending.data = body[3:].decode("utf-8", "replace")
        elif fn == 81:
            if self.paper:
                self.tickets[-1].qr_codes.append(self._qr_pending)
            self._qr_pending = QrCode("", self._qr_pending.model, self._qr_pending.module_size,
                                      self._qr_pending.error_correction)  # fmt: skip

    # ---------------------------------------------------------------- paper
    def _status(self, n: int) -> int:
        if n == 1:
            return STATUS_ONLINE if self.paper else STATUS_OFFLINE
        if n == 4:
            return PAPER_OK if self.paper else PAPER_OUT
        return 0x12  # n = 2 (off-line cause) and 3 (error cause): no error bits set

    def _text(self, raw: bytes) -> None:
        self._line += raw

    def _newline(self) -> None:
        raw, self._line = bytes(self._line), bytearray()
        if not self.paper:
            self.dropped += len(raw) + 1
            return
        text = raw.decode(CODE_PAGES.get(self.code_page, "cp437"), "replace")
        self.tickets[-1].lines.append(PrintedLine(text, self.align, self.bold, self.dw, self.dh))
        if self.paper_lines is not None and self.printed_lines >= self.paper_lines:
            self.paper = False  # the roll ran out on this line

    def _cut(self, kind: str) -> None:
        if self._line:
            self._newline()
        if not self.paper:
            return
        self.tickets[-1].cut = kind
        self.tickets.append(Ticket())


def parse_file(path: str | Path) -> EscPosPrinter:
    """Parse an ESC/POS byte stream that was written to a file."""
    printer = EscPosPrinter()
    printer.feed(Path(path).read_bytes())
    return printer


class PtyPrinter:
    """A serial printer on a pty: the terminal opens :attr:`port` with pyserial."""

    def __init__(self, printer: EscPosPrinter | None = None, link_path: str | None = None):
        self.printer = printer or EscPosPrinter()
        self.device = PtyDevice(link_path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-printer", daemon=True)

    @property
    def port(self) -> str:
        return self.device.port

    def start(self) -> PtyPrinter:
        self._thread.start()
        return self

    def _run(self) -> None:
        import os
        import select

        while not self._stop.is_set() and not self.device.unplugged:
            try:
                ready, _, _ = select.select([self.device.master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.device.master, 4096)
            except (OSError, ValueError):
                return
            if data:
                reply = self.printer.feed(data)
                if reply:
                    self.device.write(reply)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.device.close()

    def __enter__(self) -> PtyPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TcpPrinter:
    """A network printer's raw port (9100 on real printers; port 0 picks a free one)."""

    def __init__(self, printer: EscPosPrinter | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:  # fmt: skip
        self.printer = printer or EscPosPrinter()
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.1)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-printer", daemon=True)

    def start(self) -> TcpPrinter:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    reply = self.printer.feed(data)
                    if reply:
                        with contextlib.suppress(OSError):
                            conn.sendall(reply)

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> TcpPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
