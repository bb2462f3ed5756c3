"""The key store file: a JSON document of TR-31 key blocks, written atomically.

Layout (``format`` ``pos-keystore/1``)::

    {"format": "pos-keystore/1",
     "kek": {"kind": "pkcs11" | "file", ...envelope...},
     "kbpk_kcv": "A1B2C3",
     "keys": [{"id": ..., "usage": ..., "algorithm": "A", "length": 32, "version": 1,
               "kcv": ..., "created": ..., "block": "D0144D0AB01N0200KC...", ...}]}

The file holds no clear key: only key blocks under the KBPK and, for a PKCS#11 KEK, the
KBPK encrypted by the token.  It is still written owner-only (0600), through a temporary
file, fsync and rename, under an exclusive ``flock`` on ``<file>.lock`` so two ``pos keys``
commands cannot lose each other's change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crypto.keystore import KeyRecord
from terminal.errors import UserFacingError

FORMAT = "pos-keystore/1"


class StorageError(UserFacingError):
    """The key store file cannot be read or written."""

    exit_code = 1


def record_to_json(record: KeyRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.key_id,
        "usage": record.usage,
        "algorithm": record.algorithm,
        "length": record.length,
        "version": record.version,
        "kcv": record.kcv,
        "created": record.created,
    }
    for name in ("block", "reference", "key_set_id"):
        value = getattr(record, name)
        if value is not None:
            out[name] = value
    return out


def record_from_json(item: Any, path: Path) -> KeyRecord:
    try:
        return KeyRecord(
            key_id=str(item["id"]),
            usage=str(item["usage"]),
            algorithm=str(item["algorithm"]),
            length=int(item["length"]),
            version=int(item["version"]),
            kcv=str(item["kcv"]),
            created=str(item["created"]),
            block=item.get("block"),
            reference=item.get("reference"),
            key_set_id=item.get("key_set_id"),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise StorageError(f"the key store {path} has a damaged key record") from None


def read(path: Path) -> dict[str, Any] | None:
    """The document, or None when there is no store yet."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"the key store {path} cannot be read ({exc.strerror})") from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise StorageError(f"the key store {path} is damaged (not JSON); restore it") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StorageError(f"the key store {path} is not a {FORMAT} file")
    if not isinstance(doc.get("keys"), list) or not isinstance(doc.get("kek"), dict):
        raise StorageError(f"the key store {path} is damaged; restore it from backup")
    return doc


def write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise StorageError(f"the key store {path} cannot be written ({exc.strerror})") from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock around a read-modify-write of the store."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageError(f"the key store {path} cannot be locked ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
