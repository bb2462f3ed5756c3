"""Link layer of the serial PIN pad protocol (docs/pinpad-protocol.md section 2).

A frame is ``STX SEQ DATA ETX LRC``: SEQ is ASCII ``'0'`` or ``'1'`` (alternating, so a
retransmission is recognised), DATA is printable ASCII plus the field separator FS (0x1C),
and LRC is the XOR of every byte after STX up to and including ETX (the usual ISO 1155
style longitudinal check used by vendor PIN pad protocols).  The receiver answers ACK for a
good frame and NAK for a bad one; the sender retransmits on NAK or silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

STX = 0x02
ETX = 0x03
ACK = 0x06
NAK = 0x15
FS = "\x1c"
MAX_DATA = 2048
SEQUENCE_VALUES = (ord("0"), ord("1"))


class FrameError(ValueError):
    """A frame that fails its LRC, is too long, or holds a forbidden byte."""


def lrc(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def encode_frame(seq: int, data: str) -> bytes:
    raw = data.encode("ascii")
    if len(raw) > MAX_DATA:
        raise FrameError(f"a frame carries at most {MAX_DATA} bytes of data")
    if any(b < 0x20 and b != 0x1C or b > 0x7E for b in raw):
        raise FrameError("frame data must be printable ASCII or FS")
    body = bytes([SEQUENCE_VALUES[seq & 1]]) + raw + bytes([ETX])
    return bytes([STX]) + body + bytes([lrc(body)])


@dataclass(frozen=True)
class Frame:
    seq: int
    data: str

    @property
    def fields(self) -> list[str]:
        return self.data.split(FS)


def decode_body(body: bytes, check: int) -> Frame:
    """``body`` runs from SEQ to ETX inclusive; ``check`` is the received LRC."""
    if lrc(body) != check:
        raise FrameError("the frame's LRC does not match")
    if len(body) < 2 or body[0] not in SEQUENCE_VALUES or body[-1] != ETX:
        raise FrameError("the frame has no valid sequence byte")
    raw = body[1:-1]
    if any(b < 0x20 and b != 0x1C or b > 0x7E for b in raw):
        raise FrameError("the frame holds a byte outside printable ASCII")
    return Frame(body[0] - SEQUENCE_VALUES[0], raw.decode("ascii"))


def message(command: str, *fields: str) -> str:
    return FS.join((command, *fields))
