"""The terminal's data key (AES-256): seals card data that must wait in a queue.

Offline advices and batch records carry the PAN until the host has them, so they are stored
encrypted (AES-GCM) under this key.  The key lives in a file readable only by its owner
(``$POS_DATA_DIR/keys/data.key``, mode 0600), created on first use; a file with looser
permissions is refused.  With ``$POS_KEK`` set, the key comes from the key store instead,
wrapped as a TR-31 block under a KEK held by a PKCS#11 token (docs/keys.md).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from terminal.errors import ConfigError

KEY_BYTES = 32


def load_or_create(path: Path) -> bytes:
    """The data key; from the key store when ``$POS_KEK`` names a KEK (docs/keys.md)."""
    if os.environ.get("POS_KEK"):
        from terminal.keys import STORE_NAME, load_data_key

        return load_data_key(path.parent / STORE_NAME)
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"the data key file {path} is readable by others (mode {mode:o}); "
                f"run 'chmod 600 {path}'"
            )
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise ConfigError(f"the data key file {path} is damaged; restore it from backup")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = os.urandom(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    print(
        f"pos: created a new data key in {path} (file-based, owner-only); "
        "keep it with the journal backups",
        file=sys.stderr,
    )
    return key
