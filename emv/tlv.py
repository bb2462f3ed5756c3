"""BER-TLV coding as restricted by EMV Book 3 Annex B.

* Tags (B1): one or more bytes; if b5..b1 of the first byte are all set, further bytes
  follow while b8 of the previous byte is set.  We accept tags of up to 4 bytes.
* Lengths (B2): short form (0..127) or long form ``81``/``82``/``83`` followed by 1..3
  bytes.  The indefinite form ``80`` and more than three subsequent bytes are rejected.
* Padding (B1): ``00`` or ``FF`` may appear before, between or after data objects and is
  skipped.
* Constructed objects (b6 of the first tag byte set) are decoded recursively.

Every rule violation raises a precise :class:`~emv.errors.TlvError` subclass with the
offset of the offending byte; nothing is silently repaired.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from emv.errors import (
    TlvLengthError,
    TlvTagError,
    TlvTrailingDataError,
    TlvTruncatedError,
)

MAX_TAG_BYTES = 4
MAX_DEPTH = 16


def tag_is_constructed(tag: int) -> bool:
    """b6 of the first tag byte marks a constructed data object (Book 3 B1)."""
    return bool(_first_tag_byte(tag) & 0x20)


def _first_tag_byte(tag: int) -> int:
    while tag > 0xFF:
        tag >>= 8
    return tag


def tag_to_bytes(tag: int) -> bytes:
    """Encode an integer tag (``0x9F02``) as its bytes (``9F 02``)."""
    if tag <= 0:
        raise ValueError(f"invalid tag {tag:#x}")
    return tag.to_bytes((tag.bit_length() + 7) // 8, "big")


def tag_hex(tag: int) -> str:
    """Upper-case hex of a tag, as the EMV Books print it (``9F02``)."""
    return tag_to_bytes(tag).hex().upper()


def encode_length(length: int) -> bytes:
    """Encode a length in the shortest EMV form (Book 3 B2)."""
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes([length])
    if length <= 0xFF:
        return bytes([0x81, length])
    if length <= 0xFFFF:
        return bytes([0x82]) + length.to_bytes(2, "big")
    if length <= 0xFFFFFF:
        return bytes([0x83]) + length.to_bytes(3, "big")
    raise ValueError("length too large for EMV BER-TLV")


@dataclass(frozen=True)
class Tlv:
    """One decoded data object.  ``children`` is set for constructed objects."""

    tag: int
    value: bytes
    children: tuple[Tlv, ...] | None = field(default=None, compare=False)

    @property
    def constructed(self) -> bool:
        return tag_is_constructed(self.tag)

    def encode(self) -> bytes:
        return encode(self.tag, self.value)

    def find(self, tag: int) -> Tlv | None:
        """First descendant (depth-first) with this tag, or None."""
        return find(self.children or (), tag)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Tlv({tag_hex(self.tag)}, {self.value.hex().upper()})"


def encode(tag: int, value: bytes) -> bytes:
    """Encode one data object."""
    return tag_to_bytes(tag) + encode_length(len(value)) + bytes(value)


def encode_many(items: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(encode(t, v) for t, v in items)


def read_tag(data: bytes, offset: int) -> tuple[int, int]:
    """Read a tag at ``offset``; return (tag, next offset)."""
    end = len(data)
    if offset >= end:
        raise TlvTruncatedError("tag missing", offset)
    start = offset
    first = data[offset]
    tag = first
    offset += 1
    if first & 0x1F == 0x1F:
        while True:
            if offset >= end:
                raise TlvTruncatedError("multi-byte tag cut short", offset)
            b = data[offset]
            tag = (tag << 8) | b
            offset += 1
            if offset - start > MAX_TAG_BYTES:
                raise TlvTagError("tag longer than 4 bytes", start)
            if not b & 0x80:
                break
    return tag, offset


def read_length(data: bytes, offset: int) -> tuple[int, int]:
    """Read a length at ``offset``; return (length, next offset)."""
    end = len(data)
    if offset >= end:
        raise TlvTruncatedError("length missing", offset)
    first = data[offset]
    offset += 1
    if first < 0x80:
        return first, offset
    count = first & 0x7F
    if count == 0:
        raise TlvLengthError("indefinite length (80) is not allowed in EMV", offset - 1)
    if count > 3:
        raise TlvLengthError(f"length field with {count} subsequent bytes", offset - 1)
    if offset + count > end:
        raise TlvTruncatedError("length field cut short", offset)
    return int.from_bytes(data[offset : offset + count], "big"), offset + count


def _iter_objects(data: bytes, base: int, depth: int) -> Iterator[Tlv]:
    if depth > MAX_DEPTH:
        raise TlvTagError("templates nested too deeply", base)
    offset = 0
    end = len(data)
    while offset < end:
        if data[offset] in (0x00, 0xFF):
            offset += 1
            continue
        tag_start = offset
        tag, offset = read_tag(data, offset)
        length, offset = read_length(data, offset)
        if offset + length > end:
            raise TlvTruncatedError(
                f"value of tag {tag_hex(tag)} needs {length} bytes, {end - offset} left",
                base + tag_start,
            )
        value = bytes(data[offset : offset + length])
        children = None
        if tag_is_constructed(tag):
            children = tuple(_iter_objects(value, base + offset, depth + 1))
        offset += length
        yield Tlv(tag, value, children)


def decode(data: bytes) -> list[Tlv]:
    """Decode a sequence of data objects (with optional 00/FF padding between them)."""
    return list(_iter_objects(bytes(data), 0, 0))


def decode_single(data: bytes, expected_tag: int | None = None) -> Tlv:
    """Decode exactly one data object, rejecting anything after it but padding."""
    data = bytes(data)
    offset = 0
    while offset < len(data) and data[offset] in (0x00, 0xFF):
        offset += 1
    if offset >= len(data):
        raise TlvTruncatedError("no data object", offset)
    tag, value_offset = read_tag(data, offset)
    length, value_offset = read_length(data, value_offset)
    end = value_offset + length
    if end > len(data):
        raise TlvTruncatedError(
            f"value of tag {tag_hex(tag)} needs {length} bytes, {len(data) - value_offset} left",
            offset,
        )
    for i in range(end, len(data)):
        if data[i] not in (0x00, 0xFF):
            raise TlvTrailingDataError(f"unexpected bytes after tag {tag_hex(tag)}", i)
    value = data[value_offset:end]
    children = None
    if tag_is_constructed(tag):
        children = tuple(_iter_objects(value, value_offset, 1))
    obj = Tlv(tag, value, children)
    if expected_tag is not None and tag != expected_tag:
        raise TlvTagError(f"expected tag {tag_hex(expected_tag)}, found {tag_hex(tag)}", offset)
    return obj


def find(objects: Iterable[Tlv], tag: int) -> Tlv | None:
    """Depth-first search for the first object with ``tag``."""
    for obj in objects:
        if obj.tag == tag:
            return obj
        if obj.children:
            hit = find(obj.children, tag)
            if hit is not None:
                return hit
    return None


def iter_primitives(objects: Iterable[Tlv]) -> Iterator[Tlv]:
    """Every primitive object, depth-first."""
    for obj in objects:
        if obj.children is not None:
            yield from iter_primitives(obj.children)
        else:
            yield obj


def flatten(objects: Iterable[Tlv]) -> dict[int, bytes]:
    """Primitive objects by tag; the first occurrence wins."""
    out: dict[int, bytes] = {}
    for obj in iter_primitives(objects):
        out.setdefault(obj.tag, obj.value)
    return out
