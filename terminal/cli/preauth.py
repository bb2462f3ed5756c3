"""``pos preauth AMOUNT`` (0100 authorisation) and ``pos complete TXN_ID [AMOUNT]`` (0220).

A pre-authorisation reserves the amount (ISO 8583:1987 0100/0110); it is kept sealed in the
batch, outside the totals, until ``pos complete`` sends the completion advice (0220 naming the
0100 in DE 90) for at most the authorised amount.  Exit 0 approved/completed, 1 declined or
refused, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from terminal.cli.txn_common import (
    add_card_arguments,
    add_link_arguments,
    card_payment,
    print_outcome,
    session,
)
from terminal.config import load_settings
from terminal.money import currency, parse_amount
from terminal.service import PaymentRequest


def register(sub: Any) -> None:
    p = sub.add_parser("preauth", help="pre-authorise an amount on a card (ISO 8583 0100)")
    p.add_argument("amount", help="amount in major units, e.g. 50.00")
    p.add_argument("--currency", default=None, help="ISO 4217 code, alphabetic or numeric")
    add_card_arguments(p)
    add_link_arguments(p)
    p.set_defaults(handler=run_preauth)
    c = sub.add_parser("complete", help="complete a pre-authorisation (0220 advice)")
    c.add_argument("txn_id", help="the pre-authorisation's transaction id ('pos journal list')")
    c.add_argument("amount", nargs="?", default=None, help="final amount (default: authorised)")
    add_link_arguments(c)
    c.set_defaults(handler=run_complete)


def run_preauth(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    cur = currency(args.currency) if args.currency else settings.currency
    amount = parse_amount(args.amount, cur)
    with session(args, settings) as sess:
        outcome = card_payment(args, sess, PaymentRequest(amount, cur), kind="preauth")
    return print_outcome(args, outcome, "preauth")


def run_complete(args: argparse.Namespace) -> int:
    from terminal.transactions import complete

    settings = load_settings(args.config)
    with session(args, settings) as sess:
        entry = sess.journal.entry(args.txn_id)
        code = entry.data.get("currency") if entry else None
        # no entry, or one without a currency (a settlement batch): complete() says which
        cur = currency(str(code)) if code else settings.currency
        amount = parse_amount(args.amount, cur) if args.amount is not None else None
        done = complete(sess.journal, sess.batch, sess.client, args.txn_id, amount)
    if args.json:
        print(json.dumps(done.as_dict()))
    else:
        state = "sent to the host" if done.advice == "sent" else "queued for the host"
        print(
            f"COMPLETED: {cur.format(done.amount_minor)} for pre-authorisation "
            f"{done.preauth_txn_id}\n  advice {state}  STAN {done.stan}  "
            f"transaction {done.txn_id}"
        )
    return 0
