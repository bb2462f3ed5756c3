"""Simulated secure PIN pad on a pty, speaking docs/pinpad-protocol.md (TEST-ONLY keys).

The device side is written independently of the terminal's driver, from the protocol
document, so each checks the other.  It holds a TDES DUKPT originator (ANSI X9.24-1)
injected from the TEST BDK the host simulator knows, accepts a new initial key as a TR-31
key block (ANSI X9.143) under its TEST KBPK, and answers each PIN request from a script:

* ``"pin"`` - the cardholder types the configured PIN then ENTER;
* ``"digits:NNNN"`` - types those digits instead (a wrong PIN);
* ``"cancel"`` - presses CANCEL;  ``"bypass"`` - presses ENTER with no digits;
* ``"timeout"`` - touches nothing: the pad's own timer expires (scaled by ``time_scale``);
* ``"silent"`` - the pad never answers (a hung device);
* ``"disconnect"`` - the cable is pulled mid-entry;
* ``"garble"`` - the answer's first transmission is corrupted on the line (then retried).

When the script runs out, the pad keeps answering with ``"pin"``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from importlib import resources

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import kcv, pinblock, tr31
from crypto.dukpt_tdes import TdesDukptOriginator
from hardware_sim.ptylink import PtyDevice, PtyDeviceSimulator
from hardware_sim.soft_pinpad import TEST_INITIAL_KSN, _test_bdk

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
FS = "\x1c"
SESSION_INFO = b"pos-pinpad-session-v1"


def peripheral_test_keys() -> dict[str, str]:
    text = resources.files("hardware_sim.data").joinpath("peripheral_test_keys.json").read_text()
    doc: dict[str, str] = json.loads(text)
    return doc


def _lrc(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def frame(seq: int, data: str) -> bytes:
    body = bytes([0x30 + (seq & 1)]) + data.encode("ascii") + bytes([ETX])
    return bytes([STX]) + body + bytes([_lrc(body)])


@dataclass
class PadState:
    pin: str = "1234"
    script: deque[str] = field(default_factory=deque)
    time_scale: float = 1.0
    displayed: list[str] = field(default_factory=list)
    pin_requests: int = 0
    naks_received: int = 0
    frames_received: int = 0


class SimulatedPinPad(PtyDeviceSimulator):
    """Serve the PIN pad protocol on a pty until :meth:`stop`."""

    def __init__(
        self,
        *,
        pin: str = "1234",
        script: Iterable[str] = (),
        link_path: str | None = None,
        time_scale: float = 1.0,
        load_test_key: bool = True,
    ) -> None:
        self.dev = PtyDevice(link_path)
        self.state = PadState(pin=pin, script=deque(script), time_scale=time_scale)
        keys = peripheral_test_keys()
        self.model = keys["pinpad_model"]
        self.serial_number = keys["pinpad_serial"]
        self._kbpk = bytes.fromhex(keys["pinpad_kbpk_tdes"])
        self._dukpt: TdesDukptOriginator | None = (
            TdesDukptOriginator.from_bdk(_test_bdk(), TEST_INITIAL_KSN) if load_test_key else None
        )
        self._aead: AESGCM | None = None
        self._sent_counter = 0
        self._received_counter = 0
        self._send_seq = 0
        self._last_seq: int | None = None
        self._garble_next = False
        self._init_thread("sim-pinpad")

    def push(self, *actions: str) -> None:
        self.state.script.extend(actions)

    # --- link layer -----------------------------------------------------------------
    def _receive(self, timeout: float) -> list[str] | None:
        """Next new frame's fields (ACKed), None on silence; bad frames are NAKed."""
        while not self._stop.is_set() and not self.dev.unplugged:
            byte = self.dev.read_byte(timeout)
            if byte is None:
                return None
            if byte == NAK:
                self.state.naks_received += 1
                continue
            if byte != STX:
                continue
            body = bytearray()
            while len(body) < 4100:
                b = self.dev.read_byte(1.0)
                if b is None:
                    break
                body.append(b)
                if b == ETX:
                    break
            check = self.dev.read_byte(1.0) if body[-1:] == bytes([ETX]) else None
            if check is None or _lrc(bytes(body)) != check or body[0] not in (0x30, 0x31):
                self.dev.write(bytes([NAK]))
                continue
            self.dev.write(bytes([ACK]))
            seq = body[0] - 0x30
            fields = body[1:-1].decode("ascii", "replace").split(FS)
            if fields[0] == "SO":
                self._last_seq = None  # sign-on restarts the sequence numbering
            if seq == self._last_seq:
                continue  # retransmission of a frame we already processed
            self._last_seq = seq
            self.state.frames_received += 1
            return fields
        return None

    def _send(self, *fields: str) -> None:
        data = FS.join(fields)
        for _attempt in range(3):
            raw = frame(self._send_seq, data)
            if self._garble_next:
                self._garble_next = False
                raw = raw[:-1] + bytes([raw[-1] ^ 0x5A])  # line noise flips the LRC
            self.dev.write(raw)
            reply = self.dev.read_byte(1.0)
            while reply is not None and reply not in (ACK, NAK):
                reply = self.dev.read_byte(1.0)
            if reply == ACK:
                self._send_seq ^= 1
                return
            if reply == NAK:
                self.state.naks_received += 1
        # the terminal stopped answering: drop the message, as a real pad would

    # --- session ----------------------------------------------------------------------
    def _seal(self, plain: bytes, label: bytes) -> str:
        if self._aead is None:
            raise RuntimeError("no session")
        self._sent_counter += 1
        nonce = b"P" + self._sent_counter.to_bytes(11, "big")
        return (nonce + self._aead.encrypt(nonce, plain, label)).hex().upper()

    def _open(self, sealed: str, label: bytes) -> bytes | None:
        if self._aead is None:
            return None
        try:
            raw = bytes.fromhex(sealed)
            counter = int.from_bytes(raw[1:12], "big")
            if raw[:1] != b"T" or counter <= self._received_counter:
                return None
            plain = self._aead.decrypt(raw[:12], raw[12:], label)
        except (ValueError, InvalidTag):
            return None
        self._received_counter = counter
        return plain

    # --- commands ---------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set() and not self.dev.unplugged:
            fields = self._receive(0.1)
            if fields is None:
                continue
            handler = {
                "SO": self._sign_on,
                "ST": self._status,
                "DT": self._display,
                "LK": self._load_key,
                "PN": self._pin,
                "CN": lambda f: self._send("CN", "00"),
            }.get(fields[0])
            if handler is None:
                self._send(fields[0][:2] or "??", "12")
            else:
                handler(fields)

    def _sign_on(self, fields: list[str]) -> None:
        try:
            terminal_pub = bytes.fromhex(fields[1])
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), terminal_pub)
        except (IndexError, ValueError):
            self._send("SO", "12")
            return
        own = ec.generate_private_key(ec.SECP256R1())
        pad_pub = own.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        shared = own.exchange(ec.ECDH(), peer)
        key = HKDF(
            hashes.SHA256(), 16, salt=None, info=SESSION_INFO + terminal_pub + pad_pub
        ).derive(shared)
        self._aead = AESGCM(key)
        self._sent_counter = self._received_counter = 0
        self._send("SO", "00", pad_pub.hex().upper())

    def _status(self, fields: list[str]) -> None:
        ksn = self._dukpt.ksn.hex().upper() if self._dukpt and not self._dukpt.exhausted else ""
        self._send(
            "ST", "00", self.model, self.serial_number, "1.0.0", ksn,
            "1" if self._aead else "0",
        )  # fmt: skip

    def _display(self, fields: list[str]) -> None:
        self.state.displayed.append(" / ".join(fields[1:3]))
        self._send("DT", "00")

    def _load_key(self, fields: list[str]) -> None:
        try:
            header, key = tr31.unwrap(self._kbpk, fields[1])
            ksn = bytes.fromhex(fields[2])
            if header.key_usage != "B1" or len(ksn) != 10 or len(key) != 16:
                raise ValueError("not a TDES initial DUKPT key")
        except (IndexError, ValueError):
            self._send("LK", "13")
            return
        self._dukpt = TdesDukptOriginator(key, ksn)
        self._send("LK", "00", kcv.tdes_kcv(key).hex().upper())

    def _next_action(self) -> str:
        return self.state.script.popleft() if self.state.script else "pin"

    def _pin(self, fields: list[str]) -> None:
        self.state.pin_requests += 1
        try:
            mode, min_len, max_len, timeout = fields[1], int(fields[2]), int(fields[3]), fields[4]
            timeout_s = float(timeout)
            sealed_pan = fields[6]
        except (IndexError, ValueError):
            self._send("PN", "12")
            return
        if self._aead is None:
            self._send("PN", "11")
            return
        pan_raw = self._open(sealed_pan, b"PAN")
        if pan_raw is None or mode not in ("N", "F"):
            self._send("PN", "12")
            return
        if mode == "N" and (self._dukpt is None or self._dukpt.exhausted):
            self._send("PN", "10" if self._dukpt is None else "14")
            return
        action = self._next_action()
        if action == "disconnect":
            self.dev.unplug()
            return
        if action == "garble":
            self._garble_next = True
            action = self._next_action()
        if action in ("timeout", "silent"):
            waited = self._wait_for_cancel(timeout_s * self.state.time_scale)
            if waited == "cancel":
                self._send("CN", "00")
                self._send("PN", "01")
            elif action == "timeout":
                self._send("PN", "02")
            elif self._wait_for_cancel(3600) == "cancel":  # hung until the terminal cancels
                self._send("CN", "00")
                self._send("PN", "01")
            return
        if action == "cancel":
            self._send("PN", "01")
            return
        digits = "" if action == "bypass" else self.state.pin
        if action.startswith("digits:"):
            digits = action.partition(":")[2]
        if not digits:
            self._send("PN", "03")
            return
        if not (min_len <= len(digits) <= max_len):
            self._send("PN", "02")  # a real pad refuses ENTER until the length is right
            return
        if mode == "N" and self._dukpt is not None:
            block, ksn = self._dukpt.encrypt_pin(digits, pan_raw.decode("ascii"))
            self._send("PN", "00", ksn.hex().upper(), block.hex().upper())
        else:
            self._send("PN", "00", self._seal(pinblock.encode_format2(digits), b"PINBLOCK2"))

    def _wait_for_cancel(self, seconds: float) -> str:
        import time

        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and not self.dev.unplugged:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "expired"
            fields = self._receive(min(remaining, 0.1))
            if fields and fields[0] == "CN":
                return "cancel"
        return "stopped"
