"""Driver for the serial secure PIN pad (protocol: docs/pinpad-protocol.md).

The PIN pad owns the PIN: it holds the DUKPT key (ANSI X9.24-1) and returns only an
encrypted ISO 9564 format 0 block with its KSN for online PIN.  For offline PIN it returns
the format 2 block (EMV Book 3 6.5.12) sealed under the AES-GCM session key agreed at
sign-on, so no PIN is ever in clear on the serial line.  The terminal opens it only to
build the VERIFY command for the card.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from emv.ports import OfflinePin, OnlinePin, PinEntry, PinEntryStatus, PinRequest
from terminal.peripherals.framing import FS, Frame, message
from terminal.peripherals.link import FrameLink, PeripheralError, open_port
from terminal.peripherals.session import Session, SessionError, derive_session_key, public_bytes

DEFAULT_BAUD = 19200
REPLY_TIMEOUT_S = 3.0
ENTRY_MARGIN_S = 5.0

STATUS_TEXT = {
    "00": "done",
    "01": "cancelled",
    "02": "timed out",
    "03": "bypassed",
    "10": "the PIN pad has no PIN key loaded; load one with a TR-31 key block",
    "11": "the PIN pad is not signed on",
    "12": "the PIN pad refused a malformed request",
    "13": "the PIN pad refused the key block (wrong KBPK, usage or MAC)",
    "14": "the PIN pad's DUKPT key is exhausted and must be reloaded",
    "15": "the PIN pad is busy with another request",
}
ENTRY_STATUS = {
    "00": PinEntryStatus.ENTERED,
    "01": PinEntryStatus.CANCELLED,
    "02": PinEntryStatus.TIMEOUT,
    "03": PinEntryStatus.BYPASSED,
}


@dataclass(frozen=True)
class PinPadStatus:
    model: str
    serial_number: str
    firmware: str
    ksn: str  # next KSN, "" when no key is loaded
    signed_on: bool


class PinPadError(PeripheralError):
    pass


class SerialPinPad:
    """One PIN pad on a serial port or pyserial URL."""

    def __init__(
        self, port: Any, *, name: str = "PIN pad", entry_margin_s: float = ENTRY_MARGIN_S
    ) -> None:
        self.link = FrameLink(port, name)
        self.entry_margin_s = entry_margin_s
        self._session: Session | None = None

    @classmethod
    def open(cls, port: str, baudrate: int = DEFAULT_BAUD, **kw: Any) -> SerialPinPad:
        return cls(open_port(port, baudrate), **kw)

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> SerialPinPad:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- request / response -------------------------------------------------------------
    def _call(self, command: str, *fields: str, timeout: float = REPLY_TIMEOUT_S) -> list[str]:
        self.link.send(message(command, *fields))
        reply = self._expect(command, timeout)
        if reply is None:
            raise PinPadError(
                f"the PIN pad did not answer the {command} command; check that it is powered"
            )
        return reply

    def _expect(self, command: str, timeout: float) -> list[str] | None:
        deadline = time.monotonic() + timeout
        while True:
            frame: Frame | None = self.link.receive(max(0.0, deadline - time.monotonic()))
            if frame is None:
                return None
            fields = frame.fields
            if fields[0] == command and len(fields) >= 2:
                return fields[1:]
            # an answer to an older request (e.g. a late CN): ignore it

    @staticmethod
    def _check(fields: list[str], command: str) -> list[str]:
        status = fields[0]
        if status != "00":
            text = STATUS_TEXT.get(status, f"the PIN pad answered {command} with status {status}")
            raise PinPadError(text)
        return fields[1:]

    # --- commands -------------------------------------------------------------------------
    def sign_on(self) -> None:
        """SO: agree the session key by ephemeral ECDH (docs section 4)."""
        own = ec.generate_private_key(ec.SECP256R1())
        terminal_pub = public_bytes(own)
        fields = self._check(self._call("SO", terminal_pub.hex().upper()), "SO")
        try:
            pad_pub = bytes.fromhex(fields[0])
            key = derive_session_key(own, pad_pub, terminal_pub, pad_pub)
        except (IndexError, ValueError):
            raise PinPadError("the PIN pad sent an unusable sign-on key") from None
        self._session = Session(key, b"T")

    def _new_session(self) -> Session:
        self.sign_on()
        if self._session is None:  # pragma: no cover - sign_on sets it or raises
            raise PinPadError("the PIN pad did not sign on")
        return self._session

    def status(self) -> PinPadStatus:
        fields = self._check(self._call("ST"), "ST")
        if len(fields) < 5:
            raise PinPadError("the PIN pad sent a short status answer")
        return PinPadStatus(fields[0], fields[1], fields[2], fields[3], fields[4] == "1")

    def display(self, line1: str, line2: str = "") -> None:
        clean = [_printable(line1)[:16], _printable(line2)[:16]]
        self._check(self._call("DT", *clean), "DT")

    def load_key(self, key_block: str, ksn: bytes) -> str:
        """LK: install a DUKPT initial key delivered as a TR-31 key block; returns its KCV."""
        fields = self._check(self._call("LK", key_block.strip(), ksn.hex().upper()), "LK")
        return fields[0] if fields else ""

    def cancel(self) -> None:
        self.link.send(message("CN"))

    def request_pin(
        self,
        request: PinRequest,
        *,
        min_length: int = 4,
        max_length: int = 12,
        timeout_s: int = 30,
        amount_text: str = "",
    ) -> PinEntry:
        """PN: prompt on the pad; ENTERED carries only an encrypted or sealed block."""
        session = self._session or self._new_session()
        mode = "N" if request.online else "F"
        pan = session.seal(request.pan.encode("ascii"), b"PAN")
        text = _printable(amount_text or f"{request.currency} {request.amount_minor}")[:16]
        self.link.send(
            message("PN", mode, str(min_length), str(max_length), str(timeout_s), text, pan)
        )
        fields = self._expect("PN", timeout_s + self.entry_margin_s)
        if fields is None:
            # The pad went quiet past its own timeout: tell it to stop, then report it.
            self.cancel()
            self._expect("PN", REPLY_TIMEOUT_S)
            return PinEntry(PinEntryStatus.TIMEOUT)
        status = fields[0]
        if status in ENTRY_STATUS and status != "00":
            return PinEntry(ENTRY_STATUS[status])
        if status != "00":
            raise PinPadError(STATUS_TEXT.get(status, f"the PIN pad answered PN with {status}"))
        try:
            if request.online:
                ksn, block = bytes.fromhex(fields[1]), bytes.fromhex(fields[2])
                if len(ksn) != 10 or len(block) != 8:
                    raise ValueError("bad online PIN block")
                return PinEntry(PinEntryStatus.ENTERED, online=OnlinePin(block, ksn, 0))
            clear = session.open(fields[1], b"PINBLOCK2")
            if len(clear) != 8 or clear[0] >> 4 != 2:
                raise ValueError("bad offline PIN block")
            return PinEntry(PinEntryStatus.ENTERED, offline=OfflinePin(clear))
        except (IndexError, ValueError, SessionError):
            raise PinPadError(
                "the PIN pad sent an unusable PIN block; the PIN was not used"
            ) from None


def _printable(text: str) -> str:
    return "".join(c if " " <= c <= "~" and c != FS else "?" for c in text)
