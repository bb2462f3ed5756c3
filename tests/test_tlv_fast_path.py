"""The fast BER-TLV decoder of ``emv.tlv`` against the straightforward reference decoder.

The reference below is the original implementation of ``read_tag``/``read_length``/
``_iter_objects``/``decode``/``decode_single`` (EMV Book 3 Annex B, B1 tags and padding,
B2 lengths), kept verbatim.  For random byte strings and for random (well-formed, then
damaged) TLV trees the module must return the same objects -- same tags, values and
children, recursively -- or raise the same exception class with the same message and
offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emv import tlv
from emv.errors import (
    TlvError,
    TlvLengthError,
    TlvTagError,
    TlvTrailingDataError,
    TlvTruncatedError,
)
from emv.tlv import MAX_DEPTH, MAX_TAG_BYTES, Tlv, tag_hex, tag_is_constructed

# ---- reference decoder (the original implementation) ---------------------------------


def ref_read_tag(data: bytes, offset: int) -> tuple[int, int]:
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


def ref_read_length(data: bytes, offset: int) -> tuple[int, int]:
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


def ref_iter_objects(data: bytes, base: int, depth: int) -> Iterator[Tlv]:
    if depth > MAX_DEPTH:
        raise TlvTagError("templates nested too deeply", base)
    offset = 0
    end = len(data)
    while offset < end:
        if data[offset] in (0x00, 0xFF):
            offset += 1
            continue
        tag_start = offset
        tag, offset = ref_read_tag(data, offset)
        length, offset = ref_read_length(data, offset)
        if offset + length > end:
            raise TlvTruncatedError(
                f"value of tag {tag_hex(tag)} needs {length} bytes, {end - offset} left",
                base + tag_start,
            )
        value = bytes(data[offset : offset + length])
        children = None
        if tag_is_constructed(tag):
            children = tuple(ref_iter_objects(value, base + offset, depth + 1))
        offset += length
        yield Tlv(tag, value, children)


def ref_decode(data: bytes) -> list[Tlv]:
    return list(ref_iter_objects(bytes(data), 0, 0))


def ref_decode_single(data: bytes, expected_tag: int | None = None) -> Tlv:
    data = bytes(data)
    offset = 0
    while offset < len(data) and data[offset] in (0x00, 0xFF):
        offset += 1
    if offset >= len(data):
        raise TlvTruncatedError("no data object", offset)
    tag, value_offset = ref_read_tag(data, offset)
    length, value_offset = ref_read_length(data, value_offset)
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
        children = tuple(ref_iter_objects(value, value_offset, 1))
    obj = Tlv(tag, value, children)
    if expected_tag is not None and tag != expected_tag:
        raise TlvTagError(f"expected tag {tag_hex(expected_tag)}, found {tag_hex(tag)}", offset)
    return obj


# ---- comparison -----------------------------------------------------------------------


def shape(obj: object) -> object:
    """Everything observable about a decoded result, children included (compare=False)."""
    if isinstance(obj, list):
        return ("list", [shape(o) for o in obj])
    assert type(obj) is Tlv
    assert type(obj.value) is bytes
    children = obj.children
    if children is not None:
        assert type(children) is tuple
        return ("tlv", obj.tag, obj.value, tuple(shape(c) for c in children))
    return ("tlv", obj.tag, obj.value, None)


def outcome(call: Callable[[], object]) -> object:
    try:
        result = call()
    except TlvError as exc:
        return ("raise", type(exc), str(exc), exc.args, exc.offset)
    return ("ok", shape(result))


def assert_same_decode(data: bytes) -> None:
    expected = outcome(lambda: ref_decode(data))
    assert outcome(lambda: tlv.decode(data)) == expected
    assert outcome(lambda: tlv.decode(bytearray(data))) == expected
    assert outcome(lambda: tlv.decode(memoryview(data))) == expected


def assert_same_decode_single(data: bytes, expected_tag: int | None) -> None:
    expected = outcome(lambda: ref_decode_single(data, expected_tag))
    assert outcome(lambda: tlv.decode_single(data, expected_tag)) == expected
    assert outcome(lambda: tlv.decode_single(bytearray(data), expected_tag)) == expected


# ---- strategies -----------------------------------------------------------------------

# Bytes that steer the decoder into its rarer branches: padding, multi-byte tag markers,
# constructed tags, long-form and forbidden lengths.
interesting_byte = st.sampled_from(
    [0x00, 0xFF, 0x1F, 0x3F, 0x5F, 0x9F, 0xBF, 0xDF, 0x81, 0x82, 0x83, 0x84, 0x80]
    + [0x01, 0x02, 0x05, 0x7F, 0x20, 0x70, 0x77, 0x6F, 0xA5, 0x5A, 0x8C, 0xE1]
)
noisy_bytes = st.lists(st.one_of(interesting_byte, st.integers(0, 255)), max_size=80).map(bytes)


@st.composite
def tags(draw: st.DrawFn, constructed: bool) -> int:
    """A valid tag of 1..4 bytes (Book 3 B1) with b6 of the first byte as requested."""
    size = draw(st.integers(1, MAX_TAG_BYTES))
    cls = draw(st.integers(0, 3)) << 6
    flag = 0x20 if constructed else 0
    if size == 1:
        return cls | flag | draw(st.integers(1 if cls | flag == 0 else 0, 0x1E))
    out = [cls | flag | 0x1F]
    if out[0] == 0xFF:  # FF is padding, never a first tag byte (B1)
        out[0] = 0xBF
    out += [draw(st.integers(0x80, 0xFF)) for _ in range(size - 2)]
    out.append(draw(st.integers(0x00, 0x7F)))
    return int.from_bytes(bytes(out), "big")


padding = st.lists(st.sampled_from([0x00, 0xFF]), max_size=2).map(bytes)


@st.composite
def encoded_object(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One well-formed data object, possibly a template, possibly with padding."""
    if depth < 3 and draw(st.booleans()):
        tag = draw(tags(constructed=True))
        inner = draw(st.lists(encoded_object(depth + 1), max_size=3))
        body = b"".join(inner)
    else:
        tag = draw(tags(constructed=False))
        body = draw(st.binary(max_size=draw(st.sampled_from([4, 20, 140]))))
    encoded = tlv.encode(tag, body)
    if draw(st.integers(0, 7)) == 0:
        # Non-minimal long form (81 05 ...), which Book 3 B2 still allows.
        size = len(body)
        width = max(1, (size.bit_length() + 7) // 8)
        width = draw(st.integers(width, 3))
        encoded = tlv.tag_to_bytes(tag) + bytes([0x80 | width]) + size.to_bytes(width, "big")
        encoded += body
    return draw(padding) + encoded + draw(padding)


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """Truncate, overwrite or insert a byte somewhere in ``data``."""
    if not data:
        return data
    where = draw(st.integers(0, len(data) - 1))
    how = draw(st.integers(0, 3))
    if how == 0:
        return data[:where]
    byte = bytes([draw(st.one_of(interesting_byte, st.integers(0, 255)))])
    if how == 1:
        return data[:where] + byte + data[where + 1 :]
    if how == 2:
        return data[:where] + byte + data[where:]
    return data + byte


def nested(depth: int, leaf: bytes = b"\x5a\x01\x12") -> bytes:
    data = leaf
    for _ in range(depth):
        data = tlv.encode(0x70, data)
    return data


fast = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
trees = settings(fast, max_examples=300)

# ---- properties -----------------------------------------------------------------------


@fast
@given(noisy_bytes)
@example(b"")
@example(bytes.fromhex("9F8181810100"))
@example(bytes.fromhex("9F818181"))
@example(bytes.fromhex("5A8001"))
@example(bytes.fromhex("5A8400000001AA"))
@example(bytes.fromhex("5A8201"))
@example(bytes.fromhex("70035A0512"))
@example(bytes.fromhex("7003 9F".replace(" ", "")))
@example(bytes.fromhex("00FF5A"))
def test_random_bytes_decode_like_reference(data: bytes) -> None:
    assert_same_decode(data)


@fast
@given(noisy_bytes, st.one_of(st.none(), st.sampled_from([0x6F, 0x70, 0x77, 0x9F02, 0x5A])))
@example(b"", None)
@example(b"\x00\xff", None)
@example(bytes.fromhex("8002AABB12"), None)
@example(bytes.fromhex("8002AABB00FF"), None)
@example(bytes.fromhex("7000"), 0x6F)
@example(bytes.fromhex("7003 5A0512".replace(" ", "")), 0x6F)
def test_random_bytes_decode_single_like_reference(data: bytes, expected: int | None) -> None:
    assert_same_decode_single(data, expected)


@trees
@given(st.lists(encoded_object(), max_size=4).map(b"".join), st.data())
def test_trees_decode_like_reference(data: bytes, draw: st.DataObject) -> None:
    assert_same_decode(data)
    assert_same_decode(draw.draw(damaged(data)))


@trees
@given(encoded_object(), st.data())
def test_single_trees_decode_like_reference(data: bytes, draw: st.DataObject) -> None:
    assert_same_decode_single(data, None)
    first = tlv.decode(data)[0].tag
    assert_same_decode_single(data, first)
    assert_same_decode_single(data, first + 1)
    assert_same_decode_single(draw.draw(damaged(data)), None)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2])
def test_nesting_limit_like_reference(depth: int) -> None:
    for leaf in (b"\x5a\x01\x12", b"", b"\x70\x00", b"\x00\x9f"):
        data = b"\xff" + nested(depth, leaf)
        assert_same_decode(data)
        assert_same_decode_single(data, None)


def test_realistic_payloads_like_reference() -> None:
    de55 = bytes.fromhex(
        "9F2608" + "11" * 8 + "9F2701809F100706010A03A0A0009F3704A1B2C3D49F3602000195050000"
        "0000009A032612029C01009F02060000000012345F2A020978820219809F1A020250"
    )
    fci = bytes.fromhex("6F1A840E315041592E5359532E4444463031A5088801015F2D02656E")
    for data in (
        de55,
        fci,
        nested(3),
        tlv.encode(0x9F4B, bytes(300)),
        tlv.encode(0xDF4B, bytes(70000)),
    ):
        assert_same_decode(data)
        assert_same_decode_single(data, None)
    assert tlv.decode(de55)[0] == Tlv(0x9F26, b"\x11" * 8)
    assert tlv.decode_single(fci, 0x6F).find(0x88) == Tlv(0x88, b"\x01")
