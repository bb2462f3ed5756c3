"""Currencies (ISO 4217, kept as data) and amounts in minor units."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
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


#: Amount, Authorised (Binary), tag 81, is 4 bytes (EMV Book 3 Annex A): the largest amount
#: in minor units the card dialogue can carry, cashback included (9F02 holds the total).
MAX_AMOUNT_MINOR = 0xFFFF_FFFF

#: The keys an amount is typed with (a keypad's other scripts' digits are not amounts here).
ASCII_DIGITS = frozenset("0123456789")

#: Plain ASCII digits with an optional decimal part: no exponent (1e3), no digit separators
#: (1_000), no sign, no other scripts' digits - what a cashier means, nothing Decimal guesses.
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_amount(text: str, cur: Currency) -> int:
    """'12.34' in major units -> 1234 minor units, above zero and within what tag 81 holds."""
    clean = text.strip() if isinstance(text, str) else ""
    if not _AMOUNT.fullmatch(clean):
        if clean.startswith("-") and _AMOUNT.fullmatch(clean[1:]):
            raise UsageError(f"amount '{text}' must be a positive number like 12.34")
        raise UsageError(f"amount '{text}' is not a number: write it like 12.34")
    minor = Decimal(clean) * (10**cur.exponent)
    if minor != minor.to_integral_value():
        raise UsageError(f"amount '{text}' has more than {cur.exponent} decimals for {cur.alpha}")
    if minor == 0:
        raise UsageError(f"amount '{text}' must be above zero")
    if minor > MAX_AMOUNT_MINOR:
        raise UsageError(
            f"amount '{text}' is larger than a card transaction can carry "
            f"(at most {cur.format(MAX_AMOUNT_MINOR)})"
        )
    return int(minor)
