"""``pos sim``: the simulated devices.

* ``pos sim cards`` lists the built-in card profiles;
* ``pos sim card PROFILE --vpcd [HOST:]PORT`` serves a card to pcscd through vpcd;
* ``pos sim card PROFILE --nfc udp:HOST:PORT`` emulates an ISO 14443-4 Type 4A card behind
  nfcpy's UDP driver.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from hardware_sim.signals import stop_on_signals
from terminal.errors import UsageError, UserFacingError


def register(sub: Any) -> None:
    sim = sub.add_parser("sim", help="simulated cards and devices")
    inner = sim.add_subparsers(dest="sim_command", metavar="DEVICE")
    inner.required = True
    cards = inner.add_parser("cards", help="list the built-in card profiles")
    cards.add_argument("--json", action="store_true")
    cards.set_defaults(handler=list_cards)
    card = inner.add_parser("card", help="serve a simulated card to a real driver stack")
    card.add_argument("profile")
    where = card.add_mutually_exclusive_group(required=True)
    where.add_argument("--vpcd", metavar="[HOST:]PORT", help="connect to vsmartcard's vpcd")
    where.add_argument("--nfc", metavar="udp:HOST:PORT", help="nfcpy UDP driver endpoint")
    card.set_defaults(handler=serve_card)
    host = inner.add_parser("host", help="run the acquirer/issuer host simulator")
    host.add_argument("--listen", default="127.0.0.1:8583", help="HOST:PORT (port 0 = any)")
    host.add_argument("--plain", action="store_true", help="plain TCP (local tests only)")
    host.add_argument("--ledger", default=":memory:", help="SQLite ledger file")
    host.add_argument("--rules", default=None, help="issuer rules JSON (default: shipped)")
    host.add_argument("--workers", type=int, default=1)
    host.set_defaults(handler=run_host)


def _profiles() -> list[tuple[str, str, str]]:
    from hardware_sim.card import list_profiles

    rows = [(name, "contact", text) for name, text in list_profiles()]
    try:
        from hardware_sim.contactless import list_contactless_profiles, load_profile

        rows += [
            (n, "contactless", str(load_profile(n).get("description", "")))
            for n in list_contactless_profiles()
        ]
    except ImportError:  # pragma: no cover
        pass
    return rows


def list_cards(args: argparse.Namespace) -> int:
    rows = _profiles()
    if args.json:
        print(json.dumps([{"name": n, "interface": i, "description": d} for n, i, d in rows]))
        return 0
    width = max(len(n) for n, _, _ in rows)
    for name, interface, text in rows:
        print(f"{name:<{width}}  {interface:<11}  {text}")
    return 0


def load_any_card(name: str) -> Any:
    from hardware_sim.card import load_card

    try:
        return load_card(name)
    except KeyError:
        pass
    try:
        from hardware_sim.contactless import load_contactless_card

        return load_contactless_card(name)
    except (ImportError, KeyError):
        names = ", ".join(n for n, _, _ in _profiles())
        raise UsageError(f"unknown card profile '{name}'; known profiles: {names}") from None


def run_host(args: argparse.Namespace) -> int:
    from hardware_sim.host.__main__ import main as host_main

    argv = ["--listen", args.listen, "--ledger", args.ledger, "--workers", str(args.workers)]
    argv += (["--plain"] if args.plain else []) + (["--rules", args.rules] if args.rules else [])
    return host_main(argv)


def serve_card(args: argparse.Namespace) -> int:
    card = load_any_card(args.profile)
    stop = stop_on_signals()
    if args.vpcd:
        host, _, port = args.vpcd.rpartition(":")
        if not port.isdigit():
            raise UsageError("--vpcd takes [HOST:]PORT, e.g. 127.0.0.1:35963")
        from hardware_sim.vpcd import VpcdCardConnector

        connector = VpcdCardConnector(card, host or "127.0.0.1", int(port))
        print(
            f"serving card '{args.profile}' to vpcd at {host or '127.0.0.1'}:{port}; Ctrl-C stops"
        )
        try:
            connector.serve_forever(stop)
        except ConnectionError as exc:
            raise UserFacingError(
                f"cannot reach vpcd at {args.vpcd} ({exc}); start pcscd with the vpcd driver first"
            ) from None
        return 0
    kind, _, rest = args.nfc.partition(":")
    host, _, port = rest.rpartition(":")
    if kind != "udp" or not port.isdigit():
        raise UsageError("--nfc takes udp:HOST:PORT, e.g. udp:localhost:54321")
    from hardware_sim.nfc_card import NfcCardSimError, NfcType4ACard

    try:
        emulator = NfcType4ACard(card, host or "localhost", int(port))
        print(f"card '{args.profile}' waiting in the field at udp:{host}:{port}; Ctrl-C stops")
        emulator.serve_forever(stop)
    except NfcCardSimError as exc:
        raise UserFacingError(f"cannot put the card in the field: {exc}") from None
    return 0
