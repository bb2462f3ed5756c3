"""``pos bench kernel``: the contact kernel's own time per transaction, per profile.

For each built-in contact profile, runs N purchases in-process and reports the APDU count
and the median kernel time: the wall time of ``ContactKernel.run`` minus the time spent
inside the simulated card and inside the host round trip (both measured around the port
calls).  A benchmark, not a test: nothing fails when the machine is slow.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime
from typing import Any

from emv.ports import AuthorisationRequest, AuthorisationResponse, FixedClock
from terminal.errors import UsageError


class _TimedTransport:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent = 0.0
        self.count = 0

    def transmit(self, apdu: bytes) -> bytes:
        start = time.perf_counter()
        try:
            return bytes(self.inner.transmit(apdu))
        finally:
            self.spent += time.perf_counter() - start
            self.count += 1


class _TimedAuthoriser:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent = 0.0

    def authorise(self, request: AuthorisationRequest) -> AuthorisationResponse:
        start = time.perf_counter()
        try:
            response: AuthorisationResponse = self.inner.authorise(request)
            return response
        finally:
            self.spent += time.perf_counter() - start


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (runs, requests, workers...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be at least 1")
    return value


def _known_profiles(asked: list[str] | None, known: list[str], kind: str) -> list[str]:
    """The --profile names asked for (all when none), each checked against ``known``."""
    for name in asked or []:
        if name not in known:
            raise UsageError(
                f"unknown {kind} profile '{name}'; {kind} profiles: {', '.join(known)}"
            )
    return asked or known


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmarks (figures, not pass/fail)")
    inner = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    inner.required = True
    kernel = inner.add_parser("kernel", help="contact kernel time per profile, in-process")
    kernel.add_argument("--runs", type=positive_int, default=200)
    kernel.add_argument("--profile", action="append", help="limit to these profiles")
    kernel.add_argument("--json", action="store_true")
    kernel.add_argument(
        "--path",
        default="inprocess",
        choices=["inprocess", "pcsc"],
        help="pcsc: end to end through pyscard, a private pcscd and vpcd",
    )
    kernel.set_defaults(handler=bench_kernel)
    tap = inner.add_parser("tap", help="contactless tap time and the terminal's share")
    tap.add_argument("--runs", type=positive_int, default=200)
    tap.add_argument("--profile", action="append", help="contactless profiles to measure")
    tap.add_argument("--path", default="inprocess", choices=["inprocess", "nfc"])
    tap.add_argument("--json", action="store_true")
    tap.set_defaults(handler=bench_tap)
    from terminal.cli.bench_memory import add_parser as add_memory  # pos bench memory

    add_memory(inner)
    for name, text in (
        ("host", "ISO 8583 authorisations/s and latency vs an echo baseline"),
        ("pcsc", "APDUs/s through pyscard, pcscd and vpcd"),
        ("nfc", "APDUs/s through nfcpy's UDP driver"),
    ):
        p = inner.add_parser(name, help=text)
        if name == "host":
            p.add_argument("--clients", default="1,16,64", help="comma-separated client counts")
            p.add_argument("--requests", type=positive_int, default=8000, help="requests per run")
            p.add_argument("--plain", action="store_true", help="plain TCP instead of TLS 1.3")
            p.add_argument("--workers", type=positive_int, default=1, help="host worker processes")
            p.add_argument(
                "--runs", type=positive_int, default=3, help="runs per row; the median is shown"
            )
            p.add_argument(
                "--memory-ledger",
                action="store_true",
                help="host ledger in memory instead of a file",
            )
        else:
            p.add_argument("--apdus", type=positive_int, default=2000)
        p.set_defaults(handler={"host": bench_host, "pcsc": bench_pcsc, "nfc": bench_nfc}[name])


def bench_kernel(args: argparse.Namespace) -> int:
    from emv.kernel.contact import ContactKernel
    from emv.kernel.context import TransactionParameters
    from hardware_sim.card import list_profiles, load_card
    from hardware_sim.reader import InProcessReader
    from hardware_sim.soft_pinpad import SoftPinPad
    from terminal.cardholder import ScriptedCardholder
    from terminal.config import load_settings
    from terminal.hostlink import open_authoriser
    from terminal.oda import cda_verifier, oda_engine
    from terminal.runtime import DeterministicRandom

    settings = load_settings(None)
    clock = FixedClock(datetime(2026, 11, 24, 10, 30))
    names = _known_profiles(args.profile, [n for n, _ in list_profiles()], "contact card")
    rows = []
    pinpad = SoftPinPad()
    daemon = None
    if args.path == "pcsc":
        from hardware_sim.pcscd import PcscDaemon

        daemon = PcscDaemon("POS Bench", 0)
        daemon.start(timeout=30)
    from hardware_sim.host import HostConfig

    # The benchmark repeats the same cards hundreds of times: lift the issuer's velocity and
    # AML limits so every run measures the approval path, not a velocity decline (65).
    unlimited = HostConfig().with_rules(
        velocity={"window_seconds": 1, "max_count": 10**9, "max_amount_minor": 10**15}
    )
    with open_authoriser(
        settings, "embedded", plain_tcp=True, clock=clock, host_config=unlimited
    ) as client:
        for name in names:
            samples: list[float] = []
            apdus = 0
            outcome = ""
            end_to_end: list[float] = []
            for _ in range(max(args.runs, 1)):
                card = load_card(name)
                slot = None
                if daemon is not None:
                    slot = _PcscSlot(daemon, card)
                    transport = _TimedTransport(slot.reader)
                else:
                    transport = _TimedTransport(InProcessReader(card))
                authoriser = _TimedAuthoriser(client)
                kernel = ContactKernel(
                    settings.emv,
                    ScriptedCardholder(
                        card.test_pin, online_pin_encryptor=pinpad.encrypt_online_pin
                    ),
                    authoriser,
                    clock,
                    DeterministicRandom(bytes.fromhex("1A2B3C4D")),
                    oda_engine=oda_engine(simulated=True),
                    cda_verifier=cda_verifier,
                )
                params = TransactionParameters(999, 978, currency_alpha="EUR")
                start = time.perf_counter()
                result = kernel.run(transport, params)
                total = time.perf_counter() - start
                samples.append((total - transport.spent - authoriser.spent) * 1000)
                end_to_end.append((total - authoriser.spent) * 1000)
                apdus = transport.count
                outcome = result.outcome.value
                if slot is not None:
                    slot.close()
            rows.append(
                {
                    "profile": name,
                    "outcome": outcome,
                    "apdu_count": apdus,
                    "kernel_ms_median": round(statistics.median(samples), 3),
                    "kernel_ms_p90": round(sorted(samples)[int(len(samples) * 0.9) - 1], 3),
                    "card_and_kernel_ms_median": round(statistics.median(end_to_end), 3),
                    "runs": len(samples),
                }
            )
    if daemon is not None:
        daemon.stop()
    if args.json:
        print(json.dumps(rows))
    else:
        print(
            f"{'profile':<18} {'outcome':<9} {'APDUs':>5} {'kernel ms':>10} {'p90 ms':>8} "
            f"{'card+kernel ms':>15}   ({args.path}; medians, host time excluded)"
        )
        for r in rows:
            print(
                f"{r['profile']:<18} {r['outcome']:<9} {r['apdu_count']:>5} "
                f"{r['kernel_ms_median']:>10.3f} {r['kernel_ms_p90']:>8.3f} "
                f"{r['card_and_kernel_ms_median']:>15.3f}"
            )
    return 0


class _PcscSlot:
    """One card in the private pcscd's vpcd slot, opened through pyscard."""

    def __init__(self, daemon: Any, card: Any) -> None:
        from hardware_sim.pcscd import wait_card_presence
        from hardware_sim.vpcd import VpcdCardConnector
        from terminal.readers.pcsc import PcscReader

        self.name = daemon.reader_names[0]
        self.connector = VpcdCardConnector(card, port=daemon.slot_port(0))
        self.connector.insert()
        wait_card_presence(self.name, True, 15)
        self.reader = PcscReader(self.name)
        self.reader.wait_for_card(10)

    def close(self) -> None:
        from hardware_sim.pcscd import wait_card_presence

        self.reader.close()
        self.connector.remove()
        wait_card_presence(self.name, False, 15)


def bench_host(args: argparse.Namespace) -> int:
    from hardware_sim.host.bench import main as host_bench

    argv = ["--clients", args.clients, "--requests", str(args.requests)]
    argv += ["--workers", str(args.workers), "--runs", str(args.runs)]
    argv += ["--plain"] if args.plain else []
    argv += ["--memory-ledger"] if args.memory_ledger else []
    return host_bench(argv)


def bench_pcsc(args: argparse.Namespace) -> int:
    from hardware_sim.pcscd import bench_pcsc as run

    print(f"pyscard -> pcscd -> vpcd -> card: {run(args.apdus):,.0f} APDU/s")
    return 0


def bench_nfc(args: argparse.Namespace) -> int:
    from terminal.readers.nfc import bench_nfc as run

    r = run(args.apdus)
    print(
        f"nfcpy UDP Type 4A: {r.apdus_per_second:,.0f} APDU/s, median {r.median_ms:.3f} ms, "
        f"p95 {r.p95_ms:.3f} ms, activation {r.activation_ms:.1f} ms"
    )
    return 0


def bench_tap(args: argparse.Namespace) -> int:
    from hardware_sim.contactless import list_contactless_profiles
    from hardware_sim.contactless.bench import bench_tap as run

    known = [n for n in list_contactless_profiles() if n != "two_cards"]
    names = _known_profiles(args.profile, known, "contactless card")
    factory = None
    servers: list[Any] = []
    if args.path == "nfc":
        factory = _nfc_factory(servers)
    rows = []
    try:
        for name in names:
            result = run(name, args.runs, transport_factory=factory)
            rows.append(result.__dict__)
    finally:
        for server in servers:
            server.stop()
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'profile':<18} {'outcome':<16} {'APDUs':>5} {'tap ms':>8} {'terminal ms':>12}")
    for r in rows:
        print(
            f"{r['profile']:<18} {r['outcome']:<16} {r['apdu_count']:>5} "
            f"{r['median_tap_ms']:>8.3f} {r['median_terminal_ms']:>12.3f}"
        )
    return 0


def _nfc_factory(servers: list[Any]) -> Any:
    import socket

    from hardware_sim.nfc_card import NfcType4ACard
    from terminal.readers.nfc import NfcReader

    def factory(card: Any) -> Any:
        for server in servers:
            server.stop()
        servers.clear()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = NfcType4ACard(card, "localhost", port)
        server.start()
        servers.append(server)
        reader = NfcReader(f"udp:localhost:{port}")
        reader.wait_for_card(5)
        return reader

    return factory
