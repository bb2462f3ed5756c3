"""``pos bench host``: authorisations per second and p50/p99 latency against one host.

The host (and, as the physical limit, a bare length-prefixed echo server on the same kind of
socket) runs in a child process; N client threads in this process each keep one connection and
send pre-built 0200 messages (unique STAN, unique card, genuine ARQC) through the terminal's
own :class:`acquirer_client.link.Connection`.  Figures are printed, never asserted.

The host keeps its ledger in a SQLite file (WAL, ``synchronous=NORMAL``, group commit), as a
real run of ``pos sim host --ledger FILE`` does; ``--memory-ledger`` measures without the file.
Each row is the median of ``--runs`` runs (throughput), with that run's latencies, and the
server's CPU time per request (from ``/proc``, Linux; all its processes, measured once every
client is connected, so TLS handshakes are not in it).  On a shared machine both figures
move with the load of other processes: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from acquirer_client import messages as m
from acquirer_client.framing import FrameDecoder, FramingError, frame
from acquirer_client.link import Connection, LinkConfig, TlsConfig
from hardware_sim.host.config import HostTls
from hardware_sim.host.testcards import luhn_complete, online_request

PROBE_WAIT_SECONDS = 30.0  # clients keep their connections open until the end is measured


class EchoServer:
    """Threaded length-prefixed echo server (same accept/TLS/framing path as the host)."""

    def __init__(self, host: str, port: int, tls: HostTls | None) -> None:
        self._addr = (host, port)
        self._context = tls.context() if tls else None
        self._listener: socket.socket | None = None
        self._stop = threading.Event()

    def start(self) -> tuple[str, int]:
        listener = socket.create_server(self._addr, backlog=256)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        host, port = listener.getsockname()[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None  # noqa: S101 - set by start()
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            decoder = FrameDecoder()
            while data := conn.recv(65536):
                for message in decoder.feed(data):
                    conn.sendall(frame(message))
        except (OSError, ssl.SSLError, FramingError):
            pass
        finally:
            conn.close()


@dataclass(frozen=True)
class BenchRow:
    target: str
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None = None  # server CPU per request, all its processes

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _start_child(
    echo: bool, tls: bool, workers: int = 1, ledger: str | None = None
) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "hardware_sim.host", "--listen", "127.0.0.1:0"]
    cmd += ["--echo"] if echo else ["--workers", str(workers)]
    cmd += [] if tls else ["--plain"]
    cmd += ["--ledger", ledger] if ledger and not echo else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert proc.stdout is not None  # noqa: S101
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError("the benchmark host did not start")
    return proc, int(line.rsplit(":", 1)[1])


def _messages(clients: int, per_client: int, run: int) -> list[list[bytes]]:
    """Unique 0200s: one card per message so issuer velocity rules never kick in."""
    when = datetime.now()
    out: list[list[bytes]] = []
    stan = 1
    for c in range(clients):
        terminal = m.TerminalIdentity(f"B{run:02d}{c:05d}", "BENCH0000000001", "123456")
        batch = []
        for i in range(per_client):
            pan = luhn_complete(f"4761739{run:01d}{c:03d}{i:04d}")
            req = online_request(pan, amount_minor=1000 + 2 * (i % 40), atc=i + 1)
            batch.append(m.encode(m.card_request(req, terminal, stan, when)))
            stan = stan % 999_999 + 1
        out.append(batch)
    return out


def _drive(
    link: LinkConfig,
    batches: list[list[bytes]],
    probe: Callable[[], None] = lambda: None,
    answers: list[bytes] | None = None,
) -> tuple[float, list[float]]:
    """Run the clients; ``probe`` is called once every client is connected (before any is
    let go), and again once every client has its last answer, before any connection closes
    (so the server's per-connection threads are all still alive to be measured).

    Every answer is appended to ``answers`` when given (checked after the timed run)."""
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(batches) + 1)
    go = threading.Event()
    finished = threading.Barrier(len(batches) + 1)
    measured = threading.Event()
    errors: list[BaseException] = []

    def client(batch: list[bytes]) -> None:
        mine: list[float] = []
        conn: Connection | None = None
        try:
            conn = Connection(link)
            conn.exchange(
                m.encode(
                    {"t": "0800", "11": "000001", "7": "0101000000", "41": "WARMUP00", "70": "301"}
                )
            )  # connect + handshake first
        except Exception as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        ready.wait()
        go.wait()
        try:
            for message in batch if conn is not None and not errors else ():
                t0 = time.perf_counter()
                answer = conn.exchange(message)
                mine.append(time.perf_counter() - t0)
                if answers is not None:
                    answers.append(answer)  # list.append is atomic: no lock needed
        except Exception as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        finally:
            with lock:
                latencies.extend(mine)
            finished.wait()
            measured.wait(PROBE_WAIT_SECONDS)
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=client, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    ready.wait()
    probe()
    start = time.perf_counter()
    go.set()
    finished.wait()
    elapsed = time.perf_counter() - start
    probe()
    measured.set()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} benchmark clients failed: {errors[0]}")
    return elapsed, latencies


def _cpu_seconds(pid: int) -> float | None:
    """On-CPU time of ``pid`` and its children (pre-forked workers), every live thread.

    Read from ``/proc/PID/task/TID/schedstat`` (nanoseconds, Linux): the tick-sampled
    utime/stime of ``/proc/PID/stat`` lagged by tens of milliseconds for a process with many
    threads, which is the whole run at 64 clients.
    """
    total = 0
    found = False
    try:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if int(entry.name) != pid and parent != pid:
                continue
            found = found or int(entry.name) == pid
            for task in (entry / "task").iterdir():
                try:
                    total += int((task / "schedstat").read_text().split()[0])
                except (OSError, IndexError, ValueError):
                    continue  # a thread that ended meanwhile
    except OSError:
        return None
    return total / 1e9 if found else None


def _approved_with_arpc(doc: m.IsoDoc) -> bool:
    """DE 39 ``00`` and DE 55 starting with tag 91, 10 bytes: the ARQC was verified."""
    return doc.get("39") == "00" and doc.get("55", "").startswith("910A")


def _one(
    target: str,
    clients: int,
    batches: list[list[bytes]],
    tls: TlsConfig | None,
    workers: int,
    ledger: str | None,
) -> BenchRow:
    proc, port = _start_child(target == "echo", tls is not None, workers, ledger)
    try:
        link = LinkConfig(
            "127.0.0.1",
            port,
            tls=tls,
            plain_tcp=tls is None,
            read_timeout=30,
            overall_timeout=60,
        )
        cpu: list[float | None] = []
        answers: list[bytes] = []
        seconds, lat = _drive(link, batches, lambda: cpu.append(_cpu_seconds(proc.pid)), answers)
    finally:
        proc.terminate()
        proc.wait(10)
    if target == "host":
        refused = sum(1 for a in answers if not _approved_with_arpc(m.decode(a)))
        if refused:
            raise RuntimeError(f"the host did not approve {refused} benchmark requests.")
    lat.sort()
    cpu0, cpu1 = cpu
    cpu_us = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / len(lat) * 1e6
    return BenchRow(
        target,
        clients,
        len(lat),
        seconds,
        statistics.median(lat) * 1000,
        lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        cpu_us,
    )


def run(
    client_counts: Sequence[int] = (1, 16, 64),
    total: int = 8000,
    tls: bool = True,
    workers: int = 1,
    runs: int = 1,
    file_ledger: bool = True,
) -> list[BenchRow]:
    """Echo then host for each client count, ``runs`` times; the median run of each."""
    from hardware_sim.host import test_tls

    terminal_tls: TlsConfig | None = test_tls()[1] if tls else None
    rows: list[BenchRow] = []
    workdir = tempfile.mkdtemp(prefix="pos-bench-host-")
    try:
        serial = 0
        for clients in client_counts:
            per_client = max(1, total // clients)
            for target in ("echo", "host"):
                tries = []
                for _ in range(max(1, runs)):
                    batches = _messages(clients, per_client, serial % 10)
                    ledger = os.path.join(workdir, f"ledger-{serial}.db") if file_ledger else None
                    serial += 1
                    tries.append(_one(target, clients, batches, terminal_tls, workers, ledger))
                tries.sort(key=lambda r: r.per_second)
                rows.append(tries[len(tries) // 2])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def report(rows: list[BenchRow]) -> str:
    lines = [
        f"{'target':6} {'clients':>7} {'req':>6} {'auth/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu us/req':>10}"
    ]
    for r in rows:
        cpu = f"{r.cpu_us:10.0f}" if r.cpu_us is not None else f"{'-':>10}"
        lines.append(
            f"{r.target:6} {r.clients:7d} {r.requests:6d} {r.per_second:9.0f} "
            f"{r.p50_ms:8.2f} {r.p99_ms:8.2f} {cpu}"
        )
    by = {(r.target, r.clients): r for r in rows}
    for clients in sorted({r.clients for r in rows}):
        host, echo = by.get(("host", clients)), by.get(("echo", clients))
        if host and echo and echo.per_second:
            lines.append(
                f"host/echo throughput at {clients} clients: {host.per_second / echo.per_second:.0%}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos bench host")
    parser.add_argument("--clients", default="1,16,64", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=8000, help="requests per run")
    parser.add_argument("--plain", action="store_true", help="plain TCP instead of TLS 1.3")
    parser.add_argument("--workers", type=int, default=1, help="host worker processes")
    parser.add_argument("--runs", type=int, default=3, help="runs per row; the median is shown")
    parser.add_argument(
        "--memory-ledger", action="store_true", help="host ledger in memory instead of a file"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.requests < 1 or args.workers < 1:
        print("bench: --runs, --requests and --workers want positive numbers.", file=sys.stderr)
        return 2
    try:
        counts = [int(c) for c in args.clients.split(",") if c]
        if not counts or min(counts) < 1:
            raise ValueError
    except ValueError:
        print("bench: --clients wants numbers like 1,16,64.", file=sys.stderr)
        return 2
    rows = run(
        counts,
        args.requests,
        tls=not args.plain,
        workers=args.workers,
        runs=args.runs,
        file_ledger=not args.memory_ledger,
    )
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
