"""``pos settle [--json]``: reconcile the batch with the acquirer, close it, print the report.

Totals per currency and card scheme, 0500 per currency, 0320 batch upload when the host
disagrees, batch close (card data destroyed).  Exit 0 closed, 1 out of balance or blocked
(the batch stays open), 2 usage or config error.  ``--json`` prints one object whose
``report`` field is the printable text.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from terminal.cli.txn_common import add_link_arguments, session


def register(sub: Any) -> None:
    p = sub.add_parser("settle", help="close the batch with the acquirer and print the report")
    add_link_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from terminal.settlement import settle_batch

    with session(args) as sess:
        report = settle_batch(sess.journal, sess.batch, sess.client, sess.client.clock.now())
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(report.text())
        print(report.sentence())
    return 0 if report.closed else 1
