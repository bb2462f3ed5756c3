"""Certification Authority Public Key store and revocation list (EMV Book 2 5.2, 6.2, 11.2).

The terminal retrieves the CA public key by RID (the first 5 bytes of the selected AID) and
CA Public Key Index (8F) (Book 2 5.2 / 6.2).  Keys are data (``emv/data/capk.json``); each
entry carries its SHA-1 checksum over RID || index || modulus || exponent (Book 2 11.2.2,
the "Certification Authority Public Key Check Sum") and a file with any entry whose checksum
does not match is refused as a whole, so a corrupted key never reaches the ODA code.

The revocation list (``emv/data/revocation.json``) names issuer certificates by RID, CA index
and Certificate Serial Number (Book 2 5.3 step 10 / 6.3).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from crypto.rsa_emv import RsaEmvError, RsaPublicKey, check_public_key
from emv.errors import EmvError

PathLike = str | Path


class CapkError(EmvError):
    """A CAPK or revocation file that cannot be trusted or read."""


def capk_checksum(rid: bytes, index: int, modulus: bytes, exponent: bytes) -> bytes:
    """SHA-1 over RID || index || modulus || exponent (Book 2 11.2.2)."""
    return hashlib.sha1(rid + bytes([index]) + modulus + exponent).digest()  # noqa: S324


@dataclass(frozen=True)
class Capk:
    """One Certification Authority Public Key."""

    rid: bytes
    index: int
    modulus: bytes
    exponent: bytes
    checksum: bytes
    expiry: date | None = None
    hash_algorithm: int = 0x01
    key_algorithm: int = 0x01
    kind: str = "live"
    source: str = ""

    @property
    def public_key(self) -> RsaPublicKey:
        return RsaPublicKey(self.modulus, self.exponent)

    @property
    def label(self) -> str:
        return f"RID {self.rid.hex().upper()} index {self.index:02X}"

    def checksum_ok(self) -> bool:
        return capk_checksum(self.rid, self.index, self.modulus, self.exponent) == self.checksum

    def expired_on(self, day: date) -> bool:
        return self.expiry is not None and day > self.expiry


def _hex(row: dict[str, Any], name: str, where: str) -> bytes:
    value = row.get(name)
    if not isinstance(value, str):
        raise CapkError(f"{where}: field {name!r} is missing")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise CapkError(f"{where}: field {name!r} is not hexadecimal") from None


def _capk_from_row(row: Any, where: str) -> Capk:
    if not isinstance(row, dict):
        raise CapkError(f"{where}: an entry is not an object")
    rid = _hex(row, "rid", where)
    index_bytes = _hex(row, "index", where)
    if len(rid) != 5 or len(index_bytes) != 1:
        raise CapkError(f"{where}: the RID must be 5 bytes and the index 1 byte")
    expiry = None
    if row.get("expiry"):
        try:
            expiry = date.fromisoformat(str(row["expiry"]))
        except ValueError:
            raise CapkError(f"{where}: expiry {row['expiry']!r} is not YYYY-MM-DD") from None
    capk = Capk(
        rid=rid,
        index=index_bytes[0],
        modulus=_hex(row, "modulus", where),
        exponent=_hex(row, "exponent", where),
        checksum=_hex(row, "checksum", where),
        expiry=expiry,
        hash_algorithm=int(row.get("hash_algorithm", "01"), 16),
        key_algorithm=int(row.get("key_algorithm", "01"), 16),
        kind=str(row.get("kind", "live")),
        source=str(row.get("source", "")),
    )
    if not capk.checksum_ok():
        raise CapkError(f"{where}: the checksum of CA public key {capk.label} does not match")
    if capk.hash_algorithm != 0x01 or capk.key_algorithm != 0x01:
        raise CapkError(f"{where}: CA public key {capk.label} is not an RSA/SHA-1 key")
    try:
        check_public_key(capk.public_key)
    except RsaEmvError as exc:
        raise CapkError(f"{where}: CA public key {capk.label}: {exc}") from None
    return capk


def _read_json(path: PathLike | None, packaged: str) -> tuple[Any, str]:
    try:
        if path is None:
            text = resources.files("emv.data").joinpath(packaged).read_text()
            where = packaged
        else:
            text = Path(path).read_text()
            where = str(path)
    except OSError as exc:
        raise CapkError(f"cannot read {path or packaged}: {exc.strerror}") from None
    try:
        return json.loads(text), where
    except json.JSONDecodeError:
        raise CapkError(f"{where} is not valid JSON") from None


class CapkStore:
    """CA public keys by (RID, index); later files replace earlier entries."""

    def __init__(self, keys: Iterable[Capk] = ()) -> None:
        self._keys: dict[tuple[bytes, int], Capk] = {}
        for key in keys:
            self.add(key)

    def add(self, key: Capk) -> None:
        if not key.checksum_ok():
            raise CapkError(f"the checksum of CA public key {key.label} does not match")
        self._keys[(key.rid, key.index)] = key

    @classmethod
    def load(
        cls,
        path: PathLike | None = None,
        extra_files: Sequence[PathLike] = (),
        include_test_keys: bool = False,
    ) -> CapkStore:
        """Load ``path`` (default: the packaged ``emv/data/capk.json``) then ``extra_files``,
        e.g. ``hardware_sim/data/pki/test_capk.json`` in simulator mode and tests.

        Scheme test keys (kind "test") are skipped unless ``include_test_keys``; they then
        replace a live key with the same RID and index, as on a terminal set up for
        certification testing.  Every key in ``extra_files`` is loaded.
        """
        store = cls()
        store.update_from_file(path, include_test_keys=include_test_keys)
        for file in extra_files:
            store.update_from_file(file, include_test_keys=True)
        return store

    def update_from_file(self, path: PathLike | None, include_test_keys: bool = False) -> None:
        """Add or replace keys from a CAPK file; a file with any bad entry changes nothing."""
        raw, where = _read_json(path, "capk.json")
        rows = raw.get("keys") if isinstance(raw, dict) else None
        if not isinstance(rows, list):
            raise CapkError(f"{where} has no 'keys' list")
        keys = [_capk_from_row(row, where) for row in rows]
        keys.sort(key=lambda k: k.kind == "test")  # test keys last, so they win when wanted
        for key in keys:
            if key.kind != "test" or include_test_keys:
                self.add(key)

    def get(self, rid: bytes, index: int, on: date | None = None) -> Capk | None:
        """The key for RID + index, or None (also when it has expired by ``on``)."""
        key = self._keys.get((bytes(rid[:5]), index))
        if key is None or (on is not None and key.expired_on(on)):
            return None
        return key

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Capk]:
        return iter(self._keys.values())


@dataclass(frozen=True)
class RevocationList:
    """Revoked issuer certificates: (RID, CA index, Certificate Serial Number)."""

    entries: frozenset[tuple[bytes, int, bytes]]

    @classmethod
    def load(cls, path: PathLike | None = None) -> RevocationList:
        raw, where = _read_json(path, "revocation.json")
        rows = raw.get("entries") if isinstance(raw, dict) else None
        if not isinstance(rows, list):
            raise CapkError(f"{where} has no 'entries' list")
        entries = set()
        for row in rows:
            if not isinstance(row, dict):
                raise CapkError(f"{where}: an entry is not an object")
            rid, index, serial = (_hex(row, f, where) for f in ("rid", "index", "serial"))
            if len(rid) != 5 or len(index) != 1 or len(serial) != 3:
                raise CapkError(f"{where}: RID 5 bytes, index 1 byte, serial 3 bytes expected")
            entries.add((rid, index[0], serial))
        return cls(frozenset(entries))

    def is_revoked(self, rid: bytes, index: int, serial: bytes) -> bool:
        return (bytes(rid[:5]), index, bytes(serial)) in self.entries
