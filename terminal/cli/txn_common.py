"""Wiring shared by ``pos refund``, ``pos void``, ``pos preauth``/``complete`` and ``pos settle``:
the journal, the host link (with start-up recovery first), the sealed batch and the service."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from terminal.batch import Batch
from terminal.config import Settings, load_settings
from terminal.datakey import load_or_create
from terminal.errors import UsageError, UserFacingError
from terminal.journal import Journal
from terminal.operators import Approval, authorise
from terminal.runtime import data_dir, journal_path
from terminal.service import PaymentService

PIN_HELP = "the PIN(s) the cardholder types, one per prompt: 1234, or 0000,1234 (wrong, then right)"

#: The longest card wait the terminal accepts (an hour): beyond it a typo, not a wait.
MAX_CARD_WAIT_S = 3600.0


def card_wait_seconds(text: str) -> float:
    """argparse type for --card-timeout: seconds, above zero and at most MAX_CARD_WAIT_S."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 < value <= MAX_CARD_WAIT_S:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"'{text}' must be above 0 and at most {MAX_CARD_WAIT_S:.0f} seconds"
        )
    return value


def pin_attempts(text: str | None) -> list[str] | None:
    """--pin: one PIN or a comma-separated list, one per PIN prompt; each 4 to 12 digits."""
    if text is None:
        return None
    attempts = [part.strip() for part in text.split(",")]
    if not all(p.isascii() and p.isdigit() and 4 <= len(p) <= 12 for p in attempts):
        raise UsageError("--pin must be 4 to 12 digits (or several, comma-separated)")
    return attempts


def add_link_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="embedded | HOST:PORT (default: config)")
    p.add_argument("--plain-tcp", action="store_true", help="no TLS (local tests only)")
    p.add_argument("--config", default=None, help="terminal configuration (TOML)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def add_card_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--card", default=None, help="built-in simulated card ('pos sim cards')")
    p.add_argument("--reader", default="sim", help="sim | pcsc[:NAME] (contact only)")
    p.add_argument("--pin", default=None, help=PIN_HELP)
    p.add_argument("--card-timeout", type=card_wait_seconds, default=15.0,
                   help="seconds to wait for a card")  # fmt: skip
    p.add_argument(
        "--trust-test-keys",
        action="store_true",
        help="accept the simulator's TEST-ONLY CA keys on a real reader (vpcd)",
    )


def add_supervisor_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--supervisor-pin",
        default=None,
        help="supervisor PIN; '-' reads it from stdin; omitted on a terminal: asked without echo",
    )


def supervisor_approval(settings: Settings, action: str, args: argparse.Namespace) -> Approval:
    """Check the supervisor PIN before anything is journaled or sent."""
    pin = args.supervisor_pin
    if pin == "-":
        pin = sys.stdin.readline().strip()
    elif pin is None and sys.stdin.isatty() and settings.operators.supervisor_pin_hash:
        pin = getpass.getpass("Supervisor PIN: ")
    return authorise(settings.operators, action, pin)


def open_batch() -> Batch:
    base = data_dir()
    base.mkdir(parents=True, exist_ok=True)
    return Batch(base / "batch.sqlite", load_or_create(base / "keys" / "data.key"))


@dataclass
class Session:
    settings: Settings
    journal: Journal
    client: Any
    batch: Batch

    def service(self, *, simulated: bool) -> PaymentService:
        from terminal.oda import build_payment_service

        return build_payment_service(
            self.settings, self.journal, self.client, simulated=simulated, batch=self.batch
        )


@contextlib.contextmanager
def session(args: argparse.Namespace, settings: Settings | None = None) -> Iterator[Session]:
    """Journal + host link + batch; start-up recovery runs before anything else."""
    from terminal.hostlink import open_authoriser
    from terminal.recovery import recover

    settings = settings or load_settings(args.config)
    address = args.host or settings.host.address
    if address == "none":
        raise UsageError("this command needs the acquirer host; give --host embedded or HOST:PORT")
    journal = Journal(journal_path(settings))
    batch: Batch | None = None
    try:
        batch = open_batch()
        with open_authoriser(settings, address, plain_tcp=args.plain_tcp) as client:
            if client is None:  # pragma: no cover - 'none' refused above
                raise UserFacingError("this command needs the acquirer host link")
            from terminal.transactions import finish_interrupted

            finish_interrupted(journal, batch, client)
            report = recover(journal, client)
            if report.anything:
                print(f"pos: {report.sentence()}", file=sys.stderr)
            yield Session(settings, journal, client, batch)
    finally:
        if batch is not None:
            batch.close()
        journal.close()


def card_payment(
    args: argparse.Namespace,
    sess: Session,
    request: Any,
    *,
    kind: str = "",
    approval: Approval | None = None,
) -> Any:
    """Run the card through the contact kernel (simulated card or a PC/SC reader)."""
    from hardware_sim.soft_pinpad import SoftPinPad
    from terminal.cardholder import ScriptedCardholder
    from terminal.runtime import load_sim_card, open_reader, parse_reader

    reader = parse_reader(args.reader)
    if reader.kind == "nfc":
        raise UsageError(
            "refunds and pre-authorisations run on the contact kernel: insert the card "
            "(--reader sim or pcsc[:NAME])"
        )
    if reader.kind != "sim" and args.card:
        raise UsageError("--card only applies to --reader sim")
    card = load_sim_card(args.card, None) if reader.kind == "sim" else None
    pin = pin_attempts(args.pin or getattr(card, "test_pin", None))
    pinpad = SoftPinPad()
    cardholder = ScriptedCardholder(pin, online_pin_encryptor=pinpad.encrypt_online_pin)
    service = sess.service(simulated=reader.kind == "sim" or args.trust_test_keys)
    with open_reader(reader, card, timeout=args.card_timeout) as transport:
        return service.pay(request, transport, cardholder, approval=approval, kind=kind)


def print_outcome(args: argparse.Namespace, outcome: Any, kind: str) -> int:
    import json

    from terminal.cli.pay import _human, outcome_json

    if args.json:
        print(json.dumps(outcome_json(outcome, False) | {"type": kind}))
    else:
        print(_human(outcome))
        print(f"  transaction {outcome.txn_id}")
    return 0 if outcome.approved else 1
