"""Key-encryption key (KEK) providers for the key store.

The store's TR-31 KBPK (AES-256) is protected by a KEK that comes from one of:

* ``pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=pos;pin-env=POS_HSM_PIN`` - a PKCS#11
  token (PKCS#11 v2.40, through python-pkcs11).  The KEK is an AES-256 secret key object
  (label ``object=``, default ``pos-kek``) created on the token with CKA_SENSITIVE true and
  CKA_EXTRACTABLE false, so it never leaves the token.  The KBPK is kept in the store file
  encrypted under it with CKM_AES_GCM (envelope encryption) and is decrypted by the token
  when the store is opened.  RFC 7512 spellings are accepted too (``module-path`` in the
  query, ``object``, ``token``); the PIN comes only from an environment variable
  (``pin-env``) or a file (``pin-source=file:PATH``), never from the command line.
* ``file:PATH`` - a file readable only by its owner (mode 0600) holding the KBPK itself,
  32 raw bytes or 64 hex digits.  Weaker: anyone who can copy the disk has the key, so
  opening it prints a warning.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from crypto.keystore import KBPK_LENGTH, kbpk_check_value
from terminal.errors import ConfigError, UserFacingError

DEFAULT_OBJECT = "pos-kek"
_ENVELOPE_AAD = b"pos-keystore/1 KBPK"
FILE_KEK_WARNING = (
    "warning: the key-encryption key is a plain file; anyone who copies the disk can open "
    "the key store - use a PKCS#11 token (--kek pkcs11:...) in production"
)


class KekError(UserFacingError):
    """The KEK cannot be found, opened or used."""

    exit_code = 1


class KekProvider(Protocol):
    @property
    def description(self) -> str: ...

    def open_kbpk(
        self, envelope: dict[str, Any] | None, new_kbpk: bytes
    ) -> tuple[bytes, dict[str, Any]]:
        """The store's KBPK and the envelope to keep with the store.

        ``envelope`` is what a previous call returned (None for a new store); ``new_kbpk``
        is fresh randomness a provider may use as the KBPK of a new store.
        """
        ...


def parse_kek(spec: str) -> KekProvider:
    """A provider from ``--kek``; a malformed spec raises ConfigError (exit 2)."""
    if spec.startswith("file:"):
        path = spec[len("file:") :]
        if not path:
            raise ConfigError("--kek file: needs a path, e.g. --kek file:/etc/pos/kek")
        return FileKek(Path(path))
    if spec.startswith("pkcs11:"):
        return Pkcs11Kek.from_uri(spec)
    raise ConfigError(
        f"--kek '{_shorten(spec)}' must be 'pkcs11:module=...;token=...;pin-env=VAR' or 'file:PATH'"
    )


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


# -- file ------------------------------------------------------------------------------------


@dataclass
class FileKek:
    path: Path
    warn: bool = True

    @property
    def description(self) -> str:
        return f"file {self.path}"

    def open_kbpk(
        self, envelope: dict[str, Any] | None, new_kbpk: bytes
    ) -> tuple[bytes, dict[str, Any]]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            raise KekError(
                f"the KEK file {self.path} does not exist; create it with "
                f"'umask 077; openssl rand -hex 32 > {self.path}'"
            ) from None
        except OSError as exc:
            raise KekError(f"the KEK file {self.path} cannot be read ({exc.strerror})") from None
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KekError(
                f"the KEK file {self.path} is open to others (mode {mode:o}); "
                f"run 'chmod 600 {self.path}'"
            )
        if info.st_uid != os.geteuid():
            raise KekError(f"the KEK file {self.path} belongs to another user; it must be yours")
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise KekError(f"the KEK file {self.path} cannot be read ({exc.strerror})") from None
        kbpk = raw if len(raw) == KBPK_LENGTH else _hex_kbpk(raw)
        if kbpk is None:
            raise KekError(
                f"the KEK file {self.path} must hold {KBPK_LENGTH} bytes or "
                f"{KBPK_LENGTH * 2} hex digits"
            )
        if self.warn:
            print(f"pos: {FILE_KEK_WARNING}", file=sys.stderr)
        return kbpk, {"kind": "file"}


def _hex_kbpk(raw: bytes) -> bytes | None:
    try:
        value = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return value if len(value) == KBPK_LENGTH else None


# -- PKCS#11 ---------------------------------------------------------------------------------


@dataclass
class Pkcs11Kek:
    module: str
    token: str
    object_label: str = DEFAULT_OBJECT
    pin_env: str | None = None
    pin_file: str | None = None

    @classmethod
    def from_uri(cls, uri: str) -> Pkcs11Kek:
        body = uri[len("pkcs11:") :]
        path, _, query = body.partition("?")
        attrs: dict[str, str] = {}
        for part in [p for p in path.split(";") if p] + [q for q in query.split("&") if q]:
            name, sep, value = part.partition("=")
            if not sep:
                raise ConfigError(f"the PKCS#11 URI attribute '{_shorten(part)}' has no '='")
            attrs[name.strip().lower()] = unquote(value.strip())
        if "pin-value" in attrs:
            raise ConfigError(
                "do not put the token PIN in the --kek URI; use pin-env=VARIABLE instead"
            )
        known = {"module", "module-path", "token", "object", "pin-env", "pin-source"}
        unknown = sorted(set(attrs) - known)
        if unknown:
            raise ConfigError(
                f"the PKCS#11 URI attribute '{unknown[0]}' is not known "
                "(module, token, object, pin-env, pin-source)"
            )
        module = attrs.get("module") or attrs.get("module-path")
        if not module:
            raise ConfigError(
                "the PKCS#11 URI needs module=PATH, e.g. module=/usr/lib/softhsm/libsofthsm2.so"
            )
        token = attrs.get("token")
        if not token:
            raise ConfigError("the PKCS#11 URI needs token=LABEL")
        pin_source = attrs.get("pin-source")
        if pin_source is not None and not pin_source.startswith("file:"):
            raise ConfigError("pin-source in the PKCS#11 URI must be file:PATH")
        if not attrs.get("pin-env") and pin_source is None:
            raise ConfigError("the PKCS#11 URI needs pin-env=VARIABLE naming the PIN's variable")
        return cls(
            module=module,
            token=token,
            object_label=attrs.get("object") or DEFAULT_OBJECT,
            pin_env=attrs.get("pin-env"),
            pin_file=pin_source[len("file:") :] if pin_source else None,
        )

    @property
    def description(self) -> str:
        return f"PKCS#11 token '{self.token}' key '{self.object_label}'"

    def _pin(self) -> str:
        if self.pin_env:
            pin = os.environ.get(self.pin_env)
            if not pin:
                raise KekError(f"the token PIN variable {self.pin_env} is not set")
            return pin
        assert self.pin_file is not None  # noqa: S101 - from_uri guarantees one source
        try:
            return Path(self.pin_file).read_text("utf-8").strip()
        except OSError as exc:
            raise KekError(
                f"the PIN file {self.pin_file} cannot be read ({exc.strerror})"
            ) from None

    def open_kbpk(
        self, envelope: dict[str, Any] | None, new_kbpk: bytes
    ) -> tuple[bytes, dict[str, Any]]:
        pkcs11 = _import_pkcs11()
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
        from pkcs11.mechanisms import GCMParams

        if not Path(self.module).is_file():
            raise KekError(
                f"the PKCS#11 module {self.module} is not there; install it "
                "(SoftHSM2: apt-get install softhsm2)"
            )
        try:
            lib = pkcs11.lib(self.module)
            token = lib.get_token(token_label=self.token)
        except pkcs11.exceptions.NoSuchToken:
            raise KekError(
                f"there is no PKCS#11 token labelled '{self.token}'; create it with "
                f"'softhsm2-util --init-token --free --label {self.token}'"
            ) from None
        except pkcs11.exceptions.MultipleTokensReturned:
            raise KekError(f"more than one PKCS#11 token is labelled '{self.token}'") from None
        except (pkcs11.exceptions.PKCS11Error, RuntimeError, OSError) as exc:
            raise KekError(
                f"the PKCS#11 module {self.module} cannot be loaded ({type(exc).__name__})"
            ) from None
        pin = self._pin()
        try:
            with token.open(user_pin=pin, rw=True) as session:
                key = self._find_key(session, ObjectClass, pkcs11)
                if envelope is None:
                    if key is None:
                        key = session.generate_key(
                            KeyType.AES,
                            256,
                            label=self.object_label,
                            store=True,
                            template={
                                Attribute.SENSITIVE: True,
                                Attribute.EXTRACTABLE: False,
                                Attribute.ENCRYPT: True,
                                Attribute.DECRYPT: True,
                            },
                        )
                    nonce = os.urandom(12)
                    wrapped = key.encrypt(
                        new_kbpk,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCMParams(nonce, _ENVELOPE_AAD, 128),
                    )
                    return new_kbpk, {
                        "kind": "pkcs11",
                        "token": self.token,
                        "object": self.object_label,
                        "nonce": nonce.hex(),
                        "wrapped_kbpk": bytes(wrapped).hex(),
                    }
                if key is None:
                    raise KekError(
                        f"the PKCS#11 token '{self.token}' has no key '{self.object_label}'; "
                        "the key store was made with another token or key"
                    )
                try:
                    nonce = bytes.fromhex(str(envelope["nonce"]))
                    wrapped = bytes.fromhex(str(envelope["wrapped_kbpk"]))
                except (KeyError, ValueError):
                    raise KekError("the key store's wrapped KBPK is damaged") from None
                try:
                    kbpk = key.decrypt(
                        wrapped,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCMParams(nonce, _ENVELOPE_AAD, 128),
                    )
                except pkcs11.exceptions.PKCS11Error:
                    raise KekError(
                        f"the key '{self.object_label}' on token '{self.token}' does not open "
                        "this key store (another KEK, or the store file was altered)"
                    ) from None
                return bytes(kbpk), dict(envelope)
        except pkcs11.exceptions.PinIncorrect:
            raise KekError(f"the PIN for token '{self.token}' is wrong") from None
        except pkcs11.exceptions.PinLocked:
            raise KekError(f"the PIN of token '{self.token}' is locked; unlock it") from None
        except pkcs11.exceptions.PKCS11Error as exc:
            raise KekError(
                f"the PKCS#11 token '{self.token}' failed ({type(exc).__name__})"
            ) from None

    def _find_key(self, session: Any, object_class: Any, pkcs11: Any) -> Any:
        try:
            return session.get_key(label=self.object_label, object_class=object_class.SECRET_KEY)
        except pkcs11.exceptions.NoSuchKey:
            return None
        except pkcs11.exceptions.MultipleObjectsReturned:
            raise KekError(
                f"the token '{self.token}' has more than one key labelled '{self.object_label}'"
            ) from None


def _import_pkcs11() -> Any:
    try:
        import pkcs11
        import pkcs11.exceptions
    except ImportError:
        raise KekError(
            "python-pkcs11 is not installed; run 'pip install python-pkcs11' or use --kek file:PATH"
        ) from None
    return pkcs11


def check_kbpk(kbpk: bytes, expected_kcv: str | None, provider: KekProvider) -> None:
    """Refuse a KEK that is not the one the store was made with."""
    if expected_kcv is not None and kbpk_check_value(kbpk) != expected_kcv:
        raise KekError(
            f"the KEK from {provider.description} is not the one this key store was made with "
            f"(KBPK check value {kbpk_check_value(kbpk)}, expected {expected_kcv})"
        )
