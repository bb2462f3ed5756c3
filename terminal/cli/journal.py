"""``pos journal list|show|verify`` and ``pos recover``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from terminal.config import load_settings
from terminal.errors import UsageError, UserFacingError
from terminal.journal import Journal
from terminal.runtime import journal_path


def register(sub: Any) -> None:
    journal = sub.add_parser("journal", help="today's transactions and the tamper check")
    journal.add_argument("--config", default=None)
    inner = journal.add_subparsers(dest="journal_command", metavar="ACTION")
    inner.required = True
    listing = inner.add_parser("list", help="every transaction with its status")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_entries)
    show = inner.add_parser("show", help="one transaction")
    show.add_argument("txn_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_entry)
    verify = inner.add_parser("verify", help="check the hash chain")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=verify_chain)
    recover = sub.add_parser("recover", help="run start-up recovery alone and report")
    recover.add_argument("--config", default=None)
    recover.add_argument("--host", default=None)
    recover.add_argument("--plain-tcp", action="store_true")
    recover.add_argument("--json", action="store_true")
    recover.set_defaults(handler=run_recover)


def _open(args: argparse.Namespace) -> Journal:
    return Journal(journal_path(load_settings(args.config)))


def _row(entry: Any) -> dict[str, Any]:
    d = entry.data
    return {
        "transaction_id": entry.txn_id,
        "time": entry.started_at,
        "status": entry.status,
        "type": d.get("type", ""),
        "interface": d.get("interface", ""),
        "amount": d.get("amount", 0),
        "currency": d.get("currency", ""),
        "pan_masked": d.get("pan_masked", ""),
        "stan": d.get("stan", ""),
        "auth_code": d.get("auth_code", ""),
        "reason": d.get("reason", ""),
    }


def list_entries(args: argparse.Namespace) -> int:
    journal = _open(args)
    try:
        rows = [_row(e) for e in journal.entries()]
    finally:
        journal.close()
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(
            f"{r['time'][:19]}  {r['transaction_id']}  {r['status']:<17} "
            f"{r['amount']:>10} {r['currency']:<3}  {r['pan_masked'] or '-':<16}  "
            f"STAN {r['stan'] or '-'}"
        )
    if not rows:
        print("The journal is empty.")
    return 0


def show_entry(args: argparse.Namespace) -> int:
    journal = _open(args)
    try:
        entry = journal.entry(args.txn_id)
    finally:
        journal.close()
    if entry is None:
        raise UsageError(f"no transaction '{args.txn_id}' in the journal; 'pos journal list'")
    row = _row(entry) | {"events": entry.kinds, "details": entry.data}
    print(json.dumps(row, indent=None if args.json else 2))
    return 0


def verify_chain(args: argparse.Namespace) -> int:
    journal = _open(args)
    try:
        ok, bad, count = journal.verify()
    finally:
        journal.close()
    if args.json:
        print(json.dumps({"intact": ok, "first_bad_seq": bad, "rows": count}))
    elif ok:
        print(f"Journal intact: {count} records, hash chain verified.")
    else:
        print(f"Journal TAMPERED: record {bad} does not match the hash chain.")
    return 0 if ok else 1


def run_recover(args: argparse.Namespace) -> int:
    from terminal.hostlink import open_authoriser
    from terminal.recovery import start_up

    settings = load_settings(args.config)
    journal = Journal(journal_path(settings))
    try:
        with open_authoriser(
            settings, args.host or settings.host.address, plain_tcp=args.plain_tcp
        ) as client:
            if client is None:
                raise UserFacingError("recovery needs a host link; set [host] address")
            report = start_up(journal, client)
    finally:
        journal.close()
    print(json.dumps(report.as_dict()) if args.json else report.sentence())
    return 0 if not report.reversals_pending else 1
