"""Command and response APDUs (ISO/IEC 7816-4; EMV Book 1 Section 9 and Book 3 Section 6).

* :class:`CommandApdu` encodes the four short command cases.
* :class:`ApduChannel` wraps any :class:`~emv.ports.CardTransport` and applies the T=0
  transport rules of Book 1 9.3.1: ``61xx`` makes it fetch the data with GET RESPONSE,
  ``6Cxx`` makes it re-issue the command with ``Le = xx``.  It also counts and records
  every exchange for traces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from emv.errors import CardProtocolError
from emv.ports import CardTransport

MAX_GET_RESPONSE = 32


@cache
def _status_words() -> dict[int, str]:
    raw = json.loads(resources.files("emv.data").joinpath("status_words.json").read_text())
    return {int(k, 16): v for k, v in raw.items()}


def describe_sw(sw: int) -> str:
    """Human text for a status word, e.g. ``6985`` -> conditions of use not satisfied."""
    table = _status_words()
    if sw in table:
        return table[sw]
    if sw >> 8 == 0x61:
        return f"{sw & 0xFF} more bytes available"
    if sw >> 8 == 0x6C:
        return f"wrong Le, exact length is {sw & 0xFF}"
    if sw & 0xFFF0 == 0x63C0:
        return f"verification failed, {sw & 0x0F} tries left"
    return "unknown status"


@dataclass(frozen=True)
class CommandApdu:
    """A short command APDU; ``le`` None means no Le field, 0 means Le=00 (up to 256)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    @property
    def case(self) -> int:
        if not self.data:
            return 1 if self.le is None else 2
        return 3 if self.le is None else 4

    def to_bytes(self) -> bytes:
        if len(self.data) > 255:
            raise ValueError("command data longer than 255 bytes needs extended APDUs")
        out = bytearray([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out.append(len(self.data))
            out += self.data
        if self.le is not None:
            out.append(self.le & 0xFF)
        return bytes(out)

    def with_le(self, le: int) -> CommandApdu:
        return CommandApdu(self.cla, self.ins, self.p1, self.p2, self.data, le)


@dataclass(frozen=True)
class ResponseApdu:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    @property
    def sw_hex(self) -> str:
        return f"{self.sw:04X}"

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise CardProtocolError(f"card response of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])


@dataclass(frozen=True)
class Exchange:
    command: bytes
    response: bytes


@dataclass
class ApduChannel:
    """Sends commands through a transport with the T=0 rules, and records a trace."""

    transport: CardTransport
    trace: list[Exchange] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.trace)

    def _raw(self, command: bytes) -> ResponseApdu:
        raw = self.transport.transmit(command)
        self.trace.append(Exchange(command, bytes(raw)))
        return ResponseApdu.from_bytes(raw)

    def send(self, command: CommandApdu) -> ResponseApdu:
        response = self._raw(command.to_bytes())
        if response.sw1 == 0x6C:
            response = self._raw(command.with_le(response.sw2).to_bytes())
        data = bytearray(response.data)
        rounds = 0
        while response.sw1 == 0x61:
            rounds += 1
            if rounds > MAX_GET_RESPONSE:
                raise CardProtocolError("card keeps answering 61xx to GET RESPONSE")
            response = self._raw(get_response(response.sw2).to_bytes())
            data += response.data
        return ResponseApdu(bytes(data), response.sw1, response.sw2)


# --- EMV commands (Book 3 Section 6.5) ---------------------------------------------------


def select_by_name(df_name: bytes, next_occurrence: bool = False) -> CommandApdu:
    """SELECT by DF name (Book 1 11.3): P1=04, P2=00 first / 02 next occurrence."""
    return CommandApdu(0x00, 0xA4, 0x04, 0x02 if next_occurrence else 0x00, df_name, 0x00)


def read_record(sfi: int, record: int) -> CommandApdu:
    """READ RECORD (Book 3 6.5.11): P2 = SFI << 3 | 4."""
    return CommandApdu(0x00, 0xB2, record, (sfi << 3) | 0x04, b"", 0x00)


def get_processing_options(pdol_data: bytes) -> CommandApdu:
    """GET PROCESSING OPTIONS (Book 3 6.5.8): data is tag 83 with the PDOL-related data."""
    from emv.tlv import encode

    return CommandApdu(0x80, 0xA8, 0x00, 0x00, encode(0x83, pdol_data), 0x00)


def generate_ac(reference_control: int, cdol_data: bytes) -> CommandApdu:
    """GENERATE AC (Book 3 6.5.5): P1 = cryptogram type (b8-b7) | CDA request (b5)."""
    return CommandApdu(0x80, 0xAE, reference_control, 0x00, cdol_data, 0x00)


def get_data(tag: int) -> CommandApdu:
    """GET DATA (Book 3 6.5.7) for ATC 9F36, Last Online ATC 9F13, PIN Try Counter 9F17."""
    return CommandApdu(0x80, 0xCA, tag >> 8, tag & 0xFF, b"", 0x00)


def verify(pin_block: bytes, qualifier: int) -> CommandApdu:
    """VERIFY (Book 3 6.5.12): P2=80 plaintext PIN, 88 enciphered PIN."""
    return CommandApdu(0x00, 0x20, 0x00, qualifier, pin_block)


def get_challenge() -> CommandApdu:
    """GET CHALLENGE (Book 3 6.5.6)."""
    return CommandApdu(0x00, 0x84, 0x00, 0x00, b"", 0x00)


def internal_authenticate(ddol_data: bytes) -> CommandApdu:
    """INTERNAL AUTHENTICATE (Book 3 6.5.9)."""
    return CommandApdu(0x00, 0x88, 0x00, 0x00, ddol_data, 0x00)


def external_authenticate(issuer_authentication_data: bytes) -> CommandApdu:
    """EXTERNAL AUTHENTICATE (Book 3 6.5.4)."""
    return CommandApdu(0x00, 0x82, 0x00, 0x00, issuer_authentication_data)


def get_response(length: int) -> CommandApdu:
    """GET RESPONSE (Book 1 9.3.1.3)."""
    return CommandApdu(0x00, 0xC0, 0x00, 0x00, b"", length)


def describe_command(command: bytes) -> str:
    names = {
        0xA4: "SELECT",
        0xB2: "READ RECORD",
        0xA8: "GET PROCESSING OPTIONS",
        0xAE: "GENERATE AC",
        0xCA: "GET DATA",
        0x20: "VERIFY",
        0x84: "GET CHALLENGE",
        0x88: "INTERNAL AUTHENTICATE",
        0x82: "EXTERNAL AUTHENTICATE",
        0xC0: "GET RESPONSE",
    }
    if len(command) < 4:
        return "malformed command"
    return names.get(command[1], f"INS {command[1]:02X}")


def to_json_trace(trace: list[Exchange]) -> str:
    return json.dumps([{"command": e.command.hex(), "response": e.response.hex()} for e in trace])
