"""Frame exchange over a pyserial port: ACK/NAK, retransmission, duplicate detection.

Implements docs/pinpad-protocol.md section 2 on the terminal side.  Every failure of the
serial line surfaces as :class:`PeripheralDisconnected` or :class:`PeripheralError`, each a
sentence a cashier can act on.
"""

from __future__ import annotations

import time
from typing import Any

from terminal.errors import UserFacingError
from terminal.peripherals.framing import (
    ACK,
    ETX,
    NAK,
    STX,
    Frame,
    FrameError,
    decode_body,
    encode_frame,
)

try:  # pyserial's tcdrain/tcflush raise termios.error (not an OSError) on a dead pty/tty
    from termios import error as TERMIOS_ERROR
except ImportError:  # pragma: no cover - Windows
    TERMIOS_ERROR = OSError

RETRIES = 3
ACK_TIMEOUT_S = 1.0
POLL_S = 0.05


class PeripheralError(UserFacingError):
    """The device answered, but not in a way the terminal can use."""


class PeripheralDisconnected(PeripheralError):
    """The serial line went away (cable pulled, device powered off)."""


def open_port(port: str, baudrate: int = 19200) -> Any:
    """Open a device path or pyserial URL (``/dev/ttyUSB0``, ``loop://``, ``rfc2217://``)."""
    import serial

    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=POLL_S, write_timeout=2)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PeripheralDisconnected(
            f"cannot open serial port {port} ({_reason(exc)}); check the cable, the path and "
            "that your user is in the 'dialout' group"
        ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]


class FrameLink:
    """One side of the STX/ETX/LRC link on an open pyserial port."""

    def __init__(self, port: Any, name: str = "PIN pad") -> None:
        self.port = port
        self.name = name
        self._send_seq = 0
        self._last_received: int | None = None
        self.naks_sent = 0
        self.retransmissions = 0

    # --- raw bytes -------------------------------------------------------------------
    def _read(self, deadline: float) -> int | None:
        import serial

        while True:
            try:
                chunk = self.port.read(1)
            except (serial.SerialException, OSError, TERMIOS_ERROR):
                raise PeripheralDisconnected(
                    f"the {self.name} was disconnected; reconnect it and retry"
                ) from None
            if chunk:
                return int(chunk[0])
            if time.monotonic() >= deadline:
                return None

    def _write(self, data: bytes) -> None:
        import serial

        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError, TERMIOS_ERROR):
            raise PeripheralDisconnected(
                f"the {self.name} was disconnected; reconnect it and retry"
            ) from None

    # --- frames ----------------------------------------------------------------------
    def send(self, data: str) -> None:
        """Send one frame and wait for its ACK, retransmitting on NAK or silence."""
        frame = encode_frame(self._send_seq, data)
        for attempt in range(RETRIES):
            if attempt:
                self.retransmissions += 1
            self._write(frame)
            deadline = time.monotonic() + ACK_TIMEOUT_S
            while True:
                byte = self._read(deadline)
                if byte is None or byte == NAK:
                    break
                if byte == ACK:
                    self._send_seq ^= 1
                    return
        raise PeripheralError(
            f"the {self.name} did not acknowledge after {RETRIES} tries; check the cable and "
            "the baud rate"
        )

    def receive(self, timeout: float) -> Frame | None:
        """Wait up to ``timeout`` seconds for one new frame; NAK bad ones; None on silence."""
        deadline = time.monotonic() + timeout
        bad = 0
        while True:
            byte = self._read(deadline)
            if byte is None:
                return None
            if byte != STX:
                continue  # line noise or a stray ACK between frames
            body = bytearray()
            frame_deadline = time.monotonic() + ACK_TIMEOUT_S
            while True:
                b = self._read(max(deadline, frame_deadline))
                if b is None:
                    break
                body.append(b)
                if b == ETX or len(body) > 4100:
                    break
            check = self._read(max(deadline, frame_deadline)) if body[-1:] == b"\x03" else None
            try:
                if check is None:
                    raise FrameError("the frame was cut short")
                frame = decode_body(bytes(body), check)
            except FrameError:
                bad += 1
                self.naks_sent += 1
                self._write(bytes([NAK]))
                if bad > RETRIES:
                    raise PeripheralError(
                        f"the {self.name} keeps sending garbled frames; check the cable, the "
                        "baud rate and for electrical noise"
                    ) from None
                continue
            self._write(bytes([ACK]))
            if frame.seq == self._last_received:
                continue  # a retransmission of a frame we already have (our ACK was lost)
            self._last_received = frame.seq
            return frame

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:  # noqa: BLE001 - closing a dead port must not raise
            pass
