"""``pos bench memory``: the command runs real sales and reports its figures (a benchmark:
the figures themselves are printed, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_bench_memory_reports_rss_figures_without_touching_the_journal(tmp_path: Path) -> None:
    env = dict(os.environ, POS_DATA_DIR=str(tmp_path / "real"))
    done = subprocess.run(
        [sys.executable, "-m", "terminal", "bench", "memory", "--sales", "10", "--warmup", "2"]
        + ["--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["sales"] == 10 and figures["warmup"] == 2
    assert sum(figures["outcomes"].values()) == 12
    # Amounts 1.01-1.12: the shipped issuer rules decline only 1.05 (amount suffix 05).
    assert figures["outcomes"] == {"approved": 11, "declined (declined by the issuer (05))": 1}
    # before the first sale (-warm-up), after the warm-up (0), then every tenth of the run
    assert [c["sales"] for c in figures["checkpoints"]] == [-2, 0, *range(1, 11)]
    for point in figures["checkpoints"]:
        assert point["rss_kib"] > 1024 and point["python_blocks"] > 0
        assert point["sqlite_kib"] > 0  # the journal, SAF store and batch page caches
    for key in ("rss_before_kib", "rss_after_warmup_kib", "rss_final_kib", "rss_peak_kib"):
        assert figures[key] > 1024  # KiB read from /proc/self/status
    assert figures["rss_peak_kib"] >= figures["rss_final_kib"]
    assert figures["growth_after_warmup_kib"] == (
        figures["rss_final_kib"] - figures["rss_after_warmup_kib"]
    )
    assert figures["growth_besides_sqlite_kib"] == round(
        figures["growth_after_warmup_kib"] - max(figures["sqlite_growth_after_warmup_kib"], 0)
    )
    assert isinstance(figures["no_growth_after_warmup"], bool)
    assert not (tmp_path / "real").exists()  # the bench journals under a temporary directory


def test_bench_memory_refuses_zero_sales() -> None:
    from terminal.cli import main

    assert main(["bench", "memory", "--sales", "0"]) == 2
