"""Currencies (ISO 4217, kept as data) and amounts in minor units."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from terminal.errors import UsageError


@dataclass(frozen=True)
class Currency:
    alpha: str
    numeric: int
    exponent: int
    symbol: str

    def format(self, minor: int) -> str:
        """12.34 EUR style, with the right number of decimals for the currency."""
        if self.exponent == 0:
            return f"{minor:,} {self.alpha}"
        major, rest = divmod(abs(minor), 10**self.exponent)
        sign = "-" if minor < 0 else ""
        return f"{sign}{major:,}.{rest:0{self.exponent}d} {self.alpha}"


@cache
def _table() -> dict[str, Currency]:
    raw = json.loads(resources.files("terminal.data").joinpath("currencies.json").read_text())
    return {
        alpha: Currency(alpha, row[0], row[1], row[2])
        for alpha, row in raw.items()
        if not alpha.startswith("_")
    }


def currency(code: str | int) -> Currency:
    """Look up by alphabetic ('EUR') or numeric ('978' or 978) ISO 4217 code."""
    text = str(code).strip().upper()
    table = _table()
    if text in table:
        return table[text]
    if text.isdigit():
        for entry in table.values():
            if entry.numeric == int(text):
                return entry
    raise UsageError(f"unknown currency '{code}': use an ISO 4217 code such as EUR, USD or 978")


def parse_amount(text: str, cur: Currency) -> int:
    """'12.34' in major units -> 1234 minor units; rejects negatives and extra decimals."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise UsageError(f"amount '{text}' is not a number: write it like 12.34") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"amount '{text}' must be a positive number like 12.34")
    minor = value * (10**cur.exponent)
    if minor != minor.to_integral_value():
        raise UsageError(f"amount '{text}' has more than {cur.exponent} decimals for {cur.alpha}")
    if minor > 999_999_999_999:
        raise UsageError(f"amount '{text}' is larger than a terminal can process")
    return int(minor)
