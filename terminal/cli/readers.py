"""``pos readers``: list PC/SC readers, nfcpy devices, serial ports and I2C buses.

Nothing is opened or probed; run ``pos doctor --pinpad PORT --fingerprint PORT`` to
handshake with a device.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("readers", help="list card readers, NFC devices and serial ports")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from terminal.peripherals.inventory import everything

    rows, notes = everything()
    if args.json:
        print(json.dumps({"devices": [asdict(r) for r in rows], "notes": notes}))
        return 0
    if not rows:
        print("no readers, NFC devices or serial ports found")
    width = max((len(r.path) for r in rows), default=0)
    for row in rows:
        print(f"{row.kind:<6}  {row.path:<{width}}  {row.what}")
    for note in notes:
        print(f"note: {note}")
    return 0
