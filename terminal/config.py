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

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from emv import tags as tag_dictionary
from emv.config import AidConfig, TerminalConfig, default_aids
from emv.contactless.config import ConfigError as ContactlessConfigError
from emv.contactless.config import ContactlessConfig
from emv.contactless.config import parse_config as parse_contactless
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


TERMINAL_KEYS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    "terminal_id": lambda k: _str_max(k, 8),
    "merchant_id": lambda k: _str_max(k, 15),
    "merchant_name_location": lambda k: _str_max(k, 60),
    "merchant_category_code": lambda k: _typed(k, int),
    "acquirer_id": lambda k: _str_max(k, 11),
    "ifd_serial": lambda k: _str_max(k, 8),
    "country_code": lambda k: _typed(k, int),
    "terminal_type": lambda k: _hex(k, 1),
    "terminal_capabilities": lambda k: _hex(k, 3),
    "additional_capabilities": lambda k: _hex(k, 5),
    "pin_pad": lambda k: _typed(k, bool),
    "cardholder_confirmation": lambda k: _typed(k, bool),
    "risk_management_always": lambda k: _typed(k, bool),
    "exception_file": lambda k: _typed(k, list),
}
AID_KEYS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    "aid": lambda k: _hex(k),
    "label": lambda k: _str_max(k, 16),
    "partial_selection": lambda k: _typed(k, bool),
    "application_version": lambda k: _hex(k, 2),
    "floor_limit": lambda k: _typed(k, int),
    "random_selection_threshold": lambda k: _typed(k, int),
    "random_selection_target_percent": lambda k: _typed(k, int),
    "random_selection_max_target_percent": lambda k: _typed(k, int),
    "tac_denial": lambda k: _hex(k, 5),
    "tac_online": lambda k: _hex(k, 5),
    "tac_default": lambda k: _hex(k, 5),
    "default_ddol": lambda k: _hex(k),
    "default_tdol": lambda k: _hex(k),
}
HOST_KEYS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    "address": lambda k: _str_max(k, 255),
    "tls": lambda k: _typed(k, bool),
    "connect_timeout": lambda k: _typed(k, float),
    "read_timeout": lambda k: _typed(k, float),
    "total_timeout": lambda k: _typed(k, float),
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
        target = mapping.get(key, key)
        if key == "terminal_type":
            value = value[0]
        if key == "exception_file":
            value = tuple(str(v) for v in value)
        changes[target] = value
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
            built.append(AidConfig(tag_overrides=aid_overrides, **aid_values))
        aids = tuple(built)
    emv = replace(emv, aids=aids, tag_overrides=overrides, **changes)
    host_values, _ = _section("host", raw.get("host", {}), HOST_KEYS)
    host = HostSettings(**host_values)
    journal = raw.get("journal", {})
    if not isinstance(journal, dict) or set(journal) - {"path"}:
        raise ConfigError("config section 'journal' accepts only 'path'")
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
