"""The dependency rules of docs/architecture.md, checked on the source (ast imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"terminal", "emv", "crypto", "acquirer_client", "hardware_sim"}
IO_LIBRARIES = {"textual", "smartcard", "nfc", "serial", "socket", "ssl", "sqlite3"}
ALLOWED = {
    "emv": {"emv", "crypto"},
    "crypto": {"crypto"},
    "acquirer_client": {"acquirer_client", "emv", "crypto"},
    "hardware_sim": {"hardware_sim", "emv", "crypto", "acquirer_client"},
    "terminal": OURS,
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_point_one_way(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        ours = imports_of(path) & OURS
        bad = ours - ALLOWED[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


@pytest.mark.parametrize("package", ["emv", "crypto"])
def test_core_does_no_io(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imports_of(path) & IO_LIBRARIES
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []
