"""Shared test set-up: every test gets its own terminal data directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "pos-data"
    monkeypatch.setenv("POS_DATA_DIR", str(data))
    return data
