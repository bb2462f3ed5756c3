"""APDU traces that never show card data, yet still replay exactly on this terminal.

``pos pay --trace`` prints every exchange.  A response that carries cardholder data — the
PAN (5A), track images (56, 57, 9F6B), discretionary data (9F1F, 9F20) or the cardholder
name (5F20, 9F0B) — is shown with those values masked in place (the PAN keeps its first 6
and last 4 digits, everything else becomes ``FF``/``*``), so the TLV structure stays
readable.  The untouched response travels beside it as ``sealed``: AES-256-GCM under this
terminal's data key (``terminal.datakey``), so ``--card-trace`` can replay the exact bytes on
the terminal that recorded them, and nobody else can read them.

A command that carries a PIN — VERIFY (EMV Book 3 §6.5.12: a plaintext or enciphered PIN
block) and PIN CHANGE/UNBLOCK (Book 3 §6.5.10, INS 24) — keeps its header and Lc, and every
data byte is written ``??``: the replay file's "any byte" (``hardware_sim.replay``), so the
trace still replays and no PIN is ever printed or stored.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from emv import tlv
from emv.errors import TlvError
from terminal.errors import UsageError

# 99: Transaction PIN Data (EMV Book 3 Annex A) - only ever in terminal-built data.
SENSITIVE_TAGS = {0x5A, 0x56, 0x57, 0x9F6B, 0x9F1F, 0x9F20, 0x5F20, 0x9F0B, 0x99}
# INS codes whose command data is a PIN block: VERIFY, PIN CHANGE/UNBLOCK.
PIN_COMMAND_INS = {0x20, 0x24}
_AAD = b"pos-trace-v1"


def _mask_value(tag: int, value: bytes) -> bytes:
    if tag == 0x5A and len(value) >= 6:
        return value[:3] + b"\xff" * (len(value) - 5) + value[-2:]
    if tag in (0x5F20, 0x9F0B):
        return b"*" * len(value)
    return (
        value[:3] + b"\xff" * max(len(value) - 3, 0)
        if tag in (0x57, 0x9F6B)
        else (b"\xff" * len(value))
    )


def sensitive_values(data: bytes) -> list[tuple[int, bytes]]:
    try:
        objects = tlv.decode(data)
    except TlvError:
        return []
    return [(o.tag, o.value) for o in tlv.iter_primitives(objects) if o.tag in SENSITIVE_TAGS]


def mask_response(response: bytes) -> bytes:
    """The response with every cardholder-data value masked in place (same length)."""
    body, sw = response[:-2], response[-2:]
    for tag, value in sensitive_values(body):
        if value:
            body = body.replace(value, _mask_value(tag, value))
    return body + sw


def mask_command(command: bytes) -> str:
    """The command as trace hex; a PIN-carrying command's data bytes become ``??``."""
    if len(command) < 6 or command[1] not in PIN_COMMAND_INS:
        return command.hex()
    lc = command[4]
    if lc == 0 or len(command) < 5 + lc:  # extended or malformed: hide everything after P2
        return command[:4].hex() + "??" * (len(command) - 4)
    return command[:5].hex() + "??" * lc + command[5 + lc :].hex()


def _key() -> bytes:
    from terminal.datakey import load_or_create
    from terminal.runtime import data_dir

    return load_or_create(data_dir() / "keys" / "data.key")


def trace_entries(exchanges: list[Any]) -> list[dict[str, str]]:
    """JSON trace entries: command, masked response, and a sealed copy when masking changed it."""
    out: list[dict[str, str]] = []
    aead: AESGCM | None = None
    for exchange in exchanges:
        response = bytes(exchange.response)
        masked = mask_response(response)
        entry = {"command": mask_command(bytes(exchange.command)), "response": masked.hex()}
        if masked != response:
            aead = aead or AESGCM(_key())
            nonce = os.urandom(12)
            entry["sealed"] = base64.b64encode(nonce + aead.encrypt(nonce, response, _AAD)).decode()
        out.append(entry)
    return out


def unseal_entries(entries: list[dict[str, Any]], source: str = "trace") -> list[dict[str, Any]]:
    """Trace or replay entries with every sealed response opened with this terminal's key."""
    if not any(isinstance(e, dict) and "sealed" in e for e in entries):
        return entries
    aead = AESGCM(_key())
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "sealed" in entry:
            try:
                blob = base64.b64decode(entry["sealed"])
                response = aead.decrypt(blob[:12], blob[12:], _AAD).hex()
            except (ValueError, InvalidTag):
                raise UsageError(
                    f"{source}: exchange {i} was sealed by another terminal (its data key "
                    "differs); record the trace on this terminal"
                ) from None
            entry = {k: v for k, v in entry.items() if k != "sealed"} | {"response": response}
        out.append(entry)
    return out


def unseal_replay(path: str) -> Path | dict[str, Any]:
    """A replay file with sealed responses opened with this terminal's data key."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return Path(path)  # the replay loader reports the problem precisely
    if not isinstance(data, dict) or not isinstance(data.get("exchanges"), list):
        return Path(path)
    if not any(isinstance(e, dict) and "sealed" in e for e in data["exchanges"]):
        return Path(path)
    data["exchanges"] = unseal_entries(data["exchanges"], f"--card-trace file '{path}'")
    return data
