"""Cardholder messages in the cardholder's language (EMV Book 4 s11.1 and s11.2).

Book 4 s11.1: until the card's Language Preference (tag 5F2D, ISO 639-1 codes, most
preferred first) is known the terminal uses its own default language; afterwards it uses
the first preferred language it supports, else stays in its default.  The message texts
are data: ``terminal/data/messages/<language>.json`` keyed by :class:`emv.ports.Message`
names, with ``index.json`` listing the tables and the aliases from a 5F2D code to a table
(5F2D ``zh`` cannot say simplified or traditional, so it maps to one table).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from emv.ports import Message

_PACKAGE = "terminal.data.messages"


@cache
def _index() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files(_PACKAGE).joinpath("index.json").read_text())
    return data


def default_language() -> str:
    return str(_index()["default"])


def available_languages() -> dict[str, str]:
    """Table name -> the language's own name, e.g. ``{"de": "Deutsch", ...}``."""
    return dict(_index()["languages"])


@cache
def message_table(language: str) -> dict[str, str]:
    """The message texts of one table; a missing table raises KeyError."""
    if language not in available_languages():
        raise KeyError(f"no cardholder message table for language {language!r}")
    text = resources.files(_PACKAGE).joinpath(f"{language}.json").read_text(encoding="utf-8")
    table: dict[str, str] = json.loads(text)
    return table


def resolve_language(preferences: Iterable[str]) -> str | None:
    """The first preference (5F2D order) the terminal has a table for, or None."""
    tables = available_languages()
    aliases: dict[str, str] = _index().get("aliases", {})
    lower = {name.lower(): name for name in tables}
    for code in preferences:
        key = code.strip().lower()
        if key in lower:
            return lower[key]
        if key in aliases:
            return str(aliases[key])
    return None


def translate(message: Message, language: str | None = None) -> str:
    """The text of ``message`` in ``language``, falling back to the default language."""
    for name in (language, default_language()):
        if name and name in available_languages():
            text = message_table(name).get(message.name)
            if text:
                return text
    return message.name.replace("_", " ")


class Translator:
    """Tracks the language for one transaction: default first, then the card's choice."""

    def __init__(self, language: str | None = None) -> None:
        self.language = language or default_language()

    def set_preferences(self, preferences: Iterable[str]) -> str:
        """Apply the card's 5F2D list; returns the language now in use."""
        chosen = resolve_language(preferences)
        if chosen is not None:
            self.language = chosen
        return self.language

    def text(self, message: Message) -> str:
        return translate(message, self.language)
