"""Helpers for the peripheral end-to-end tests: run ``pos pay`` in-process, JSON back."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

from terminal.cli import main


def pay(*argv: str) -> tuple[int, dict[str, Any], str]:
    """Run ``pos pay ... --json``; returns (exit code, parsed JSON or {}, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["pay", *argv, "--json"])
    text = out.getvalue().strip()
    return code, (json.loads(text) if text else {}), err.getvalue().strip()
