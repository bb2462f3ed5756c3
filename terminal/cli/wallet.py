"""``pos sim wallet pay REFERENCE`` and ``pos sim wallet serve``: the customer's phone and the
QR payment host, both simulated (TEST infrastructure).

* ``pos sim wallet pay REF [--qr-host HOST:PORT] [--json]`` reads the code by its reference,
  checks it (EMV QRCPS MPM, CRC), and pays the amount it shows;
* ``pos sim wallet serve [--listen HOST:PORT] [--ledger FILE]`` runs the QR host service
  (``hardware_sim.host.qr``) that ``pos qr pay --qr-host`` talks to.

The QR host address defaults to ``POS_QR_HOST`` or 127.0.0.1:8584.  Registered as a device of
the existing ``pos sim`` parser (listed after ``terminal.cli.sim`` in ``COMMAND_MODULES``).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from terminal.cli.sim_devices import _sim_subparsers
from terminal.errors import UsageError, UserFacingError

DEFAULT_QR_HOST = "127.0.0.1:8584"


def register(sub: Any) -> None:
    wallet = _sim_subparsers(sub).add_parser("wallet", help="simulated QR wallet and QR host")
    inner = wallet.add_subparsers(dest="wallet_command", metavar="ACTION")
    inner.required = True
    pay = inner.add_parser("pay", help="pay a merchant-presented QR code by its reference")
    pay.add_argument("reference")
    pay.add_argument("--qr-host", default=None, metavar="HOST:PORT")
    pay.add_argument("--name", default="SIMWALLET", help="wallet name the host records")
    pay.add_argument("--json", action="store_true")
    pay.set_defaults(handler=run_pay)
    serve = inner.add_parser("serve", help="run the QR payment host")
    serve.add_argument("--listen", default=DEFAULT_QR_HOST, help="HOST:PORT (port 0 = any)")
    serve.add_argument("--ledger", default=None, help="share the card host's ledger file")
    serve.set_defaults(handler=run_serve)


def _address(text: str | None) -> tuple[str, int]:
    address = text or os.environ.get("POS_QR_HOST") or DEFAULT_QR_HOST
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--qr-host '{address}' must be HOST:PORT, e.g. {DEFAULT_QR_HOST}")
    return host, int(port)


def run_pay(args: argparse.Namespace) -> int:
    from hardware_sim.wallet import SimWallet, WalletError
    from terminal.money import currency

    host, port = _address(args.qr_host)
    try:
        paid = SimWallet(host, port, args.name[:20]).pay(args.reference)
    except WalletError as exc:
        raise UserFacingError(f"wallet: {exc}") from None
    try:
        shown = f"{paid.amount} {currency(paid.currency_numeric).alpha}"
    except UserFacingError:
        shown = f"{paid.amount} (currency {paid.currency_numeric})"
    if args.json:
        print(json.dumps({"reference": paid.reference, "status": paid.status,
                          "amount": paid.amount, "currency": paid.currency_numeric,
                          "merchant": paid.merchant_name, "auth_code": paid.auth_code}))  # fmt: skip
    else:
        print(f"Paid {shown} to {paid.merchant_name}, {paid.merchant_city} "
              f"(reference {paid.reference}, auth code {paid.auth_code}).")  # fmt: skip
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from hardware_sim.host.qr import main

    argv = ["--listen", args.listen] + (["--ledger", args.ledger] if args.ledger else [])
    return main(argv)
