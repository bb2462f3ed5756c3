"""``pos refund AMOUNT --supervisor-pin PIN``: money back to a card (contact kernel, AAC, online).

The supervisor PIN is checked against the salted hash in ``[operators]`` before the card is
read.  The kernel asks the card for an AAC and sends the 0200 with processing code 20 (EMV
Book 3 9.3, ISO 8583:1987 DE 3); the approval is sealed into the batch as a credit.
Exit 0 approved, 1 declined or refused, 2 usage or config error.
"""

from __future__ import annotations

import argparse
from typing import Any

from emv.kernel.context import TransactionType
from terminal.cli.txn_common import (
    add_card_arguments,
    add_link_arguments,
    add_supervisor_argument,
    card_payment,
    print_outcome,
    session,
    supervisor_approval,
)
from terminal.config import load_settings
from terminal.money import currency, parse_amount
from terminal.service import PaymentRequest


def register(sub: Any) -> None:
    p = sub.add_parser("refund", help="refund to a card (needs the supervisor PIN)")
    p.add_argument("amount", help="amount in major units, e.g. 12.34")
    p.add_argument("--currency", default=None, help="ISO 4217 code, alphabetic or numeric")
    add_supervisor_argument(p)
    add_card_arguments(p)
    add_link_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    cur = currency(args.currency) if args.currency else settings.currency
    amount = parse_amount(args.amount, cur)
    approval = supervisor_approval(settings, "refund", args)
    request = PaymentRequest(amount, cur, TransactionType.REFUND)
    with session(args, settings) as sess:
        outcome = card_payment(args, sess, request, approval=approval)
    return print_outcome(args, outcome, "refund")
