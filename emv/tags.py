"""The EMV tag dictionary (Book 3 Annex A1), loaded from ``emv/data/tags.json``.

The table is data, not code: add a tag by adding a row to the JSON file.
Formats follow Book 3 Section 4.3: ``n`` numeric BCD, ``cn`` compressed numeric,
``b`` binary, ``a``/``an``/``ans`` character data, ``var`` template/variable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class TagInfo:
    tag: int
    name: str
    format: str
    min_length: int
    max_length: int
    source: str


@cache
def dictionary() -> dict[int, TagInfo]:
    raw = json.loads(resources.files("emv.data").joinpath("tags.json").read_text("utf-8"))
    return {
        int(tag, 16): TagInfo(
            int(tag, 16), row["name"], row["format"], row["min"], row["max"], row["source"]
        )
        for tag, row in raw.items()
    }


def info(tag: int) -> TagInfo | None:
    return dictionary().get(tag)


def name(tag: int) -> str:
    found = info(tag)
    return found.name if found else "Unknown tag"


def data_format(tag: int) -> str:
    found = info(tag)
    return found.format if found else "b"
