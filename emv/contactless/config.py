"""Contactless reader configuration per AID and kernel (EMV Contactless Book B 3.1, 5.2).

The configuration is data (``emv/contactless/data/default_config.json`` or the
terminal's TOML ``[contactless]`` table, parsed to a mapping first).  Every key is checked:
a mistyped key, a wrong type or inconsistent limits raise :class:`ConfigError` whose
message names the key and the reason.  Amounts are in minor units of the currency.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from emv.errors import EmvError


class ConfigError(EmvError):
    """The contactless configuration is unusable; the message names the key and why."""


@dataclass(frozen=True)
class Kernel2Settings:
    """Book C-2 configuration data objects (C-2 Annex A)."""

    floor_limit: int  # DF8123
    no_on_device_cvm_limit: int  # DF8124
    on_device_cvm_limit: int  # DF8125
    cvm_required_limit: int  # DF8126
    tac_default: bytes  # DF8120
    tac_denial: bytes  # DF8121
    tac_online: bytes  # DF8122
    kernel_configuration: bytes  # DF811B
    cvm_capability_cvm_required: bytes  # DF8118
    cvm_capability_no_cvm: bytes  # DF8119


@dataclass(frozen=True)
class Combination:
    """One AID / kernel combination with its Book B 3.1 pre-processing parameters."""

    aid: bytes
    kernel_id: int
    ttq: bytes
    transaction_types: tuple[int, ...]
    contactless_transaction_limit: int | None
    floor_limit: int | None
    cvm_required_limit: int | None
    status_check: bool
    zero_amount_allowed: bool
    extended_selection: bool
    kernel2: Kernel2Settings | None = None


@dataclass(frozen=True)
class TerminalSettings:
    country_code: bytes  # 9F1A
    terminal_type: int  # 9F35
    terminal_capabilities: bytes  # 9F33
    additional_capabilities: bytes  # 9F40
    merchant_category_code: bytes  # 9F15
    terminal_floor_limit: int | None  # 9F1B


@dataclass(frozen=True)
class ContactlessConfig:
    terminal: TerminalSettings
    combinations: tuple[Combination, ...] = field(default_factory=tuple)


_TERMINAL_KEYS = {
    "country_code",
    "terminal_type",
    "terminal_capabilities",
    "additional_capabilities",
    "merchant_category_code",
    "terminal_floor_limit",
}
_COMBINATION_KEYS = {
    "aid",
    "kernel_id",
    "ttq",
    "transaction_types",
    "contactless_transaction_limit",
    "floor_limit",
    "cvm_required_limit",
    "status_check",
    "zero_amount_allowed",
    "extended_selection",
    "kernel2",
}
_KERNEL2_KEYS = {
    "floor_limit",
    "no_on_device_cvm_limit",
    "on_device_cvm_limit",
    "cvm_required_limit",
    "tac_default",
    "tac_denial",
    "tac_online",
    "kernel_configuration",
    "cvm_capability_cvm_required",
    "cvm_capability_no_cvm",
}
MAX_AMOUNT = 999_999_999_999  # n12
MAX_FLOOR_LIMIT = 0xFFFF_FFFF  # b4


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, not {type(table).__name__}")
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{where}.{key} is not a known key (expected one of: {', '.join(sorted(allowed))})"
            )


def _hex(where: str, value: Any, sizes: tuple[int, ...]) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ConfigError(f"{where} is not valid hex: {value!r}") from None
    if sizes and len(raw) not in sizes:
        want = " or ".join(str(s) for s in sizes)
        raise ConfigError(f"{where} must be {want} bytes, got {len(raw)}")
    return raw


def _numeric(where: str, value: Any, size: int, example: str) -> bytes:
    """A format-n field (EMV Book 3 4.3: BCD, one decimal digit per nibble) of ``size`` bytes."""
    raw = _hex(where, value, (size,))
    if any(nibble > 9 for b in raw for nibble in (b >> 4, b & 0x0F)):
        raise ConfigError(f"{where} must be decimal digits (format n), e.g. {example!r}")
    return raw


def _aid(where: str, value: Any) -> bytes:
    raw = _hex(where, value, ())
    if not 5 <= len(raw) <= 16:
        raise ConfigError(f"{where} must be 5 to 16 bytes (Book 1 12.2.1), got {len(raw)}")
    return raw


def _amount(where: str, value: Any, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} must be a whole number of minor units")
    if not 0 <= value <= MAX_AMOUNT:
        raise ConfigError(f"{where} must be between 0 and {MAX_AMOUNT}")
    return value


def _floor_limit(where: str, value: Any) -> int | None:
    """Terminal Floor Limit 9F1B is binary, 4 bytes (Book 3 Annex A1)."""
    amount = _amount(where, value)
    if amount is not None and amount > MAX_FLOOR_LIMIT:
        raise ConfigError(f"{where} must be between 0 and {MAX_FLOOR_LIMIT} (9F1B is 4 bytes)")
    return amount


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false")
    return value


def _int(where: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where} must be a whole number from {low} to {high}")
    return value


def _kernel2(where: str, table: Mapping[str, Any]) -> Kernel2Settings:
    _check_keys(where, table, _KERNEL2_KEYS)
    for key in _KERNEL2_KEYS:
        if key not in table:
            raise ConfigError(f"{where}.{key} is missing")

    def amt(key: str) -> int:
        value = _amount(f"{where}.{key}", table[key], optional=False)
        assert value is not None  # noqa: S101 - optional=False never returns None
        return value

    settings = Kernel2Settings(
        floor_limit=amt("floor_limit"),
        no_on_device_cvm_limit=amt("no_on_device_cvm_limit"),
        on_device_cvm_limit=amt("on_device_cvm_limit"),
        cvm_required_limit=amt("cvm_required_limit"),
        tac_default=_hex(f"{where}.tac_default", table["tac_default"], (5,)),
        tac_denial=_hex(f"{where}.tac_denial", table["tac_denial"], (5,)),
        tac_online=_hex(f"{where}.tac_online", table["tac_online"], (5,)),
        kernel_configuration=_hex(
            f"{where}.kernel_configuration", table["kernel_configuration"], (1,)
        ),
        cvm_capability_cvm_required=_hex(
            f"{where}.cvm_capability_cvm_required", table["cvm_capability_cvm_required"], (1,)
        ),
        cvm_capability_no_cvm=_hex(
            f"{where}.cvm_capability_no_cvm", table["cvm_capability_no_cvm"], (1,)
        ),
    )
    if settings.cvm_required_limit > settings.on_device_cvm_limit:
        raise ConfigError(
            f"{where}.cvm_required_limit is above on_device_cvm_limit, so a CVM could never "
            "be required"
        )
    if settings.no_on_device_cvm_limit > settings.on_device_cvm_limit:
        raise ConfigError(
            f"{where}.no_on_device_cvm_limit is above on_device_cvm_limit, but a device that "
            "verified the cardholder must not get a lower limit"
        )
    return settings


def _combination(where: str, table: Mapping[str, Any]) -> Combination:
    _check_keys(where, table, _COMBINATION_KEYS)
    for key in ("aid", "kernel_id", "ttq"):
        if key not in table:
            raise ConfigError(f"{where}.{key} is missing")
    kernel_id = _int(f"{where}.kernel_id", table["kernel_id"], 1, 255)
    types = table.get("transaction_types", ["00"])
    if not isinstance(types, list) or not types:
        raise ConfigError(f'{where}.transaction_types must be a non-empty list like ["00"]')
    parsed_types = tuple(
        _hex(f"{where}.transaction_types[{i}]", t, (1,))[0] for i, t in enumerate(types)
    )
    k2 = None
    if kernel_id == 2:
        if "kernel2" not in table:
            raise ConfigError(f"{where}.kernel2 is missing: kernel 2 needs its reader limits")
        k2 = _kernel2(f"{where}.kernel2", table["kernel2"])
    elif "kernel2" in table:
        raise ConfigError(f"{where}.kernel2 is only allowed when kernel_id is 2")
    combo = Combination(
        aid=_aid(f"{where}.aid", table["aid"]),
        kernel_id=kernel_id,
        ttq=_hex(f"{where}.ttq", table["ttq"], (4,)),
        transaction_types=parsed_types,
        contactless_transaction_limit=_amount(
            f"{where}.contactless_transaction_limit", table.get("contactless_transaction_limit")
        ),
        floor_limit=_amount(f"{where}.floor_limit", table.get("floor_limit")),
        cvm_required_limit=_amount(f"{where}.cvm_required_limit", table.get("cvm_required_limit")),
        status_check=_bool(f"{where}.status_check", table.get("status_check", False)),
        zero_amount_allowed=_bool(
            f"{where}.zero_amount_allowed", table.get("zero_amount_allowed", True)
        ),
        extended_selection=_bool(
            f"{where}.extended_selection", table.get("extended_selection", False)
        ),
        kernel2=k2,
    )
    limit = combo.contactless_transaction_limit
    if limit is not None:
        for key in ("floor_limit", "cvm_required_limit"):
            other = getattr(combo, key)
            if other is not None and other > limit:
                raise ConfigError(
                    f"{where}.{key} ({other}) is above contactless_transaction_limit ({limit})"
                )
    return combo


def parse_config(raw: Mapping[str, Any]) -> ContactlessConfig:
    """Validate a mapping (from JSON or TOML) into a :class:`ContactlessConfig`."""
    _check_keys("contactless", raw, {"terminal", "combinations", "_comment"})
    if "terminal" not in raw:
        raise ConfigError("contactless.terminal is missing")
    term = raw["terminal"]
    _check_keys("contactless.terminal", term, _TERMINAL_KEYS)
    for key in _TERMINAL_KEYS - {"terminal_floor_limit"}:
        if key not in term:
            raise ConfigError(f"contactless.terminal.{key} is missing")
    terminal = TerminalSettings(
        # 9F1A n3 and 9F15 n4, held in 2 BCD bytes each (Book 3 Annex A1)
        country_code=_numeric("contactless.terminal.country_code", term["country_code"], 2, "0276"),
        terminal_type=_int("contactless.terminal.terminal_type", term["terminal_type"], 0x11, 0x36),
        terminal_capabilities=_hex(
            "contactless.terminal.terminal_capabilities", term["terminal_capabilities"], (3,)
        ),
        additional_capabilities=_hex(
            "contactless.terminal.additional_capabilities", term["additional_capabilities"], (5,)
        ),
        merchant_category_code=_numeric(
            "contactless.terminal.merchant_category_code", term["merchant_category_code"], 2, "5411"
        ),
        terminal_floor_limit=_floor_limit(
            "contactless.terminal.terminal_floor_limit", term.get("terminal_floor_limit")
        ),
    )
    combos_raw = raw.get("combinations")
    if not isinstance(combos_raw, list) or not combos_raw:
        raise ConfigError("contactless.combinations must be a non-empty list")
    combos = tuple(
        _combination(f"contactless.combinations[{i}]", c) for i, c in enumerate(combos_raw)
    )
    seen: set[tuple[bytes, int]] = set()
    for i, combo in enumerate(combos):
        pair = (combo.aid, combo.kernel_id)
        if pair in seen:
            raise ConfigError(
                f"contactless.combinations[{i}] repeats AID {combo.aid.hex().upper()} "
                f"with kernel {combo.kernel_id}"
            )
        seen.add(pair)
    return ContactlessConfig(terminal, combos)


@cache
def default_config() -> ContactlessConfig:
    """The packaged demo configuration (``data/default_config.json``)."""
    text = resources.files("emv.contactless.data").joinpath("default_config.json").read_text()
    return parse_config(json.loads(text))
