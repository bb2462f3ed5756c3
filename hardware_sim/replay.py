"""A replay card: answers recorded responses to commands matching recorded patterns.

File format (JSON, hex case-insensitive, spaces ignored)::

    {"atr": "3B 80 80 01 01",
     "exchanges": [{"command": "00A4040007A0000000031010??", "response": "6F..9000"}, ...]}

A ``command`` pattern is hex where ``??`` stands for any one byte and a trailing ``*`` for
any remaining bytes (zero or more).  Each command gets the response of the first UNUSED
exchange whose pattern matches; when none matches the card answers ``6D00`` and records the
command's hex in :attr:`ReplayCard.mismatches`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SW_NO_MATCH = b"\x6d\x00"
_PATTERN_CHARS = re.compile(r"^(?:[0-9A-F]{2}|\?\?)*\*?$")


class ReplayFileError(ValueError):
    """A replay file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class CommandPattern:
    """A parsed command pattern: per byte a value or None (any), and an open tail flag."""

    bytes_: tuple[int | None, ...]
    open_tail: bool
    text: str

    @classmethod
    def parse(cls, text: str) -> CommandPattern:
        clean = "".join(text.split()).upper()
        if not clean or not _PATTERN_CHARS.match(clean):
            raise ValueError(f"command pattern {text!r} is not hex with ?? and a trailing *")
        open_tail = clean.endswith("*")
        body = clean.rstrip("*")
        values = tuple(
            None if body[i : i + 2] == "??" else int(body[i : i + 2], 16)
            for i in range(0, len(body), 2)
        )
        return cls(values, open_tail, clean)

    def matches(self, command: bytes) -> bool:
        if len(command) < len(self.bytes_):
            return False
        if len(command) > len(self.bytes_) and not self.open_tail:
            return False
        return all(
            want is None or want == got for want, got in zip(self.bytes_, command, strict=False)
        )


def _hex(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise ReplayFileError(f"{where} must be a hex string")
    try:
        return bytes.fromhex("".join(text.split()))
    except ValueError:
        raise ReplayFileError(f"{where} is not valid hex") from None


class ReplayCard:
    """Same duck type as :class:`hardware_sim.card.VirtualCard`: .atr, .power_on, .process."""

    def __init__(self, atr: bytes, exchanges: list[tuple[CommandPattern, bytes]]) -> None:
        self.atr = atr
        self.profile_name = "replay"
        self.test_pin: str | None = None
        self._exchanges = exchanges
        self._used = [False] * len(exchanges)
        self.mismatches: list[str] = []

    @classmethod
    def from_dict(cls, data: Any, source: str = "replay data") -> ReplayCard:
        if not isinstance(data, dict):
            raise ReplayFileError(f"{source}: the top level must be a JSON object")
        atr = _hex(data.get("atr", "3B 80 80 01 01"), f"{source}: field 'atr'")
        if len(atr) < 2:
            raise ReplayFileError(f"{source}: field 'atr' needs at least TS and T0")
        raw = data.get("exchanges")
        if not isinstance(raw, list):
            raise ReplayFileError(f"{source}: field 'exchanges' must be a list")
        exchanges = []
        for i, item in enumerate(raw):
            where = f"{source}: exchanges[{i}]"
            if not isinstance(item, dict) or "command" not in item or "response" not in item:
                raise ReplayFileError(f"{where} needs 'command' and 'response'")
            try:
                pattern = CommandPattern.parse(str(item["command"]))
            except ValueError as exc:
                raise ReplayFileError(f"{where}.command: {exc}") from None
            response = _hex(item["response"], f"{where}.response")
            if len(response) < 2:
                raise ReplayFileError(f"{where}.response lacks the status word SW1 SW2")
            exchanges.append((pattern, response))
        return cls(atr, exchanges)

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayCard:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ReplayFileError(f"cannot read replay file {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReplayFileError(
                f"replay file {path} is not JSON (line {exc.lineno}: {exc.msg})"
            ) from None
        return cls.from_dict(data, f"replay file {path}")

    def power_on(self) -> None:
        """A replay card keeps its used exchanges across resets (the recording goes on)."""

    def process(self, apdu: bytes) -> bytes:
        command = bytes(apdu)
        for i, (pattern, response) in enumerate(self._exchanges):
            if not self._used[i] and pattern.matches(command):
                self._used[i] = True
                return response
        self.mismatches.append(command.hex().upper())
        return SW_NO_MATCH

    @property
    def unused(self) -> int:
        return self._used.count(False)


def replay_from_trace(
    trace: list[dict[str, str]], atr: bytes | str = "3B 80 80 01 01"
) -> dict[str, Any]:
    """Turn a ``pos pay --trace`` list of ``{"command": hex, "response": hex}`` into a replay
    file dict whose commands match exactly (a PIN command's ``??`` bytes match any PIN)."""
    atr_hex = atr.hex().upper() if isinstance(atr, bytes) else "".join(atr.split()).upper()
    exchanges = []
    for i, item in enumerate(trace):
        if not isinstance(item, dict) or "command" not in item or "response" not in item:
            raise ReplayFileError(f"trace entry {i} needs 'command' and 'response'")
        command = "".join(str(item["command"]).split()).upper()
        try:  # hex, or hex with ?? where the trace hid a PIN block's bytes
            CommandPattern.parse(command)
        except ValueError as exc:
            raise ReplayFileError(f"trace entry {i} command: {exc}") from None
        response = _hex(item["response"], f"trace entry {i} response").hex().upper()
        entry = {"command": command, "response": response}
        if "sealed" in item:  # the terminal's sealed copy of a masked response travels along
            entry["sealed"] = str(item["sealed"])
        exchanges.append(entry)
    return {"atr": atr_hex, "exchanges": exchanges}
