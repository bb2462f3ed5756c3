"""``pos pay AMOUNT``: run one transaction headless and exit (the command-line contract).

Exit 0 approved, 1 declined or aborted, 2 usage or config error.  ``--json`` prints one
JSON object; ``--trace`` adds every APDU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from emv.kernel.context import TransactionType
from terminal.cardholder import ScriptedCardholder
from terminal.cli.txn_common import PIN_HELP, card_wait_seconds, pin_attempts
from terminal.config import load_settings
from terminal.errors import UsageError
from terminal.journal import Journal
from terminal.money import MAX_AMOUNT_MINOR, currency, parse_amount
from terminal.peripherals import wiring as peripherals
from terminal.runtime import (
    journal_path,
    load_sim_card,
    make_clock,
    make_random,
    open_reader,
    parse_reader,
)
from terminal.service import PaymentOutcome, PaymentRequest


def register(sub: Any) -> None:
    p = sub.add_parser("pay", help="run one transaction headless and exit")
    p.add_argument("amount", help="amount in major units, e.g. 12.34")
    p.add_argument("--currency", default=None, help="ISO 4217 code, alphabetic or numeric")
    p.add_argument("--type", default="purchase", choices=["purchase", "refund", "cashback", "cash"])
    p.add_argument("--cashback", default=None, help="cashback amount (with --type cashback)")
    p.add_argument("--card", default=None, help="built-in simulated card ('pos sim cards')")
    p.add_argument("--card-trace", default=None, help="replay card JSON file")
    p.add_argument("--reader", default="sim", help="sim | pcsc[:NAME] | nfc[:DEVICE]")
    p.add_argument("--interface", default="contact", choices=["contact", "contactless"])
    p.add_argument("--host", default=None, help="embedded | HOST:PORT")
    p.add_argument("--plain-tcp", action="store_true", help="no TLS (local tests only)")
    p.add_argument("--pin", default=None, help=PIN_HELP)
    p.add_argument("--no-pin", action="store_true", help="the cardholder bypasses PIN entry")
    p.add_argument("--finger", default=None, help="finger id for simulated biometric entry")
    p.add_argument("--app", type=application_index, default=0,
                   help="application index the cardholder picks (0 = first)")  # fmt: skip
    p.add_argument("--card-timeout", type=card_wait_seconds, default=15.0,
                   help="seconds to wait for a card")  # fmt: skip
    p.add_argument("--force-online", action="store_true")
    p.add_argument(
        "--trust-test-keys",
        action="store_true",
        help="accept the simulator's TEST-ONLY CA keys on a real reader (vpcd, nfcpy UDP)",
    )
    p.add_argument("--config", default=None, help="terminal configuration (TOML)")
    p.add_argument("--txn-datetime", default=None, help="ISO 8601 transaction date/time")
    p.add_argument("--unpredictable-number", default=None, help="8 hex digits")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--trace", action="store_true", help="include every APDU in the JSON")
    peripherals.add_arguments(p)
    p.set_defaults(handler=run)


def outcome_json(outcome: PaymentOutcome, trace: bool) -> dict[str, Any]:
    r = outcome.result
    response = r.host_response
    out: dict[str, Any] = {
        "outcome": r.outcome.value,
        "reason": r.reason,
        "interface": r.interface,
        "aid": r.aid,
        "application_label": r.application_label,
        "pan_masked": r.pan_masked,
        "tvr": r.tvr,
        "tsi": r.tsi,
        "cvm_results": r.cvm_results,
        "cvm": r.cvm_description,
        "cryptogram_type": r.cryptogram_type,
        "authorisation_response_code": r.authorisation_response_code,
        "response_code": response.response_code if response else "",
        "auth_code": response.auth_code if response else "",
        "stan": outcome.stan,
        "rrn": response.rrn if response else "",
        "amount": outcome.request.amount_minor,
        "currency": outcome.request.currency.alpha,
        "apdu_count": len(r.apdus),
        "duration_ms": round(outcome.duration_ms, 3),
        "issuer_script_results": r.issuer_script_results,
        "reversal": outcome.reversal,
        "transaction_id": outcome.txn_id,
    }
    if trace:
        from terminal.trace import trace_entries

        out["apdus"] = trace_entries(r.apdus)
    return out


def _human(outcome: PaymentOutcome) -> str:
    r = outcome.result
    amount = outcome.request.currency.format(outcome.request.amount_minor)
    lines = [
        f"{r.outcome.value.upper()}: {amount}",
        f"  {r.reason}",
        f"  card {r.pan_masked or '-'}  {r.application_label} ({r.aid or '-'})",
        f"  TVR {r.tvr}  TSI {r.tsi}  CVM {r.cvm_results} ({r.cvm_description or '-'})",
    ]
    if r.host_response:
        lines.append(
            f"  host {r.host_response.response_code} auth {r.host_response.auth_code or '-'}"
            f"  STAN {outcome.stan}"
        )
        if not r.host_response.approved:
            from terminal.tui.plain_words import explain_response_code

            lines.insert(1, f"  {explain_response_code(r.host_response.response_code)}")
    if outcome.reversal:
        lines.append(f"  reversal {outcome.reversal}")
    return "\n".join(lines)


def application_index(text: str) -> int:
    """argparse type for --app: 0 for the first application the card offers, 1 the second..."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' is not an application number (0, 1, 2...)")
    return int(text)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    cur = currency(args.currency) if args.currency else settings.currency
    amount = parse_amount(args.amount, cur)
    kind = TransactionType.from_name(args.type)
    if kind is TransactionType.REFUND:
        raise UsageError("a refund needs the supervisor PIN; use 'pos refund'")
    if (kind is TransactionType.CASHBACK) != (args.cashback is not None):
        raise UsageError("--type cashback and --cashback AMOUNT go together")
    other = parse_amount(args.cashback, cur) if args.cashback is not None else 0
    if amount + other > MAX_AMOUNT_MINOR:  # Amount, Authorised carries the cashback too
        raise UsageError(
            f"amount and cashback together exceed what a card transaction can carry "
            f"(at most {cur.format(MAX_AMOUNT_MINOR)})"
        )
    if args.trace and not args.json:
        raise UsageError("--trace goes with --json")
    reader = parse_reader(args.reader)
    if reader.kind != "sim" and (args.card or args.card_trace):
        raise UsageError("--card and --card-trace only apply to --reader sim")
    interface = "contactless" if reader.kind == "nfc" else args.interface
    if interface == "contactless" and args.card_trace:
        raise UsageError("--card-trace replays contact cards; use --interface contact")
    card = load_sim_card(args.card, args.card_trace, interface) if reader.kind == "sim" else None
    clock = make_clock(args.txn_datetime)
    random = make_random(args.unpredictable_number)
    # A simulated cardholder knows the card's PIN (TEST-ONLY); contactless test cards use the
    # host simulator's default PIN.
    default_pin = getattr(card, "test_pin", None) or (
        "1234" if interface == "contactless" else None
    )
    pin = None if args.no_pin else pin_attempts(args.pin or default_pin)

    from hardware_sim.soft_pinpad import SoftPinPad

    pinpad = SoftPinPad()
    cardholder = ScriptedCardholder(
        pin, application_index=args.app, online_pin_encryptor=pinpad.encrypt_online_pin
    )
    address = args.host or settings.host.address
    test_keys = reader.kind == "sim" or args.trust_test_keys
    journal = Journal(journal_path(settings))
    try:
        with contextlib.ExitStack() as stack:
            from terminal.hostlink import open_authoriser

            authoriser = stack.enter_context(
                open_authoriser(settings, address, plain_tcp=args.plain_tcp, clock=clock)
            )
            cardholder, authoriser, settings = peripherals.attach(
                args, stack, cardholder, authoriser, settings
            )
            from terminal.oda import build_payment_service
            from terminal.recovery import start_up

            if authoriser is not None:
                report = start_up(journal, authoriser)
                if report.anything:
                    print(f"pos: {report.sentence()}", file=sys.stderr)

            service = build_payment_service(
                settings, journal, authoriser, simulated=test_keys, clock=clock, random=random
            )
            transport = stack.enter_context(
                open_reader(reader, card, interface=interface, timeout=args.card_timeout)
            )
            request = PaymentRequest(amount, cur, kind, other, args.force_online)
            if interface == "contactless":
                from terminal.contactless import tap_and_pay
                from terminal.oda import stores

                capks, revocation = stores(test_keys, settings.capk_file, settings.revocation_file)
                outcome = tap_and_pay(
                    service, request, transport, cardholder, capks=capks, revocation=revocation
                )
            else:
                outcome = service.pay(request, transport, cardholder, interface=interface)
    finally:
        journal.close()
    if args.json:
        print(json.dumps(outcome_json(outcome, args.trace)))
    else:
        print(_human(outcome))
    mismatches = getattr(card, "mismatches", None)
    if mismatches:
        print(
            f"pos: the replay card had no answer for {len(mismatches)} command(s)", file=sys.stderr
        )
    return 0 if outcome.approved else 1
