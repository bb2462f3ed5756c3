"""Shared test set-up: every test gets its own terminal data directory, and property tests
have no per-example deadline (a GC pause or a busy CI machine is not a failure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("pos", deadline=None)
settings.load_profile("pos")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "pos-data"
    monkeypatch.setenv("POS_DATA_DIR", str(data))
    return data
