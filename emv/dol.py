"""Data Object Lists: PDOL, CDOL1, CDOL2, DDOL, TDOL (EMV Book 3 Section 5.4).

A DOL is a concatenation of (tag, length) pairs without values.  Building the data for a
DOL follows Book 3 5.4 exactly:

* unknown or unavailable data, and constructed tags, give hexadecimal zeros;
* data longer than the entry is truncated: leftmost bytes dropped for ``n``, rightmost
  bytes dropped for every other format;
* data shorter than the entry is padded: leading ``00`` for ``n``, trailing ``FF`` for
  ``cn``, trailing ``00`` for every other format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from emv import tags
from emv.errors import DolError, TlvError
from emv.tlv import read_length, read_tag, tag_is_constructed, tag_to_bytes


@dataclass(frozen=True)
class DolEntry:
    tag: int
    length: int


def parse(dol: bytes) -> list[DolEntry]:
    """Split a DOL into its entries; a malformed DOL raises :class:`DolError`."""
    entries: list[DolEntry] = []
    offset = 0
    data = bytes(dol)
    try:
        while offset < len(data):
            tag, offset = read_tag(data, offset)
            length, offset = read_length(data, offset)
            entries.append(DolEntry(tag, length))
    except TlvError as exc:
        raise DolError(f"malformed data object list: {exc}") from exc
    return entries


def encode(entries: list[DolEntry]) -> bytes:
    from emv.tlv import encode_length

    return b"".join(tag_to_bytes(e.tag) + encode_length(e.length) for e in entries)


def fit(value: bytes, length: int, data_format: str) -> bytes:
    """Truncate or pad one value to a DOL entry length (Book 3 5.4 rules)."""
    if len(value) == length:
        return value
    if len(value) > length:
        if data_format == "n":
            return value[len(value) - length :]
        return value[:length]
    pad = length - len(value)
    if data_format == "n":
        return b"\x00" * pad + value
    if data_format == "cn":
        return value + b"\xff" * pad
    return value + b"\x00" * pad


def build(
    dol: bytes | list[DolEntry],
    source: Mapping[int, bytes] | Callable[[int], bytes | None],
) -> bytes:
    """Concatenate the values the DOL asks for, per Book 3 5.4."""
    entries = parse(dol) if isinstance(dol, bytes | bytearray) else dol
    lookup: Callable[[int], bytes | None]
    if callable(source):
        lookup = source
    else:
        mapping = source

        def lookup(tag: int) -> bytes | None:
            return mapping.get(tag)

    out = bytearray()
    for entry in entries:
        value = None if tag_is_constructed(entry.tag) else lookup(entry.tag)
        if value is None:
            out += b"\x00" * entry.length
        else:
            out += fit(value, entry.length, tags.data_format(entry.tag))
    return bytes(out)


def split(dol: bytes | list[DolEntry], data: bytes) -> dict[int, bytes]:
    """The inverse of :func:`build`: cut DOL-related data back into values by tag."""
    entries = parse(dol) if isinstance(dol, bytes | bytearray) else dol
    total = sum(e.length for e in entries)
    if total != len(data):
        raise DolError(f"DOL needs {total} bytes of data, got {len(data)}")
    out: dict[int, bytes] = {}
    offset = 0
    for entry in entries:
        out[entry.tag] = data[offset : offset + entry.length]
        offset += entry.length
    return out
