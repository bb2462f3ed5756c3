"""The terminal key store: key records kept as TR-31 / ANSI X9.143 key blocks.

Every secret key the terminal holds at rest (DUKPT initial keys for the PIN pad, MAC keys,
the journal data key, transport KBPKs) is a key block wrapped under the store's Key Block
Protection Key (KBPK, AES-256, so version D blocks, X9.143:2022 6.1 / TR-31:2018 5.3.2.3).
Where that KBPK comes from (a PKCS#11 token, an owner-only file) is not this module's
business: it is handed in.  Randomness and the clock are injected too; this module does
no I/O.

Each block's header binds the key's use (TR-31:2018 A.2 Table 1):

==========  =====  ====  =====================================================
usage        code  mode  key
==========  =====  ====  =====================================================
dukpt-ik     B1    X     initial DUKPT key (IK/IPEK), TDES or AES, for a PIN pad
pin          P0    E     PIN encryption key (fixed key)
mac          M3/6  C     ISO 9797-1 MAC alg. 3 (TDES) / alg. 5 = CMAC (AES)
data         D0    B     data encryption key (the journal data key, AES-256)
kbpk         K1    B     TR-31 key block protection key (transport key from a KIF)
==========  =====  ====  =====================================================

Optional blocks (X9.143:2022 6.3.6): ``KS`` the initial key serial number of a TDES DUKPT
IK (10 bytes), ``IK`` the initial key ID of an AES DUKPT IK (8 bytes), ``KC`` the wrapped
key's check value (``00`` legacy TDES method, ``01`` AES CMAC method, X9.24-1 Annex A).
The key version number field holds the record's version (01-99).

A key is never replaced in place: :meth:`KeyStore.rotate` adds version N+1 and keeps N
until :meth:`KeyStore.retire` removes it, so data sealed or keys derived under N stay
usable during the change-over.  The TLS client key is a *reference* (where it lives and
the SHA-256 of its public key), never a block.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from crypto import kcv, tr31


class KeyStoreError(ValueError):
    """A key store operation that cannot be done; the message is one sentence."""


@dataclass(frozen=True)
class UsageSpec:
    name: str
    codes: dict[str, str]  # algorithm ('T' TDES, 'A' AES) -> TR-31 key usage code
    mode_of_use: str
    lengths: dict[str, tuple[int, ...]]  # algorithm -> allowed key lengths in bytes
    exportability: str
    generate: bool  # may the terminal make this key itself (not shared with anyone)?
    description: str


USAGES: dict[str, UsageSpec] = {
    spec.name: spec
    for spec in (
        UsageSpec(
            "dukpt-ik", {"T": "B1", "A": "B1"}, "X", {"T": (16,), "A": (16, 24, 32)}, "E",
            False, "initial DUKPT key for the PIN pad",
        ),
        UsageSpec(
            "pin", {"T": "P0", "A": "P0"}, "E", {"T": (16, 24), "A": (16, 24, 32)}, "N",
            False, "PIN encryption key",
        ),
        UsageSpec(
            "mac", {"T": "M3", "A": "M6"}, "C", {"T": (16,), "A": (16, 24, 32)}, "N",
            False, "message MAC key",
        ),
        UsageSpec(
            "data", {"A": "D0"}, "B", {"A": (32,)}, "N", True, "journal data key",
        ),
        UsageSpec(
            "kbpk", {"T": "K1", "A": "K1"}, "B", {"T": (16, 24), "A": (16, 24, 32)}, "N",
            False, "TR-31 transport key block protection key",
        ),
    )
}  # fmt: skip
REFERENCE_USAGES = frozenset({"tls-client"})
ALL_USAGES = tuple(USAGES) + tuple(sorted(REFERENCE_USAGES))
KBPK_LENGTH = 32
MAX_VERSION = 99
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


@dataclass(frozen=True)
class KeyRecord:
    """One version of one key.  ``block`` is None only for a reference (TLS client key)."""

    key_id: str
    usage: str
    algorithm: str  # 'T', 'A', or '-' for a reference
    length: int  # key length in bytes (0 for a reference)
    version: int
    kcv: str  # hex check value, or the public key's SHA-256 for a reference
    created: str
    block: str | None = None
    reference: str | None = None
    key_set_id: str | None = None  # KSN (TDES DUKPT) or initial key ID (AES DUKPT), hex

    def public_view(self) -> dict[str, str | int]:
        """What ``pos keys list`` may show: everything except the key block."""
        return {
            "id": self.key_id,
            "usage": self.usage,
            "algorithm": {"T": "TDES", "A": "AES", "-": "reference"}[self.algorithm]
            + (f"-{self.length * 8}" if self.length else ""),
            "kcv": self.kcv,
            "version": self.version,
            "key_set_id": self.key_set_id or "",
            "reference": self.reference or "",
            "created": self.created,
        }


def check_value(algorithm: str, key: bytes) -> str:
    """The 3-byte KCV in hex: TDES legacy method, AES CMAC method (X9.24-1:2017 Annex A)."""
    value = kcv.tdes_kcv(key) if algorithm == "T" else kcv.aes_kcv(key)
    return value.hex().upper()


def kbpk_check_value(kbpk: bytes) -> str:
    if len(kbpk) != KBPK_LENGTH:
        raise KeyStoreError(f"the key store KBPK must be {KBPK_LENGTH} bytes, not {len(kbpk)}")
    return check_value("A", kbpk)


def validate_key_id(key_id: str) -> str:
    if not _KEY_ID.match(key_id):
        raise KeyStoreError(
            f"key id {key_id!r} must be 1-32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return key_id


def _spec(usage: str) -> UsageSpec:
    spec = USAGES.get(usage)
    if spec is None:
        raise KeyStoreError(f"usage {usage!r} is not one of {', '.join(ALL_USAGES)}")
    return spec


def _check_key(spec: UsageSpec, algorithm: str, key: bytes) -> None:
    lengths = spec.lengths.get(algorithm)
    if lengths is None:
        names = " or ".join({"T": "TDES", "A": "AES"}[a] for a in spec.lengths)
        raise KeyStoreError(f"a {spec.name} key must be {names}")
    if len(key) not in lengths:
        allowed = ", ".join(str(n * 8) for n in lengths)
        raise KeyStoreError(
            f"a {spec.name} key of algorithm {algorithm} is {allowed} bits, not {len(key) * 8}"
        )


def _key_set_block(spec: UsageSpec, algorithm: str, key_set_id: str | None) -> tuple[str, str]:
    """The KS/IK optional block of a DUKPT initial key (X9.143:2022 6.3.6)."""
    if spec.name != "dukpt-ik":
        if key_set_id:
            raise KeyStoreError("only a dukpt-ik key carries a key serial number")
        return ("", "")
    want = 10 if algorithm == "T" else 8
    what = "initial KSN" if algorithm == "T" else "initial key ID"
    try:
        raw = bytes.fromhex(key_set_id or "")
    except ValueError:
        raw = b""
    if len(raw) != want:
        raise KeyStoreError(
            f"a {'TDES' if algorithm == 'T' else 'AES'} DUKPT initial key needs its {what} "
            f"({want * 2} hex digits)"
        )
    return ("KS" if algorithm == "T" else "IK", raw.hex().upper())


class KeyStore:
    """Key records under one KBPK.  Persistence and the KBPK's source are the caller's."""

    def __init__(
        self,
        kbpk: bytes,
        records: Iterable[KeyRecord] = (),
        *,
        random: Callable[[int], bytes],
        now: Callable[[], str],
    ) -> None:
        self.kbpk_kcv = kbpk_check_value(kbpk)
        self._kbpk = kbpk
        self._random = random
        self._now = now
        self._records: list[KeyRecord] = sorted(records, key=lambda r: (r.key_id, r.version))

    # -- reading --------------------------------------------------------------------------

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        return tuple(self._records)

    def versions(self, key_id: str) -> list[KeyRecord]:
        """Every kept version of ``key_id``, newest first."""
        found = [r for r in self._records if r.key_id == key_id]
        return sorted(found, key=lambda r: r.version, reverse=True)

    def active(self, key_id: str) -> KeyRecord:
        found = self.versions(key_id)
        if not found:
            raise KeyStoreError(f"there is no key {key_id!r} in the key store")
        return found[0]

    def key(self, key_id: str, version: int | None = None) -> bytes:
        """The clear key of ``key_id`` (the newest version unless one is named)."""
        record = self._record(key_id, version)
        if record.block is None:
            raise KeyStoreError(f"key {key_id!r} is a reference; its key is not in the store")
        try:
            header, key = tr31.unwrap(self._kbpk, record.block)
        except tr31.Tr31Error as exc:
            raise KeyStoreError(f"key {key_id!r} version {record.version}: {exc}") from None
        spec = _spec(record.usage)
        if header.key_usage != spec.codes[record.algorithm] or header.key_version != (
            f"{record.version:02d}"
        ):
            raise KeyStoreError(f"key {key_id!r}'s block header does not match its record")
        if not hmac.compare_digest(check_value(record.algorithm, key), record.kcv):
            raise KeyStoreError(f"key {key_id!r}'s check value does not match its block")
        return key

    def export_block(
        self, key_id: str, kbpk: bytes, *, kbpk_algorithm: str = "A", version: int | None = None
    ) -> str:
        """Re-wrap a key under another KBPK (a PIN pad's), keeping its header.

        A TDES KBPK gives a version B block, an AES KBPK version D (X9.143:2022 6.1); an
        AES key cannot go under a TDES KBPK.
        """
        record = self._record(key_id, version)
        spec = _spec(record.usage)
        if spec.exportability != "E":
            raise KeyStoreError(f"key {key_id!r} ({record.usage}) is not exportable")
        key = self.key(key_id, record.version)
        header, _ = tr31.unwrap(self._kbpk, record.block or "")
        if kbpk_algorithm not in ("T", "A"):
            raise KeyStoreError("the receiving KBPK is TDES (T) or AES (A)")
        if kbpk_algorithm == "T" and record.algorithm == "A":
            raise KeyStoreError(f"AES key {key_id!r} cannot be exported under a TDES KBPK")
        version_id = "B" if kbpk_algorithm == "T" else "D"
        try:
            return tr31.wrap(kbpk, key, replace(header, version_id=version_id))
        except tr31.Tr31Error as exc:
            raise KeyStoreError(f"cannot export key {key_id!r}: {exc}") from None

    # -- changing -------------------------------------------------------------------------

    def generate(self, key_id: str, usage: str) -> KeyRecord:
        """Version 1 of a new key made from the injected random source."""
        spec = _spec(usage)
        if not spec.generate:
            raise KeyStoreError(
                f"a {usage} key is shared with the host or a key injection facility; "
                "load it with --from-block instead of generating it"
            )
        algorithm = next(iter(spec.lengths))
        key = self._random(spec.lengths[algorithm][-1])
        return self._add(key_id, usage, algorithm, key, None, version=1)

    def add_key(
        self, key_id: str, usage: str, algorithm: str, key: bytes, key_set_id: str | None = None
    ) -> KeyRecord:
        """Version 1 of a key given in the clear (a migrated file, XORed components)."""
        return self._add(key_id, usage, algorithm, key, key_set_id, version=1)

    def import_block(
        self,
        key_id: str,
        usage: str,
        block: str,
        *,
        transport_kbpk: bytes | None = None,
        rotate: bool = False,
    ) -> KeyRecord:
        """Load a key from a TR-31 block under ``transport_kbpk`` (or the store's own KBPK).

        The header must say the usage asked for (X9.143 key binding: a MAC key cannot be
        loaded as a PIN key).  The key is re-wrapped under the store KBPK.
        """
        spec = _spec(usage)
        try:
            header, key = tr31.unwrap(transport_kbpk or self._kbpk, block)
        except tr31.Tr31Error as exc:
            raise KeyStoreError(f"the key block cannot be opened: {exc}") from None
        algorithm = header.algorithm
        if algorithm not in spec.codes or header.key_usage != spec.codes[algorithm]:
            raise KeyStoreError(
                f"the key block is for usage {header.key_usage} algorithm {algorithm}, "
                f"not a {usage} key ({'/'.join(sorted(set(spec.codes.values())))})"
            )
        if header.mode_of_use not in (spec.mode_of_use, "N"):
            raise KeyStoreError(
                f"the key block's mode of use {header.mode_of_use} does not allow a {usage} key"
            )
        blocks = dict(header.optional_blocks)
        key_set_id = blocks.get("KS") or blocks.get("IK")
        if rotate:
            current = self.active(key_id)
            if current.usage != usage:
                raise KeyStoreError(f"key {key_id!r} is a {current.usage} key, not {usage}")
            return self._add(key_id, usage, algorithm, key, key_set_id, version=current.version + 1)
        return self._add(key_id, usage, algorithm, key, key_set_id, version=1)

    def rotate(self, key_id: str) -> KeyRecord:
        """Version N+1 of a key the terminal generates itself; version N is kept."""
        current = self.active(key_id)
        spec = _spec(current.usage) if current.block is not None else None
        if spec is None or not spec.generate:
            raise KeyStoreError(
                f"key {key_id!r} ({current.usage}) comes from outside the terminal; "
                "rotate it with --from-block"
            )
        key = self._random(current.length)
        return self._add(
            key_id, current.usage, current.algorithm, key, None, version=current.version + 1
        )

    def add_reference(self, key_id: str, usage: str, reference: str, fingerprint: str) -> KeyRecord:
        """Record where a key lives that the store does not hold (the TLS client key)."""
        if usage not in REFERENCE_USAGES:
            raise KeyStoreError(f"usage {usage!r} is kept as a key block, not a reference")
        validate_key_id(key_id)
        previous = self.versions(key_id)
        if previous and previous[0].usage != usage:
            raise KeyStoreError(f"key {key_id!r} is a {previous[0].usage} key, not {usage}")
        record = KeyRecord(
            key_id=key_id, usage=usage, algorithm="-", length=0,
            version=previous[0].version + 1 if previous else 1,
            kcv=fingerprint, created=self._now(), reference=reference,
        )  # fmt: skip
        self._records.append(record)
        return record

    def retire(self, key_id: str, version: int) -> KeyRecord:
        """Remove an older version (its block is dropped); the active one cannot go."""
        record = self._record(key_id, version)
        if record.version == self.active(key_id).version:
            raise KeyStoreError(
                f"version {version} is the active version of {key_id!r}; rotate it first"
            )
        self._records.remove(record)
        return record

    def remove(self, key_id: str) -> list[KeyRecord]:
        found = self.versions(key_id)
        if not found:
            raise KeyStoreError(f"there is no key {key_id!r} in the key store")
        self._records = [r for r in self._records if r.key_id != key_id]
        return found

    # -- internals ------------------------------------------------------------------------

    def _record(self, key_id: str, version: int | None) -> KeyRecord:
        if version is None:
            return self.active(key_id)
        for record in self._records:
            if record.key_id == key_id and record.version == version:
                return record
        raise KeyStoreError(f"key {key_id!r} has no version {version}")

    def _add(
        self,
        key_id: str,
        usage: str,
        algorithm: str,
        key: bytes,
        key_set_id: str | None,
        *,
        version: int,
    ) -> KeyRecord:
        validate_key_id(key_id)
        spec = _spec(usage)
        _check_key(spec, algorithm, key)
        if version == 1 and self.versions(key_id):
            raise KeyStoreError(
                f"key {key_id!r} already exists; use 'pos keys rotate' for a new version"
            )
        if version > MAX_VERSION:
            raise KeyStoreError(
                f"key {key_id!r} is at version {MAX_VERSION}; retire it and load it anew"
            )
        value = check_value(algorithm, key)
        if any(
            r.key_id == key_id and r.kcv == value for r in self._records
        ):  # a rotation to the same key is no rotation
            raise KeyStoreError(f"key {key_id!r} already holds a key with check value {value}")
        ks_id, ks_data = _key_set_block(spec, algorithm, key_set_id)
        blocks: list[tuple[str, str]] = []
        if ks_id:
            blocks.append((ks_id, ks_data))
        blocks.append(("KC", ("00" if algorithm == "T" else "01") + value))
        header = tr31.Tr31Header(
            version_id="D",
            key_usage=spec.codes[algorithm],
            algorithm=algorithm,
            mode_of_use=spec.mode_of_use,
            key_version=f"{version:02d}",
            exportability=spec.exportability,
            optional_blocks=tuple(blocks),
        )
        block = tr31.wrap(
            self._kbpk,
            key,
            header,
            masked_key_length=KBPK_LENGTH,
            padding=self._random(_pad_length(key)),
        )
        record = KeyRecord(
            key_id=key_id, usage=usage, algorithm=algorithm, length=len(key), version=version,
            kcv=value, created=self._now(), block=block, key_set_id=ks_data or None,
        )  # fmt: skip
        self._records.append(record)
        return record


def _pad_length(key: bytes) -> int:
    """Random padding for version D key data masked to an AES-256 key's length (A.4)."""
    masked = KBPK_LENGTH
    return masked - len(key) + (-(2 + masked) % 16)
