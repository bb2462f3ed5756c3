"""``pos bench host``: authorisations per second and p50/p99 latency against one host.

The host (and, as the physical limit, a bare length-prefixed echo server on the same kind of
socket) runs in a child process; N client threads in this process each keep one connection and
send pre-built 0200 messages (unique STAN, unique card, genuine ARQC) through the terminal's
own :class:`acquirer_client.link.Connection`.  Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from acquirer_client import messages as m
from acquirer_client.framing import FrameDecoder, FramingError, frame
from acquirer_client.link import Connection, LinkConfig, TlsConfig
from hardware_sim.host.config import HostTls
from hardware_sim.host.testcards import luhn_complete, online_request


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

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _start_child(echo: bool, tls: bool, workers: int = 1) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "hardware_sim.host", "--listen", "127.0.0.1:0"]
    cmd += ["--echo"] if echo else ["--workers", str(workers)]
    cmd += [] if tls else ["--plain"]
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


def _drive(link: LinkConfig, batches: list[list[bytes]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(batches) + 1)
    errors: list[BaseException] = []

    def client(batch: list[bytes]) -> None:
        conn = Connection(link)
        mine: list[float] = []
        try:
            conn.exchange(
                m.encode(
                    {"t": "0800", "11": "000001", "7": "0101000000", "41": "WARMUP00", "70": "301"}
                )
            )  # connect + handshake first
        except Exception as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        ready.wait()
        try:
            for message in batch:
                t0 = time.perf_counter()
                conn.exchange(message)
                mine.append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} benchmark clients failed: {errors[0]}")
    return elapsed, latencies


def run(
    client_counts: Sequence[int] = (1, 16, 64),
    total: int = 2000,
    tls: bool = True,
    workers: int = 1,
) -> list[BenchRow]:
    from hardware_sim.host import test_tls

    terminal_tls: TlsConfig | None = test_tls()[1] if tls else None
    rows: list[BenchRow] = []
    for run_no, clients in enumerate(client_counts):
        per_client = max(1, total // clients)
        batches = _messages(clients, per_client, run_no)
        for target, echo in (("echo", True), ("host", False)):
            proc, port = _start_child(echo, tls, workers)
            try:
                link = LinkConfig(
                    "127.0.0.1",
                    port,
                    tls=terminal_tls,
                    plain_tcp=not tls,
                    read_timeout=30,
                    overall_timeout=60,
                )
                seconds, lat = _drive(link, batches)
            finally:
                proc.terminate()
                proc.wait(10)
            lat.sort()
            rows.append(
                BenchRow(
                    target,
                    clients,
                    len(lat),
                    seconds,
                    statistics.median(lat) * 1000,
                    lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
                )
            )
    return rows


def report(rows: list[BenchRow]) -> str:
    lines = [f"{'target':6} {'clients':>7} {'req':>6} {'auth/s':>9} {'p50 ms':>8} {'p99 ms':>8}"]
    for r in rows:
        lines.append(
            f"{r.target:6} {r.clients:7d} {r.requests:6d} {r.per_second:9.0f} "
            f"{r.p50_ms:8.2f} {r.p99_ms:8.2f}"
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
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--plain", action="store_true", help="plain TCP instead of TLS 1.3")
    parser.add_argument("--workers", type=int, default=1, help="host worker processes")
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.clients.split(",") if c]
    except ValueError:
        print("bench: --clients wants numbers like 1,16,64.", file=sys.stderr)
        return 2
    print(report(run(counts, args.requests, tls=not args.plain, workers=args.workers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
