"""``pos bench memory [--sales 1000]``: resident memory of the terminal over many sales.

Runs ``--warmup`` then ``--sales`` purchases in this process through
:meth:`terminal.service.PaymentService.pay` (the path ``pos pay`` and the cashier app take:
kernel, ODA, journal, ISO 8583 client over TLS 1.3 to the host simulator, reversal/SAF
store), alternating visa_credit (offline enciphered PIN, CDA) and mc_debit (online PIN from
the soft PIN pad, DUKPT); amounts cycle 1.00-9.99, so the shipped issuer rules decline the
ones ending in 05, 51 and 91 and the decline path is measured too.  The host simulator runs in a separate process so that its ledger
is not counted, and everything is written under a temporary ``POS_DATA_DIR``: the real
journal is never touched.

VmRSS is read from ``/proc/self/status`` after a ``gc.collect()``: once before the first
sale, after the warm-up, at ten checkpoints, and at the end; VmHWM gives the peak.  Beside
it, SQLite's own heap (``sqlite3_memory_used``) and Python's allocated block count.  SQLite
page caches fill as the journal, SAF and batch files grow, up to each connection's
``cache_size`` (2 MiB by default), so they are reported apart: "no growth after warm-up"
means the RSS growth *not* explained by SQLite's heap is within ``--tolerance-mb`` and the
Python block count grew by less than 1 %.  A benchmark, not a test: the exit code is 0
whatever the figures.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from terminal.errors import UsageError, UserFacingError

GOAL_MB = 150.0
CARDS = ("visa_credit", "mc_debit")


def add_parser(inner: Any) -> None:
    """Registered from :mod:`terminal.cli.bench` as ``pos bench memory``."""
    p = inner.add_parser("memory", help="resident memory after many in-process sales")
    p.add_argument("--sales", type=int, default=1000, help="measured sales after warm-up")
    p.add_argument("--warmup", type=int, default=100, help="sales before the baseline")
    p.add_argument(
        "--tolerance-mb",
        type=float,
        default=1.0,
        help="RSS growth besides SQLite's page caches still called 'no growth'",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=bench_memory)


def rss_kib(field: str = "VmRSS") -> int:
    """A ``/proc/self/status`` figure in KiB (Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    raise UserFacingError(f"cannot read {field} from /proc/self/status; this needs Linux")


def sqlite_kib() -> int:
    """Heap held by SQLite in this process (page caches of the journal, the SAF store and
    the batch), from ``sqlite3_memory_used()`` of the library Python's sqlite3 uses; -1
    when that library cannot be reached."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        used = lib.sqlite3_memory_used
    except (OSError, AttributeError):
        return -1
    used.restype = ctypes.c_int64
    return int(used()) // 1024


def _measure() -> int:
    gc.collect()
    return rss_kib()


def _checkpoint(sales: int) -> dict[str, int]:
    rss = _measure()
    return {
        "sales": sales,
        "rss_kib": rss,
        "sqlite_kib": sqlite_kib(),
        "python_blocks": sys.getallocatedblocks(),
    }


def _host_rules(path: Path) -> Path:
    """The shipped TEST-ONLY rules with velocity limits lifted: the same two cards buy
    thousands of times in a minute, which the default rules would decline (65)."""
    from hardware_sim.host.config import default_rules

    rules = default_rules()
    rules["velocity"] = {"window_seconds": 1, "max_count": 10**9, "max_amount_minor": 10**15}
    rules["aml"] = {"large_amount_minor": 10**15, "window_seconds": 1, "max_count": 10**9}
    rules["default_balance_minor"] = 10**15
    rules["balances"] = {}
    target = path / "rules.json"
    target.write_text(json.dumps(rules))
    return target


@contextmanager
def _host_process(base: Path) -> Iterator[str]:
    command = [sys.executable, "-m", "terminal", "sim", "host", "--listen", "127.0.0.1:0"]
    command += ["--ledger", str(base / "ledger.sqlite"), "--rules", str(_host_rules(base))]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None  # noqa: S101 - PIPE above
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            err = proc.stderr.read() if proc.stderr else ""
            raise UserFacingError(f"the host simulator did not start ({(line or err).strip()})")
        yield line.removeprefix("listening on ").strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_sales(sales: int, warmup: int, *, progress: Any = None) -> dict[str, Any]:
    """The measurement itself; returns the figures (KiB and per-sale bytes)."""
    from hardware_sim.card import load_card
    from hardware_sim.reader import InProcessReader
    from hardware_sim.soft_pinpad import SoftPinPad
    from terminal.cardholder import ScriptedCardholder
    from terminal.config import load_settings
    from terminal.hostlink import open_authoriser
    from terminal.journal import Journal
    from terminal.runtime import journal_path
    from terminal.service import PaymentRequest
    from terminal.tui.wiring import build_payment_service

    settings = load_settings(None)
    outcomes: dict[str, int] = {}
    checkpoints: list[dict[str, int]] = []
    every = max(1, sales // 10)
    with tempfile.TemporaryDirectory(prefix="pos-bench-memory-") as tmp:
        base = Path(tmp)
        previous = os.environ.get("POS_DATA_DIR")
        os.environ["POS_DATA_DIR"] = str(base / "data")
        try:
            with _host_process(base) as address:
                journal = Journal(journal_path(settings))
                pinpad = SoftPinPad()
                try:
                    with open_authoriser(settings, address) as client:
                        service = build_payment_service(settings, journal, client, simulated=True)
                        start = _checkpoint(-warmup)
                        started = time.perf_counter()
                        for number in range(1, warmup + sales + 1):
                            card = load_card(CARDS[number % len(CARDS)])
                            cardholder = ScriptedCardholder(
                                card.test_pin, online_pin_encryptor=pinpad.encrypt_online_pin
                            )
                            outcome = service.pay(
                                PaymentRequest(100 + number % 900, settings.currency),
                                InProcessReader(card),
                                cardholder,
                            )
                            key = outcome.result.outcome.value
                            if not outcome.approved:
                                key += f" ({outcome.result.reason})"
                            outcomes[key] = outcomes.get(key, 0) + 1
                            if number == warmup:
                                warm = _checkpoint(0)
                                warm_at = time.perf_counter()
                            if number > warmup and (number - warmup) % every == 0:
                                checkpoints.append(_checkpoint(number - warmup))
                                if progress:
                                    progress(checkpoints[-1])
                        if warmup == 0:
                            warm, warm_at = start, started
                        final = _checkpoint(sales)
                        elapsed = time.perf_counter() - warm_at
                finally:
                    journal.close()
        finally:
            if previous is None:
                os.environ.pop("POS_DATA_DIR", None)
            else:
                os.environ["POS_DATA_DIR"] = previous
    growth = final["rss_kib"] - warm["rss_kib"]
    return {
        "sales": sales,
        "warmup": warmup,
        "outcomes": outcomes,
        "rss_before_kib": start["rss_kib"],
        "rss_after_warmup_kib": warm["rss_kib"],
        "rss_final_kib": final["rss_kib"],
        "rss_peak_kib": max(rss_kib("VmHWM"), final["rss_kib"]),  # VmHWM is updated lazily
        "growth_after_warmup_kib": growth,
        "growth_per_sale_bytes": round(growth * 1024 / sales, 1) if sales else 0.0,
        "sqlite_growth_after_warmup_kib": final["sqlite_kib"] - warm["sqlite_kib"],
        "python_blocks_growth_after_warmup": final["python_blocks"] - warm["python_blocks"],
        "checkpoints": [start, warm, *checkpoints],
        "sales_per_second": round(sales / elapsed, 1) if elapsed > 0 else 0.0,
        "goal_mb": GOAL_MB,
    }


def bench_memory(args: argparse.Namespace) -> int:
    if args.sales < 1 or args.warmup < 0:
        raise UsageError("--sales must be at least 1 and --warmup at least 0")

    def progress(point: dict[str, int]) -> None:
        if not args.json:
            print(
                f"  after {point['sales']:>6} sales: VmRSS {point['rss_kib'] / 1024:7.1f} MB, "
                f"SQLite {point['sqlite_kib'] / 1024:5.1f} MB, "
                f"Python blocks {point['python_blocks']:,}",
                flush=True,
            )

    if not args.json:
        print(
            f"{args.warmup} warm-up + {args.sales} sales in-process (visa_credit / mc_debit, "
            "TLS to a host simulator process)..."
        )
    figures = run_sales(args.sales, args.warmup, progress=progress)
    growth_mb = figures["growth_after_warmup_kib"] / 1024
    sqlite_mb = figures["sqlite_growth_after_warmup_kib"] / 1024
    other_mb = growth_mb - max(sqlite_mb, 0.0)
    blocks = figures["checkpoints"][1]["python_blocks"]
    blocks_growth = figures["python_blocks_growth_after_warmup"]
    figures["growth_besides_sqlite_kib"] = round(other_mb * 1024)
    figures["no_growth_after_warmup"] = (
        other_mb <= args.tolerance_mb and blocks_growth < 0.01 * blocks
    )
    figures["under_goal"] = figures["rss_final_kib"] / 1024 < GOAL_MB
    if args.json:
        print(json.dumps(figures))
        return 0
    mb = {k: figures[k] / 1024 for k in figures if k.startswith("rss_") and k.endswith("_kib")}
    verdict = "no growth" if figures["no_growth_after_warmup"] else "GROWING"
    rows = [
        ("VmRSS before the first sale", f"{mb['rss_before_kib']:7.1f} MB"),
        (f"VmRSS after {args.warmup} warm-up sales", f"{mb['rss_after_warmup_kib']:7.1f} MB"),
        (f"VmRSS after {args.sales} more sales", f"{mb['rss_final_kib']:7.1f} MB"),
        ("VmHWM (peak)", f"{mb['rss_peak_kib']:7.1f} MB"),
        (
            "growth after warm-up",
            f"{growth_mb:+7.2f} MB ({figures['growth_per_sale_bytes']:+.0f} bytes per sale)",
        ),
        ("  of it SQLite page caches", f"{sqlite_mb:+7.2f} MB (bounded by cache_size)"),
        (
            "  besides SQLite",
            f"{other_mb:+7.2f} MB, Python blocks {blocks_growth:+,} -> {verdict} "
            f"(tolerance {args.tolerance_mb} MB, 1 % of blocks)",
        ),
        (f"goal: under {GOAL_MB:.0f} MB", "met" if figures["under_goal"] else "NOT met"),
    ]
    for label, value in rows:
        print(f"{label:<32}: {value}")
    print(f"outcomes: {figures['outcomes']}; {figures['sales_per_second']} sales/s")
    return 0
