"""Terminal configuration from a TOML file (``pos --config FILE``).

Named settings first, then raw EMV tag overrides as hex by tag on top of them::

    [terminal]
    terminal_id = "POS00001"
    currency = "EUR"
    [terminal.tags]            # raw overrides for every application
    9F33 = "E0F8C8"

    [[aid]]
    aid = "A0000000031010"
    floor_limit = 5000          # minor units
    [aid.tags]
    9F1B = "00002710"

    [host]
    address = "embedded"        # or HOST:PORT
    tls = true

A mistyped key or a bad value raises :class:`ConfigError` naming the key and the reason.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from emv import dol
from emv import tags as tag_dictionary
from emv.config import AidConfig, TerminalConfig, default_aids
from emv.contactless.config import ConfigError as ContactlessConfigError
from emv.contactless.config import ContactlessConfig
from emv.contactless.config import parse_config as parse_contactless
from emv.errors import DolError
from terminal.errors import ConfigError
from terminal.money import Currency, currency
from terminal.operators import OperatorSettings, parse_operators


@dataclass(frozen=True)
class HostSettings:
    address: str = "embedded"
    tls: bool = True
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0


@dataclass(frozen=True)
class Settings:
    emv: TerminalConfig
    currency: Currency
    host: HostSettings = field(default_factory=HostSettings)
    journal_path: str | None = None
    source: str = "built-in defaults"
    contactless: ContactlessConfig | None = None  # None: the packaged default
    operators: OperatorSettings = field(default_factory=OperatorSettings)
    capk_file: str | None = None  # replaces the packaged CA public keys (emv/data/capk.json)
    revocation_file: str | None = None  # replaces the packaged certificate revocation list
    tips: bool = False  # the sale screen offers a tip line
    qr_host: str | None = None  # HOST:PORT of the QR payment host
    qr_timeout: float | None = None  # seconds a QR code stays payable
    printer: str | None = None  # receipt printer spec (serial:PORT, tcp:HOST[:PORT], file:PATH)
    receipt_email: str | None = None  # shown when the cashier offers an emailed receipt


# Terminal Type 9F35 (n2), EMV Book 4 Annex A1: first digit 1 financial institution, 2 merchant,
# 3 cardholder controlled; second digit 1-3 attended, 4-6 unattended (cardholder: 4-6 only).
TERMINAL_TYPES = frozenset(
    f"{value:02X}" for value in (*range(0x11, 0x17), *range(0x21, 0x27), *range(0x34, 0x37))
)
TERMINAL_TYPE_RULE = "11-16, 21-26 or 34-36"
# Terminal Floor Limit 9F1B is binary, 4 bytes (EMV Book 3 Annex A1); amounts compared with it
# (the random selection threshold, Book 3 10.6.2) share its range.
MAX_FLOOR_LIMIT = 0xFFFF_FFFF
AMOUNT_RULE = f"a whole number of minor units from 0 to {MAX_FLOOR_LIMIT}"
FLOOR_LIMIT_RULE = f"{AMOUNT_RULE} (9F1B is binary, 4 bytes)"
MAX_TIMEOUT_SECONDS = 3600.0  # an hour: finite, and small enough for every socket timeout


def _hex(key: str, length: int | None = None) -> Callable[[Any], bytes]:
    def convert(value: Any) -> bytes:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a hex string in quotes")
        try:
            raw = bytes.fromhex(value.replace(" ", ""))
        except ValueError:
            raise ConfigError(f"config key '{key}' is not valid hex: '{value}'") from None
        if length is not None and len(raw) != length:
            raise ConfigError(
                f"config key '{key}' must be {length} bytes ({length * 2} hex digits)"
            )
        return raw

    return convert


def _typed(key: str, kind: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"config key '{key}' must be a {kind.__name__}, not {value!r}")
        if kind in (int, float) and value < 0:
            raise ConfigError(f"config key '{key}' must not be negative")
        return value

    return convert


def _str_max(key: str, maximum: int) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.isascii() or len(value) > maximum:
            raise ConfigError(f"config key '{key}' must be ASCII text of at most {maximum} chars")
        return value

    return convert


def _checked(key: str, ok: Callable[[Any], bool], rule: str) -> Callable[[Any], Any]:
    """A value that must pass ``ok``; the error says the rule (what to write) and the value."""

    def convert(value: Any) -> Any:
        if not ok(value):
            raise ConfigError(f"config key '{key}' must be {rule}, not {value!r}")
        return value

    return convert


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _digits(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v.isascii() and v.isdigit() and low <= len(v) <= high


def _an(length: int) -> Callable[[Any], bool]:
    """EMV format an (Book 3 4.3): letters and digits only, here of a fixed length."""
    return lambda v: isinstance(v, str) and v.isascii() and v.isalnum() and len(v) == length


def _seconds(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 < value <= MAX_TIMEOUT_SECONDS


def _timeout(key: str, example: float) -> Callable[[Any], float]:
    rule = f"a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS:g}, e.g. {example}"
    check = _checked(key, _seconds, rule)
    return lambda value: float(check(value))


def _terminal_type(key: str) -> Callable[[Any], int]:
    rule = f'one of {TERMINAL_TYPE_RULE} (9F35, EMV Book 4 Annex A1), e.g. "22"'
    check = _checked(key, lambda v: isinstance(v, str) and v in TERMINAL_TYPES, rule)
    return lambda value: int(check(value), 16)


def _dol(key: str, example: str) -> Callable[[Any], bytes]:
    """A DOL is a list of tag and length pairs without values (EMV Book 3 5.4)."""

    def convert(value: Any) -> bytes:
        raw = _hex(key)(value)
        try:
            dol.parse(raw)
        except DolError:
            raise ConfigError(
                f"config key '{key}' must be a data object list of tag and length pairs "
                f'(EMV Book 3 5.4), e.g. "{example}", not {value!r}'
            ) from None
        return raw

    return convert


def _pans(key: str) -> Callable[[Any], tuple[str, ...]]:
    """The exception file lists Application PANs (5A, cn up to 19 digits, Book 3 Annex A1);
    entries are never echoed, as a mistyped one may still be a card number."""

    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise ConfigError(
                f"config key '{key}' must be a list of PANs in quotes, e.g. [] or [\"...\"]"
            )
        for index, pan in enumerate(value, start=1):
            if not _digits(12, 19)(pan):
                raise ConfigError(
                    f"config key '{key}[{index}]' must be a PAN of 12 to 19 digits in quotes "
                    "(5A is cn, up to 19 digits); the entry is not shown, as it may be a card "
                    "number"
                )
        return tuple(value)

    return convert


TERMINAL_KEYS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    # 9F1C Terminal Identification an8 (Book 3 Annex A1), sent as ISO 8583 DE 41 ans8: the kernel
    # must not pad it with spaces, which an does not allow.
    "terminal_id": lambda k: _checked(
        k,
        _an(8),
        'exactly 8 letters or digits (9F1C is an8, ISO 8583 DE 41 is ans8), e.g. "POS00001"',
    ),
    "merchant_id": lambda k: _str_max(k, 15),
    "merchant_name_location": lambda k: _str_max(k, 60),
    # 9F15 Merchant Category Code n4 (Book 3 Annex A1), ISO 18245.
    "merchant_category_code": lambda k: _checked(
        k,
        _whole(0, 9999),
        "an ISO 18245 merchant category code from 0 to 9999 (9F15 is n4), e.g. 5411",
    ),
    # 9F01 Acquirer Identifier n6-11 (Book 3 Annex A1), sent as ISO 8583 DE 32 n..11.
    "acquirer_id": lambda k: _checked(
        k,
        _digits(6, 11),
        '6 to 11 digits in quotes (9F01 is n6-11, ISO 8583 DE 32 is n..11), e.g. "000001"',
    ),
    # 9F1E Interface Device Serial Number an8 (Book 3 Annex A1).
    "ifd_serial": lambda k: _checked(
        k, _an(8), 'exactly 8 letters or digits (9F1E is an8), e.g. "SIM00001"'
    ),
    # 9F1A Terminal Country Code n3 (Book 3 Annex A1), ISO 3166-1 numeric (000 is not assigned).
    "country_code": lambda k: _checked(
        k, _whole(1, 999), "an ISO 3166 numeric country code from 1 to 999 (9F1A is n3), e.g. 276"
    ),
    "terminal_type": _terminal_type,
    "terminal_capabilities": lambda k: _hex(k, 3),
    "additional_capabilities": lambda k: _hex(k, 5),
    "pin_pad": lambda k: _typed(k, bool),
    "cardholder_confirmation": lambda k: _typed(k, bool),
    "risk_management_always": lambda k: _typed(k, bool),
    "exception_file": _pans,
}
AID_KEYS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    "aid": lambda k: _hex(k),
    "label": lambda k: _str_max(k, 16),
    "partial_selection": lambda k: _typed(k, bool),
    "application_version": lambda k: _hex(k, 2),
    "floor_limit": lambda k: _checked(k, _whole(0, MAX_FLOOR_LIMIT), FLOOR_LIMIT_RULE),
    "random_selection_threshold": lambda k: _checked(k, _whole(0, MAX_FLOOR_LIMIT), AMOUNT_RULE),
    "random_selection_target_percent": lambda k: _typed(k, int),
    "random_selection_max_target_percent": lambda k: _typed(k, int),
    "tac_denial": lambda k: _hex(k, 5),
    "tac_online": lambda k: _hex(k, 5),
    "tac_default": lambda k: _hex(k, 5),
    "default_ddol": lambda k: _dol(k, "9F3704"),
    "default_tdol": lambda k: _dol(k, "9F02065F2A029A039C0195059F3704"),
}
HOST_KEYS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    "address": lambda k: _str_max(k, 255),
    "tls": lambda k: _typed(k, bool),
    "connect_timeout": lambda k: _timeout(k, 5.0),
    "read_timeout": lambda k: _timeout(k, 10.0),
    "total_timeout": lambda k: _timeout(k, 20.0),
}


def _tag_overrides(where: str, table: Any) -> dict[int, bytes]:
    if not isinstance(table, dict):
        raise ConfigError(f"config section '{where}' must be a table of TAG = \"HEX\"")
    out: dict[int, bytes] = {}
    for key, value in table.items():
        name = f"{where}.{key}"
        try:
            tag = int(str(key), 16)
        except ValueError:
            raise ConfigError(f"config key '{name}' is not an EMV tag in hex") from None
        raw = _hex(name)(value)
        info = tag_dictionary.info(tag)
        if info and not info.min_length <= len(raw) <= max(info.max_length, info.min_length):
            raise ConfigError(
                f"config key '{name}' ({info.name}) must be {info.min_length}"
                f"{'' if info.min_length == info.max_length else '-' + str(info.max_length)} bytes"
            )
        out[tag] = raw
    return out


def _section(
    where: str, table: Any, schema: dict[str, Callable[[str], Callable[[Any], Any]]]
) -> tuple[dict[str, Any], dict[int, bytes]]:
    if not isinstance(table, dict):
        raise ConfigError(f"config section '{where}' must be a table")
    values: dict[str, Any] = {}
    overrides: dict[int, bytes] = {}
    for key, value in table.items():
        if key == "tags":
            overrides = _tag_overrides(f"{where}.tags", value)
            continue
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"unknown config key '{where}.{key}'; known keys: {known}")
        values[key] = schema[key](f"{where}.{key}")(value)
    return values, overrides


def _percent(name: str, value: int) -> None:
    if value > 99:
        raise ConfigError(f"config key '{name}' is a percentage and must be 0-99")


def build_settings(raw: dict[str, Any], source: str) -> Settings:
    known = {
        "terminal", "aid", "host", "journal", "tags", "contactless", "operators", "oda", "qr",
        "receipts",
    }  # fmt: skip
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"unknown config section '{key}'; known sections: {', '.join(sorted(known))}"
            )
    terminal_raw = dict(raw.get("terminal", {}))
    currency_code = terminal_raw.pop("currency", "EUR")
    tips = terminal_raw.pop("tips", False)
    if not isinstance(tips, bool):
        raise ConfigError("config key 'terminal.tips' must be true or false")
    try:
        cur = currency(currency_code)
    except Exception as exc:  # UsageError -> ConfigError with the key name
        raise ConfigError(f"config key 'terminal.currency': {exc}") from None
    values, overrides = _section("terminal", terminal_raw, TERMINAL_KEYS)
    if "tags" in raw:
        overrides.update(_tag_overrides("tags", raw["tags"]))
    emv = TerminalConfig(currency_code=cur.numeric, currency_exponent=cur.exponent)
    mapping = {
        "pin_pad": "pin_pad_present",
        "terminal_type": "terminal_type",
    }
    changes: dict[str, Any] = {}
    for key, value in values.items():
        changes[mapping.get(key, key)] = value
    aids = default_aids()
    if "aid" in raw:
        if not isinstance(raw["aid"], list) or not raw["aid"]:
            raise ConfigError("config section 'aid' must be a list of [[aid]] tables")
        built = []
        for index, table in enumerate(raw["aid"], start=1):
            where = f"aid[{index}]"
            aid_values, aid_overrides = _section(where, table, AID_KEYS)
            if "aid" not in aid_values:
                raise ConfigError(f"config section '{where}' needs an 'aid' key")
            if not 5 <= len(aid_values["aid"]) <= 16:
                raise ConfigError(f"config key '{where}.aid' must be 5-16 bytes")
            for key in ("random_selection_target_percent", "random_selection_max_target_percent"):
                _percent(f"{where}.{key}", aid_values.get(key, 0))
            if aid_values.get("random_selection_max_target_percent", 0) < aid_values.get(
                "random_selection_target_percent", 0
            ):
                raise ConfigError(
                    f"config key '{where}.random_selection_max_target_percent' must not be "
                    "below random_selection_target_percent"
                )
            # Book 3 10.6.2: the threshold for biased selection is zero or below the floor limit.
            threshold = aid_values.get("random_selection_threshold", 0)
            floor = aid_values.get("floor_limit", 0)
            if threshold and threshold >= floor:
                raise ConfigError(
                    f"config key '{where}.random_selection_threshold' must be 0 or below "
                    f"floor_limit ({floor}) as EMV Book 3 10.6.2 requires, not {threshold}"
                )
            built.append(AidConfig(tag_overrides=aid_overrides, **aid_values))
        aids = tuple(built)
    emv = replace(emv, aids=aids, tag_overrides=overrides, **changes)
    host_values, _ = _section("host", raw.get("host", {}), HOST_KEYS)
    host = HostSettings(**host_values)
    journal = raw.get("journal", {})
    if not isinstance(journal, dict) or set(journal) - {"path"}:
        raise ConfigError("config section 'journal' accepts only 'path'")
    if "path" in journal:
        _check_journal_path(journal["path"])
    contactless = None
    if "contactless" in raw:
        try:
            contactless = parse_contactless(raw["contactless"])
        except ContactlessConfigError as exc:
            raise ConfigError(f"config error: {exc}") from None
        except (TypeError, AttributeError):
            raise ConfigError("config section 'contactless' is not shaped as documented") from None
    operators = parse_operators(raw.get("operators"))
    oda = raw.get("oda", {})
    if not isinstance(oda, dict) or set(oda) - {"capk_file", "revocation_file"}:
        raise ConfigError("config section 'oda' accepts only 'capk_file' and 'revocation_file'")
    for key, value in oda.items():
        if not isinstance(value, str) or not Path(value).is_file():
            raise ConfigError(f"config key 'oda.{key}' must name an existing file, not {value!r}")
        _check_oda_file(key, value)
    qr_table = _plain_table(raw, "qr", {"host": str, "timeout": (int, float)})
    receipts = _plain_table(raw, "receipts", {"printer": str, "email": str})
    timeout = qr_table.get("timeout")
    if timeout is not None and not 0 < float(timeout) <= 3600:
        raise ConfigError("config key 'qr.timeout' must be between 1 and 3600 seconds")
    return Settings(
        emv,
        cur,
        host,
        journal.get("path"),
        source,
        contactless,
        operators,
        oda.get("capk_file"),
        oda.get("revocation_file"),
        tips,
        qr_table.get("host"),
        float(timeout) if timeout is not None else None,
        receipts.get("printer"),
        receipts.get("email"),
    )


# [oda] files: the list each must hold and the packaged file whose format it follows (emv/capk.py
# verifies every entry later; a file that is not even that shape is a configuration mistake).
ODA_FILES = {
    "capk_file": ("keys", "emv/data/capk.json"),
    "revocation_file": ("entries", "emv/data/revocation.json"),
}


def _check_oda_file(key: str, value: str) -> None:
    list_key, packaged = ODA_FILES[key]
    try:
        content = json.loads(Path(value).read_text("utf-8"))
    except OSError as exc:
        problem = f"{value!r} cannot be read ({exc.strerror})"
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        problem = f"{value!r} is not valid JSON"
    else:
        if isinstance(content, dict) and isinstance(content.get(list_key), list):
            return
        problem = f"{value!r} has no '{list_key}' list"
    raise ConfigError(
        f"config key 'oda.{key}' must name a JSON file shaped like {packaged}; {problem}"
    )


def _writable(path: Path) -> bool:
    """Write access without writing.  os.access() is always true for root, so a path whose mode
    lets nobody write (e.g. /proc) or on a read-only mount (systemd ProtectSystem) counts too."""
    wanted = os.W_OK | (os.X_OK if path.is_dir() else 0)
    read_only_mount = hasattr(os, "statvfs") and bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    return os.access(path, wanted) and bool(path.stat().st_mode & 0o222) and not read_only_mount


def _journal_problem(path: Path) -> str | None:
    """Why the journal could not be created or opened at ``path``, checked without creating
    anything (the journal makes the missing directories itself when it opens)."""
    try:
        if path.is_dir():
            return f"'{path}' is a directory"
        if path.exists() and not (path.is_file() and _writable(path)):
            return f"'{path}' is not a writable file"
        nearest = next(p for p in path.parents if p.exists())
        if not nearest.is_dir():
            return f"'{nearest}' is not a directory"
        if not _writable(nearest):
            return f"'{nearest}' is not writable"
    except OSError as exc:
        return f"'{exc.filename or path}' cannot be checked ({exc.strerror})"
    return None


def _check_journal_path(value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ConfigError(
            "config key 'journal.path' must be a file path in quotes, "
            f'e.g. "/var/lib/pos/journal.sqlite", not {value!r}'
        )
    if value == ":memory:":  # an in-memory journal (tests, benchmarks)
        return
    problem = _journal_problem(Path(value).absolute())
    if problem:
        raise ConfigError(
            f"config key 'journal.path' names {value!r}, but {problem}; give a file in a "
            "directory the terminal can write"
        )


def _plain_table(raw: dict[str, Any], name: str, keys: dict[str, Any]) -> dict[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config section '{name}' must be a table")
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(
                f"unknown config key '{name}.{key}'; known keys: {', '.join(sorted(keys))}"
            )
        if isinstance(value, bool) or not isinstance(value, keys[key]):
            raise ConfigError(f"config key '{name}.{key}' has the wrong type: {value!r}")
    return table


def load_settings(path: str | None) -> Settings:
    if path is None:
        return build_settings({}, "built-in defaults")
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}' cannot be read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None
    return build_settings(raw, str(file))
