"""``pos receipt TXN_ID`` (show or print a receipt) and ``pos sim printer`` (a simulated one).

* ``pos receipt TXN_ID [--printer SPEC] [--copy merchant|cardholder] [--json]`` - without
  ``--printer`` the plain-text receipt goes to stdout; with it, ESC/POS goes to the printer
  (``serial:/dev/ttyUSB0``, ``/dev/usb/lp0``, ``usb:VID:PID``, ``tcp:HOST[:PORT]`` or
  ``file:PATH``).  The journal records the print request before the receipt prints.
* ``pos sim printer --pty PATH | --tcp HOST:PORT [--paper-out] [--paper-lines N]`` - an ESC/POS
  printer simulator; each receipt's text is echoed when it is cut.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from hardware_sim.signals import stop_on_signals
from terminal.cli.sim_devices import _sim_subparsers, check_link_path
from terminal.config import load_settings
from terminal.errors import UsageError
from terminal.journal import Journal
from terminal.runtime import journal_path


def register(sub: Any) -> None:
    receipt = sub.add_parser("receipt", help="show or print a transaction's receipt")
    receipt.add_argument("txn_id", metavar="TXN_ID")
    receipt.add_argument("--printer", default=None, metavar="SPEC",
                         help="serial:/dev/ttyUSB0, /dev/usb/lp0, usb:VID:PID, tcp:HOST[:PORT] "
                         "or file:PATH (default: text on stdout)")  # fmt: skip
    receipt.add_argument("--copy", choices=("cardholder", "merchant"), default="cardholder")
    receipt.add_argument("--config", default=None)
    receipt.add_argument("--json", action="store_true")
    receipt.set_defaults(handler=run_receipt)
    printer = _sim_subparsers(sub).add_parser("printer", help="simulated ESC/POS printer")
    where = printer.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", metavar="PATH", help="serial printer: symlink to create")
    where.add_argument("--tcp", metavar="HOST:PORT", help="network printer raw port")
    printer.add_argument("--paper-out", action="store_true", help="start with an empty roll")
    printer.add_argument("--paper-lines", type=int, default=None, metavar="N",
                         help="the roll runs out after N lines")  # fmt: skip
    printer.set_defaults(handler=serve_printer)


def run_receipt(args: argparse.Namespace) -> int:
    from terminal.receipts import print_receipt, receipt_from_journal, render_text

    settings = load_settings(args.config)
    journal = Journal(journal_path(settings))
    try:
        entry = journal.entry(args.txn_id)
        if entry is None:
            raise UsageError(f"no transaction '{args.txn_id}' in the journal; 'pos journal list'")
        if entry.data.get("type") == "batch":
            raise UsageError(
                f"'{args.txn_id}' is a settlement batch, not a transaction; 'pos settle' "
                "reports batches"
            )
        if "completed" not in entry.kinds:
            raise UsageError(
                f"transaction '{args.txn_id}' has not completed ({entry.status}); "
                "run 'pos recover' first"
            )
        receipt = receipt_from_journal(entry, settings.emv, copy=args.copy)
        if args.printer is None:
            text = render_text(receipt, with_qr=not args.json)
            print(json.dumps({"transaction_id": entry.txn_id, "text": text}) if args.json
                  else text, end="" if not args.json else "\n")  # fmt: skip
            return 0
        journal.append(entry.txn_id, "receipt_print_requested", receipt_copy=args.copy)
        kind = print_receipt(receipt, args.printer)
        journal.append(entry.txn_id, "receipt_printed", receipt_copy=args.copy)
    finally:
        journal.close()
    if args.json:
        print(json.dumps({"transaction_id": entry.txn_id, "printed": True, "printer": kind,
                          "copy": args.copy}))  # fmt: skip
    else:
        print(f"Printed the {args.copy} copy of {entry.txn_id} on the {kind} printer.")
    return 0


def serve_printer(args: argparse.Namespace) -> int:
    from hardware_sim.printer import EscPosPrinter, PtyPrinter, TcpPrinter

    firmware = EscPosPrinter(paper=not args.paper_out, paper_lines=args.paper_lines)
    device: PtyPrinter | TcpPrinter
    if args.pty:
        check_link_path(args.pty)
        device = PtyPrinter(firmware, args.pty)
        where = f"pty {args.pty}"
    else:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError("--tcp takes HOST:PORT, e.g. 127.0.0.1:9100")
        device = TcpPrinter(firmware, host, int(port))
        where = "tcp {}:{}".format(*device.address)
    stop = stop_on_signals()
    device.start()
    print(f"ESC/POS printer on {where}; paper {'out' if args.paper_out else 'loaded'}; "
          "Ctrl-C stops", flush=True)  # fmt: skip
    shown = 0
    while not stop.wait(0.1):
        for ticket in firmware.finished[shown:]:
            codes = "".join(f"\n[QR {q.data}]" for q in ticket.qr_codes)
            print(f"{ticket.text}{codes}\n[{ticket.cut} cut]", flush=True)
            shown += 1
    device.stop()
    return 0
