"""The terminal's key store on disk: TR-31 blocks (``crypto.keystore``) under a KEK.

``open_store(path, kek)`` opens (or creates) the store file and yields a
:class:`crypto.keystore.KeyStore`; changes are written back when the block ends without an
error.  ``load_data_key(settings_or_path)`` is how the journal data key comes from here
instead of ``$POS_DATA_DIR/keys/data.key``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crypto.keystore import KeyStore, KeyStoreError
from terminal.errors import ConfigError, UserFacingError
from terminal.keys import storage
from terminal.keys.kek import KekProvider, check_kbpk, parse_kek

KEK_ENV = "POS_KEK"
DATA_KEY_ID = "journal"
STORE_NAME = "keystore.json"


class KeyStoreFailure(UserFacingError):
    """A key store operation refused (wrong usage, unknown key, ...): exit 1."""

    exit_code = 1


def default_path() -> Path:
    from terminal.runtime import data_dir

    return data_dir() / "keys" / STORE_NAME


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_kek(kek: str | KekProvider | None) -> KekProvider:
    if kek is None:
        kek = os.environ.get(KEK_ENV)
        if not kek:
            raise ConfigError(
                f"no key-encryption key given; pass --kek pkcs11:... or --kek file:PATH "
                f"(or set {KEK_ENV})"
            )
    return parse_kek(kek) if isinstance(kek, str) else kek


@contextlib.contextmanager
def open_store(
    path: Path | None, kek: str | KekProvider | None, *, create: bool = False, write: bool = True
) -> Iterator[KeyStore]:
    """The key store at ``path`` under ``kek``; saved on a clean exit when ``write``."""
    path = path or default_path()
    provider = resolve_kek(kek)
    with storage.locked(path) if write else contextlib.nullcontext():
        doc = storage.read(path)
        if doc is None and not create:
            raise KeyStoreFailure(
                f"there is no key store at {path}; load a key first with 'pos keys load'"
            )
        kbpk, envelope = provider.open_kbpk(doc["kek"] if doc else None, os.urandom(32))
        check_kbpk(kbpk, doc.get("kbpk_kcv") if doc else None, provider)
        records = [storage.record_from_json(item, path) for item in (doc or {}).get("keys", [])]
        try:
            store = KeyStore(kbpk, records, random=os.urandom, now=_now)
            yield store
        except KeyStoreError as exc:
            raise KeyStoreFailure(str(exc)) from None
        if write:
            storage.write(
                path,
                {
                    "format": storage.FORMAT,
                    "kek": envelope,
                    "kbpk_kcv": store.kbpk_kcv,
                    "keys": [storage.record_to_json(r) for r in store.records],
                },
            )


def _store_path(settings_or_path: Any) -> Path:
    if isinstance(settings_or_path, (str, os.PathLike)):
        return Path(settings_or_path)
    return default_path()


def load_data_key(
    settings_or_path: Any, *, kek: str | KekProvider | None = None, key_id: str = DATA_KEY_ID
) -> bytes:
    """The newest journal data key (AES-256) from the key store.

    ``settings_or_path`` is the store file, or a ``Settings`` (then the default store under
    ``$POS_DATA_DIR/keys``).  The KEK is ``kek`` or ``$POS_KEK``.
    """
    return load_data_keys(settings_or_path, kek=kek, key_id=key_id)[0]


def load_data_keys(
    settings_or_path: Any, *, kek: str | KekProvider | None = None, key_id: str = DATA_KEY_ID
) -> list[bytes]:
    """Every kept version of the data key, newest first (old data opens during a rotation)."""
    path = _store_path(settings_or_path)
    with open_store(path, kek, write=False) as store:
        versions = store.versions(key_id)
        if not versions:
            raise KeyStoreFailure(
                f"the key store has no data key '{key_id}'; run "
                f"'pos keys load --id {key_id} --usage data --generate'"
            )
        if versions[0].usage != "data":
            raise KeyStoreFailure(f"key '{key_id}' is a {versions[0].usage} key, not a data key")
        return [store.key(key_id, r.version) for r in versions]
