"""``pos run [--config FILE] [--demo]``: the cashier's screen.

``--demo`` runs on the embedded simulators (card chosen on screen, host simulator, soft
PIN pad); without it the configured PC/SC reader and host are used.  Textual and the
kernel are imported only when the command runs, so ``pos`` itself stays quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from terminal.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="start the cashier's terminal screen")
    p.add_argument("--config", default=None, help="terminal configuration (TOML)")
    p.add_argument(
        "--demo", action="store_true", help="embedded simulators: simulated cards, host, PIN pad"
    )
    # The same options as terminal.peripherals.wiring.add_arguments, without importing the
    # drivers (and their crypto) every time any 'pos' command starts.
    p.add_argument("--pinpad", metavar="PORT", default=None, help="serial PIN pad")
    p.add_argument(
        "--fingerprint", metavar="PORT", default=None, help="serial fingerprint sensor (R30x)"
    )
    p.add_argument("--finger", default=None, help="demo: simulated sensor with this finger on it")
    p.add_argument("--printer", metavar="SPEC", default=None,
                   help="receipt printer: serial:PORT, /dev/usb/lp0, tcp:HOST[:PORT], file:PATH")  # fmt: skip
    p.set_defaults(handler=run)


def _check_device_options(args: argparse.Namespace) -> None:
    """Refuse a mistyped device option before the screen opens (else the cashier would see
    it later, blamed on another part)."""
    for option, port in (("--pinpad", args.pinpad), ("--fingerprint", args.fingerprint)):
        if port and "://" not in port and not os.path.exists(port):
            raise UsageError(f"{option} {port} does not exist; 'pos readers' lists serial ports")
    if args.finger is not None:
        from terminal.peripherals.wiring import check_finger

        check_finger(args.finger)


def run(args: argparse.Namespace) -> int:
    from terminal.config import load_settings

    settings = load_settings(args.config)
    _check_device_options(args)
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise UsageError("'pos run' needs an interactive terminal; use 'pos pay' for scripts")
    from terminal.tui.app import PosApp
    from terminal.tui.wiring import TerminalSession

    session = TerminalSession(
        settings,
        demo=args.demo,
        pinpad_port=args.pinpad,
        fingerprint_port=args.fingerprint,
        finger=args.finger,
    )
    if args.printer:
        session.printer = args.printer  # read by the receipt and device screens
    app = PosApp(session)
    app.run()
    if app.fatal_error:
        where = f" (details for support in {app.crash_log})" if app.crash_log else ""
        print(f"pos: {app.fatal_error}{where}.", file=sys.stderr)
        return 1
    return 0
