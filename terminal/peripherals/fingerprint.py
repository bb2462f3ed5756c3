"""Driver for ZhianTec R30x / AS608 fingerprint sensors (R307, R305, AS608, ...) over UART.

The packet protocol of the R30x user manual: ``EF01 | address(4) | PID | length(2) |
payload | checksum(2)``; checksum = 16-bit sum of PID, length and payload.  PID 01 command,
02 data, 07 acknowledge, 08 last data packet.

Why not pyfingerprint (which the tests still use to cross-check the simulator): it opens
``serial.Serial(port=...)`` by device path only, so a pyserial URL cannot be used; when the
sensor falls silent it appends empty reads to the packet and, some 24 s later, raises
"The received packet do not begin with a valid header!"; and it raises bare ``Exception``
for everything, so a timeout, a garbled packet and a wrong password cannot be told apart.
This driver gives each of those its own one-sentence error.

Templates (character files) pass through memory only: :meth:`capture_template` returns the
bytes to its caller and keeps nothing.
"""

from __future__ import annotations

import time
from typing import Any

from terminal.peripherals.link import (
    TERMIOS_ERROR,
    PeripheralDisconnected,
    PeripheralError,
    open_port,
)

START = b"\xef\x01"
PID_COMMAND, PID_DATA, PID_ACK, PID_END = 0x01, 0x02, 0x07, 0x08
DEFAULT_BAUD = 57600
REPLY_TIMEOUT_S = 2.0

CONFIRMATION = {
    0x01: "the sensor reported a packet receive error",
    0x02: "no finger on the sensor",
    0x03: "the sensor could not take an image",
    0x06: "the fingerprint image is too messy",
    0x07: "the fingerprint image has too few features",
    0x08: "the fingerprints do not match",
    0x09: "no matching fingerprint in the library",
    0x0A: "the sensor could not combine the images",
    0x0B: "the library page is out of range",
    0x0C: "the sensor could not read that template",
    0x0D: "the sensor could not upload the template",
    0x0E: "the sensor could not receive the template",
    0x13: "the sensor password is wrong",
    0x15: "the sensor has no image to process",
}


class FingerprintError(PeripheralError):
    pass


def _checksum(pid: int, length: bytes, payload: bytes) -> bytes:
    return ((pid + sum(length) + sum(payload)) & 0xFFFF).to_bytes(2, "big")


class FingerprintSensor:
    def __init__(self, port: Any, *, address: int = 0xFFFFFFFF, password: int = 0) -> None:
        self.port = port
        self.address = address.to_bytes(4, "big")
        self.password = password
        self.packet_size = 128

    @classmethod
    def open(cls, port: str, baudrate: int = DEFAULT_BAUD, **kw: Any) -> FingerprintSensor:
        return cls(open_port(port, baudrate), **kw)

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:  # noqa: BLE001 - closing a dead port must not raise
            pass

    def __enter__(self) -> FingerprintSensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- packets ----------------------------------------------------------------------
    def _write(self, pid: int, payload: bytes) -> None:
        import serial

        length = (len(payload) + 2).to_bytes(2, "big")
        raw = START + self.address + bytes([pid]) + length + payload
        try:
            self.port.write(raw + _checksum(pid, length, payload))
            self.port.flush()
        except (serial.SerialException, OSError, TERMIOS_ERROR):
            raise PeripheralDisconnected(
                "the fingerprint sensor was disconnected; reconnect it and retry"
            ) from None

    def _read_exact(self, count: int, deadline: float) -> bytes:
        import serial

        out = bytearray()
        while len(out) < count:
            try:
                chunk = self.port.read(count - len(out))
            except (serial.SerialException, OSError, TERMIOS_ERROR):
                raise PeripheralDisconnected(
                    "the fingerprint sensor was disconnected; reconnect it and retry"
                ) from None
            out += chunk
            if not chunk and time.monotonic() >= deadline:
                raise FingerprintError(
                    "the fingerprint sensor did not answer; check its power, TX/RX wiring "
                    "and baud rate (57600 by default)"
                )
        return bytes(out)

    def _read_packet(self, timeout: float = REPLY_TIMEOUT_S) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        head = self._read_exact(9, deadline)
        if head[:2] != START:
            self._drain()
            raise FingerprintError("the fingerprint sensor sent a garbled packet (bad header)")
        length = int.from_bytes(head[7:9], "big")
        if length < 2:
            raise FingerprintError("the fingerprint sensor sent a garbled packet (bad length)")
        body = self._read_exact(length, deadline)
        pid, payload, check = head[6], body[:-2], body[-2:]
        if check != _checksum(pid, head[7:9], payload):
            raise FingerprintError("the fingerprint sensor sent a garbled packet (bad checksum)")
        return pid, payload

    def _drain(self) -> None:
        try:
            self.port.reset_input_buffer()
        except Exception:  # noqa: BLE001 - best effort
            pass

    def command(self, instruction: int, params: bytes = b"", *, retries: int = 1) -> bytes:
        """Send one instruction, return the ACK payload (confirmation code first)."""
        for attempt in range(retries + 1):
            self._write(PID_COMMAND, bytes([instruction]) + params)
            try:
                pid, payload = self._read_packet()
            except FingerprintError as exc:
                if "garbled" in str(exc) and attempt < retries:
                    self._drain()
                    continue  # every instruction we use is idempotent: just ask again
                raise
            if pid != PID_ACK or not payload:
                raise FingerprintError("the fingerprint sensor answered with a non-ACK packet")
            return payload
        raise FingerprintError("the fingerprint sensor sent a garbled packet")  # pragma: no cover

    def _ok(self, payload: bytes, what: str) -> bytes:
        if payload[0] != 0x00:
            reason = CONFIRMATION.get(payload[0], f"error code {payload[0]:#04x}")
            raise FingerprintError(f"{what} failed: {reason}")
        return payload[1:]

    # --- operations -----------------------------------------------------------------
    def handshake(self) -> None:
        """VfyPwd (13) then ReadSysPara (0F): the sensor is there and speaks the protocol."""
        self._ok(self.command(0x13, self.password.to_bytes(4, "big")), "the sensor handshake")
        params = self._ok(self.command(0x0F), "reading the sensor parameters")
        if len(params) >= 14:
            self.packet_size = 32 << min(int.from_bytes(params[12:14], "big"), 3)

    def template_count(self) -> int:
        return int.from_bytes(self._ok(self.command(0x1D), "counting templates")[:2], "big")

    def wait_for_finger(self, timeout_s: float) -> bool:
        """GenImg (01) until a finger is on the glass; False after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.command(0x01)[0]
            if code == 0x00:
                return True
            if code != 0x02:
                raise FingerprintError(
                    f"taking the fingerprint image failed: {CONFIRMATION.get(code, hex(code))}"
                )
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def capture_template(self, timeout_s: float = 15.0, buffer: int = 1) -> bytes | None:
        """Image -> character file (Img2Tz 02) -> UpChar (08); None if no finger came."""
        if not self.wait_for_finger(timeout_s):
            return None
        self._ok(self.command(0x02, bytes([buffer])), "processing the fingerprint")
        return self.upload(buffer)

    def upload(self, buffer: int = 1) -> bytes:
        """UpChar (08): the character file in ``buffer`` comes to the terminal in data packets."""
        self._ok(self.command(0x08, bytes([buffer]), retries=0), "reading the template")
        data = bytearray()
        while True:
            pid, payload = self._read_packet()
            if pid not in (PID_DATA, PID_END):
                raise FingerprintError("the fingerprint sensor interrupted the template upload")
            data += payload
            if pid == PID_END:
                return bytes(data)

    def download(self, template: bytes, buffer: int = 1) -> None:
        """DownChar (09): send a character file into ``buffer``."""
        self._ok(self.command(0x09, bytes([buffer]), retries=0), "sending the template")
        size = self.packet_size
        chunks = [template[i : i + size] for i in range(0, len(template), size)] or [b""]
        for n, chunk in enumerate(chunks):
            self._write(PID_END if n == len(chunks) - 1 else PID_DATA, chunk)

    def search(self, buffer: int = 1, start: int = 0, count: int = 1000) -> tuple[int, int] | None:
        """Search (04): (page, score) of the best library match, or None."""
        params = bytes([buffer]) + start.to_bytes(2, "big") + count.to_bytes(2, "big")
        payload = self.command(0x04, params)
        if payload[0] == 0x09:
            return None
        found = self._ok(payload, "searching the library")
        return int.from_bytes(found[0:2], "big"), int.from_bytes(found[2:4], "big")

    def enrol(self, page: int, timeout_s: float = 15.0) -> None:
        """Two captures, RegModel (05), Store (06) at ``page``."""
        for buffer in (1, 2):
            if not self.wait_for_finger(timeout_s):
                raise FingerprintError("enrolment failed: no finger was placed on the sensor")
            self._ok(self.command(0x02, bytes([buffer])), "processing the fingerprint")
        self._ok(self.command(0x05), "combining the two images")
        self._ok(self.command(0x06, b"\x01" + page.to_bytes(2, "big")), "storing the template")
