"""Operator roles (least privilege): a cashier sells; a supervisor also refunds and voids.

The supervisor PIN is never stored: the TOML ``[operators]`` table keeps only a salted scrypt
hash (RFC 7914, N=2**14, r=8, p=1, 16-byte salt, 32-byte output)::

    [operators]
    supervisor_pin_hash = "scrypt$16384$8$1$<salt hex>$<hash hex>"

Make one with ``python -m terminal.operators`` (it asks for the PIN twice, without echo).
The comparison is constant-time; a wrong PIN is one sentence and never says which digit.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from dataclasses import dataclass
from typing import Any

from terminal.errors import ConfigError, UserFacingError

CASHIER = "cashier"
SUPERVISOR = "supervisor"

# What each role may do: a cashier sells (purchase, pre-authorisation, completion, settlement);
# money going back to a card or an approval being cancelled needs a supervisor.
PERMISSIONS: dict[str, frozenset[str]] = {
    CASHIER: frozenset({"pay", "preauth", "complete", "settle"}),
    SUPERVISOR: frozenset({"pay", "preauth", "complete", "settle", "refund", "void"}),
}

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32


class NotAuthorised(UserFacingError):
    """The operator's role or PIN does not allow the action."""


@dataclass(frozen=True)
class OperatorSettings:
    """The ``[operators]`` table; ``supervisor_pin_hash`` empty means no supervisor is set up."""

    supervisor_pin_hash: str = ""


@dataclass(frozen=True)
class Approval:
    """Proof that an operator with ``role`` allowed ``action`` (the PIN is not kept)."""

    role: str
    action: str


def _check_pin_format(pin: str) -> None:
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise NotAuthorised("the supervisor PIN must be 4 to 12 digits; enter it again.")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """The string to put in ``supervisor_pin_hash`` (a fresh random salt unless given)."""
    _check_pin_format(pin)
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.scrypt(
        pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
        if n < 2**10 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
            raise ValueError
        if len(salt) < 8 or len(digest) < 16:
            raise ValueError
    except ValueError:
        raise ConfigError(
            "config key 'operators.supervisor_pin_hash' is not a scrypt hash; "
            "make one with 'python -m terminal.operators'"
        ) from None
    return n, r, p, salt, digest


def verify_pin(stored: str, pin: str) -> bool:
    n, r, p, salt, digest = _parse_hash(stored)
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        return False
    candidate = hashlib.scrypt(
        pin.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=256 * 1024 * 1024
    )
    return hmac.compare_digest(candidate, digest)


def parse_operators(table: Any) -> OperatorSettings:
    """Validate the ``[operators]`` TOML table (unknown keys and bad hashes name the key)."""
    if table is None:
        return OperatorSettings()
    if not isinstance(table, dict):
        raise ConfigError("config section 'operators' must be a table")
    unknown = set(table) - {"supervisor_pin_hash"}
    if unknown:
        raise ConfigError(
            f"unknown config key 'operators.{sorted(unknown)[0]}'; known keys: supervisor_pin_hash"
        )
    stored = table.get("supervisor_pin_hash", "")
    if not isinstance(stored, str):
        raise ConfigError("config key 'operators.supervisor_pin_hash' must be a string in quotes")
    if stored:
        _parse_hash(stored)
    return OperatorSettings(stored)


def authorise(settings: OperatorSettings, action: str, supervisor_pin: str | None) -> Approval:
    """Return an :class:`Approval` for ``action`` or raise :class:`NotAuthorised`.

    Actions a cashier may do need no PIN; the others need the supervisor PIN.
    """
    if action not in PERMISSIONS[SUPERVISOR]:
        raise ValueError(f"unknown operator action {action!r}")
    if action in PERMISSIONS[CASHIER]:
        return Approval(CASHIER, action)
    if not settings.supervisor_pin_hash:
        raise ConfigError(
            f"a {action} needs a supervisor, but no supervisor PIN is configured; add "
            "[operators] supervisor_pin_hash to the config (python -m terminal.operators)."
        )
    if not supervisor_pin:
        raise NotAuthorised(f"a {action} needs the supervisor PIN (--supervisor-pin).")
    if not verify_pin(settings.supervisor_pin_hash, supervisor_pin):
        raise NotAuthorised(f"the supervisor PIN is wrong, so the {action} was not started.")
    return Approval(SUPERVISOR, action)


USAGE = (
    "usage: python -m terminal.operators\n"
    "Asks for a new supervisor PIN twice (without echo) and prints the [operators] table for\n"
    "the terminal's config. With the PIN on standard input (echo 1234 | ...) it reads one line."
)


def _read_new_pin() -> str:
    """The new PIN: typed twice at a terminal, or one line from a pipe (for provisioning)."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    pin = getpass.getpass("New supervisor PIN: ")
    if getpass.getpass("Repeat it: ") != pin:
        raise NotAuthorised("the two PINs differ; nothing was written.")
    return pin


def main(argv: list[str] | None = None) -> int:
    """``python -m terminal.operators``: print a supervisor PIN hash line; one sentence on error."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if args:
        print(f"operators: unexpected argument '{args[0]}'; run with --help.", file=sys.stderr)
        return 2
    try:
        line = hash_pin(_read_new_pin())
    except NotAuthorised as exc:
        print(f"operators: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("operators: no PIN was entered; nothing was written.", file=sys.stderr)
        return 1
    print("[operators]")
    print(f'supervisor_pin_hash = "{line}"')
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
