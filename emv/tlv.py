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
_PADDING = b"\x00\xff"


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


@dataclass(frozen=True, slots=True)
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


# The decoder builds ``Tlv`` instances through the slot descriptors, as the generated
# frozen ``__init__`` does through ``object.__setattr__``, but at about half the cost.
_new_object = object.__new__
_set_tag = Tlv.__dict__["tag"].__set__
_set_value = Tlv.__dict__["value"].__set__
_set_children = Tlv.__dict__["children"].__set__


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


def _decode_objects(data: bytes, base: int, depth: int) -> list[Tlv]:
    """Decode the data objects of ``data`` (a template's value, or the whole input).

    ``base`` is the offset of ``data`` in the caller's input.  Single-byte tags, two-byte
    tags (B1) and short-form lengths (B2) are decoded inline; every other case goes
    through :func:`read_tag`/:func:`read_length`, so errors read exactly as theirs (their
    offsets are relative to ``data``).  Templates recurse in document order.
    """
    if depth > MAX_DEPTH:
        raise TlvTagError("templates nested too deeply", base)
    out: list[Tlv] = []
    append = out.append
    offset = 0
    end = len(data)
    while offset < end:
        first = data[offset]
        if first == 0x00 or first == 0xFF:  # B1: padding before/between/after objects
            offset += 1
            continue
        tag_start = offset
        offset += 1
        if first & 0x1F != 0x1F:  # B1: single-byte tag
            tag = first
        elif offset < end and data[offset] < 0x80:  # B1: two-byte tag (9F02, 5F2A, BF0C)
            tag = (first << 8) | data[offset]
            offset += 1
        else:
            tag, offset = read_tag(data, tag_start)
        if offset < end and data[offset] < 0x80:  # B2: short form
            length = data[offset]
            offset += 1
        else:
            length, offset = read_length(data, offset)
        value_end = offset + length
        if value_end > end:
            raise TlvTruncatedError(
                f"value of tag {tag_hex(tag)} needs {length} bytes, {end - offset} left",
                base + tag_start,
            )
        value = data[offset:value_end]
        if first & 0x20:  # b6 of the first tag byte: constructed (B1)
            children = tuple(_decode_objects(value, base + offset, depth + 1))
        else:
            children = None
        obj = _new_object(Tlv)  # == Tlv(tag, value, children), see _set_tag
        _set_tag(obj, tag)
        _set_value(obj, value)
        _set_children(obj, children)
        append(obj)
        offset = value_end
    return out


def decode(data: bytes) -> list[Tlv]:
    """Decode a sequence of data objects (with optional 00/FF padding between them)."""
    if type(data) is not bytes:
        data = bytes(data)
    return _decode_objects(data, 0, 0)


def decode_single(data: bytes, expected_tag: int | None = None) -> Tlv:
    """Decode exactly one data object, rejecting anything after it but padding (B1)."""
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    offset = 0
    while offset < size and data[offset] in (0x00, 0xFF):  # B1: leading padding
        offset += 1
    if offset >= size:
        raise TlvTruncatedError("no data object", offset)
    # one header per call: the inline fast paths only pay off in _decode_objects' loop
    first = data[offset]
    tag, value_offset = read_tag(data, offset)
    length, value_offset = read_length(data, value_offset)
    end = value_offset + length
    if end > size:
        raise TlvTruncatedError(
            f"value of tag {tag_hex(tag)} needs {length} bytes, {size - value_offset} left",
            offset,
        )
    if end < size:  # B1: only padding may follow
        junk = data[end:].lstrip(_PADDING)
        if junk:
            raise TlvTrailingDataError(
                f"unexpected bytes after tag {tag_hex(tag)}", size - len(junk)
            )
    value = data[value_offset:end]
    children = None
    if first & 0x20:  # b6 of the first tag byte: constructed (B1)
        children = tuple(_decode_objects(value, value_offset, 1))
    obj = _new_object(Tlv)  # == Tlv(tag, value, children), see _set_tag
    _set_tag(obj, tag)
    _set_value(obj, value)
    _set_children(obj, children)
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
