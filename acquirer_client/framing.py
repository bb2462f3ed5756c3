"""Message framing on the acquirer link: a 2-byte big-endian length, then the message.

The length counts the message only (1..65535).  :class:`FrameDecoder` is sans-I/O (bytes in,
messages out) so the host and the client share one implementation.
"""

from __future__ import annotations

MAX_FRAME = 0xFFFF
HEADER = 2


class FramingError(ValueError):
    """The byte stream does not follow the 2-byte length framing."""


def frame(message: bytes) -> bytes:
    if not 1 <= len(message) <= MAX_FRAME:
        raise FramingError(f"a message must be 1 to {MAX_FRAME} bytes, not {len(message)}.")
    return len(message).to_bytes(HEADER, "big") + message


class FrameDecoder:
    """Accumulate received bytes; :meth:`feed` returns every complete message."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while len(self._buffer) >= HEADER:
            length = int.from_bytes(self._buffer[:HEADER], "big")
            if length == 0:
                raise FramingError("received a zero-length frame.")
            if len(self._buffer) < HEADER + length:
                break
            out.append(bytes(self._buffer[HEADER : HEADER + length]))
            del self._buffer[: HEADER + length]
        return out

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete message."""
        return len(self._buffer)
