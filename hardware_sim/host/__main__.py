"""``python -m hardware_sim.host --listen HOST:PORT [--plain] [--echo] [--ledger F] [--rules F]``.

Runs the host simulator (or, with ``--echo``, a bare length-prefixed echo server used as the
benchmark baseline) until interrupted.  Prints ``listening on HOST:PORT`` once ready.
TLS uses the shipped TEST-ONLY certificates unless ``--plain`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from hardware_sim.host import HostConfig, HostSimulator, test_tls
from hardware_sim.host.bench import EchoServer
from hardware_sim.host.config import default_rules
from hardware_sim.host.ledger import Ledger
from hardware_sim.signals import stop_on_signals, wait_for_stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware_sim.host")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 = any)")
    parser.add_argument("--plain", action="store_true", help="plain TCP (local tests only)")
    parser.add_argument("--echo", action="store_true", help="bare echo server (bench baseline)")
    parser.add_argument("--ledger", default=":memory:", help="SQLite ledger file")
    parser.add_argument("--rules", default=None, help="issuer rules JSON (default: shipped)")
    parser.add_argument(
        "--workers", type=int, default=1, help="host processes sharing the port and ledger"
    )
    args = parser.parse_args(argv)
    rules = default_rules()
    if args.rules:
        try:
            rules = json.loads(Path(args.rules).read_text())
        except (OSError, ValueError) as exc:
            print(f"host: cannot read rules file {args.rules} ({exc}).", file=sys.stderr)
            return 2
    host, _, port_text = args.listen.rpartition(":")
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        print(f"host: --listen wants HOST:PORT, not '{args.listen}'.", file=sys.stderr)
        return 2
    tls = None if args.plain else test_tls()[0]
    if args.workers > 1 and not args.echo:
        config = HostConfig(host, int(port_text), tls, rules, ledger_path=args.ledger)
        return _prefork(config, args.workers)
    server: HostSimulator | EchoServer
    if args.echo:
        server = EchoServer(host, int(port_text), tls)
    else:
        config = HostConfig(host, int(port_text), tls, rules, ledger_path=args.ledger)
        try:
            server = HostSimulator(config)
        except sqlite3.Error as exc:
            print(f"host: cannot open ledger {args.ledger} ({exc}).", file=sys.stderr)
            return 2
    stop = stop_on_signals()
    try:
        bound = server.start()
    except OSError as exc:
        print(f"host: cannot listen on {args.listen} ({exc.strerror}).", file=sys.stderr)
        return 2
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    wait_for_stop(stop)
    server.stop()
    return 0


def _worker(config: HostConfig, listener: socket.socket, stop: threading.Event) -> None:
    """One forked host process.  ``stop`` is the parent's event, inherited with its signal
    handlers across the fork: a SIGTERM that arrives at any moment, even before this worker
    got here, is a clean stop (it stays set in the copy)."""
    sim = HostSimulator(config)
    sim.start(listener)
    wait_for_stop(stop)
    sim.stop()
    os._exit(0)


def _prefork(config: HostConfig, workers: int) -> int:
    """Bind once, fork ``workers`` host processes that accept on the same socket and share
    one SQLite ledger file (every request is one ``BEGIN IMMEDIATE`` transaction)."""
    if config.ledger_path == ":memory:":
        config.ledger_path = os.path.join(tempfile.mkdtemp(prefix="host-ledger-"), "ledger.db")
    try:
        listener = socket.create_server((config.host, config.port), backlog=1024)
        Ledger(config.ledger_path).close()  # create the schema once, before the workers
    except (OSError, sqlite3.Error) as exc:
        print(f"host: cannot start ({exc}).", file=sys.stderr)
        return 2
    # Before "listening" and before the forks: a SIGTERM from then on stops the parent
    # cleanly (never the default action, which would orphan the workers), and each worker
    # inherits the same handlers and event.
    stop = stop_on_signals()
    bound = listener.getsockname()
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    children: list[int] = []
    for number in range(workers):
        pid = os.fork()
        if pid == 0:  # worker
            _worker(replace(config, worker=number), listener, stop)
        children.append(pid)
    wait_for_stop(stop)
    _stop_workers(children)
    return 0


def _stop_workers(children: list[int]) -> None:
    """SIGTERM every worker until it has exited.  One signal is not enough: a worker forked an
    instant before may take it before CPython's after-fork set-up, which clears signals
    already tripped, and it would then serve on for ever."""
    running = set(children)
    while running:
        for pid in running:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 0.5
        while running and time.monotonic() < deadline:
            running = {pid for pid in running if os.waitpid(pid, os.WNOHANG)[0] == 0}
            time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
