"""``pos void STAN --supervisor-pin PIN``: cancel one of today's approvals (ISO 8583 0400).

The 0400 is the one journaled beside the host's approval (no card data); it stays in the
durable reversal store until the host's 0410.  Exit 0 voided, 1 refused or still waiting for
the host (it is retried automatically), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from terminal.cli.txn_common import (
    add_link_arguments,
    add_supervisor_argument,
    session,
    supervisor_approval,
)
from terminal.config import load_settings
from terminal.money import currency


def stan_argument(text: str) -> str:
    """argparse type: a System Trace Audit Number, ISO 8583 DE 11 (n6; 1 to 999999)."""
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 6 and int(text) > 0):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a STAN: it is 1 to 6 digits, e.g. 000123"
        )
    return text


def register(sub: Any) -> None:
    p = sub.add_parser("void", help="void today's approval by STAN (needs the supervisor PIN)")
    p.add_argument("stan", type=stan_argument, help="the transaction's STAN ('pos journal list')")
    add_supervisor_argument(p)
    add_link_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from terminal.transactions import void

    settings = load_settings(args.config)
    approval = supervisor_approval(settings, "void", args)
    with session(args, settings) as sess:
        done = void(sess.journal, sess.batch, sess.client, args.stan, approval)
    if args.json:
        print(json.dumps(done.as_dict()))
    else:
        amount = currency(done.currency).format(done.amount_minor) if done.currency else ""
        if done.status == "voided":
            print(f"VOIDED: {amount}  STAN {done.stan}  transaction {done.txn_id}")
        else:
            print(
                f"VOID PENDING: {amount}  STAN {done.stan}: the host has not answered yet; "
                "the reversal is retried automatically ('pos recover')."
            )
    return 0 if done.status == "voided" else 1
