"""``pos card info``: read a card without paying (like emv-tool), masked.

Runs application selection, GET PROCESSING OPTIONS and READ RECORD through the same kernel
modules as a payment, then decodes what a support engineer needs: applications and labels,
masked PAN, expiry, the CVM list in words, the ODA methods the AIP offers, and the PIN try
counter where the card lets GET DATA read it.  No cryptogram is requested.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from emv.apdu import ApduChannel, get_data
from emv.config import default_terminal_config
from emv.kernel import initiate, read_data
from emv.kernel import selection as sel
from emv.kernel.contact import terminal_data
from emv.kernel.context import KernelTermination, TransactionContext, TransactionParameters
from emv.kernel.cvm import parse_cvm_list
from emv.kernel.result import mask_pan
from emv.ports import ApplicationChoice, FixedClock, Message, PinEntry, PinEntryStatus, PinRequest
from terminal.errors import UserFacingError
from terminal.runtime import DeterministicRandom, load_sim_card, open_reader, parse_reader

CVM_NAMES = {
    0x00: "Fail CVM",
    0x01: "Plaintext PIN verified by ICC",
    0x02: "Enciphered PIN verified online",
    0x03: "Plaintext PIN by ICC and signature",
    0x04: "Enciphered PIN verified by ICC",
    0x05: "Enciphered PIN by ICC and signature",
    0x08: "Finger biometric verified offline by ICC",
    0x09: "Finger biometric verified online",
    0x1E: "Signature (paper)",
    0x1F: "No CVM required",
}
CONDITIONS = {
    0x00: "always",
    0x01: "if unattended cash",
    0x02: "if not unattended cash, not manual cash, not cashback",
    0x03: "if terminal supports the CVM",
    0x04: "if manual cash",
    0x05: "if purchase with cashback",
    0x06: "if under X in application currency",
    0x07: "if over X in application currency",
    0x08: "if under Y in application currency",
    0x09: "if over Y in application currency",
}


class _Silent:
    def show(self, message: Message) -> None:
        pass

    def progress(self, phase: str) -> None:
        pass

    def choose_application(self, choices: list[ApplicationChoice]) -> int | None:
        return 0

    def confirm_application(self, choice: ApplicationChoice) -> bool:
        return True

    def request_pin(self, request: PinRequest) -> PinEntry:
        return PinEntry(PinEntryStatus.BYPASSED)

    def set_language(self, preferences: list[str]) -> None:
        pass


def register(sub: Any) -> None:
    card = sub.add_parser("card", help="read a card without paying")
    inner = card.add_subparsers(dest="card_command", metavar="ACTION")
    inner.required = True
    info = inner.add_parser("info", help="applications, masked PAN, CVM list, ODA, PIN tries")
    info.add_argument("--reader", default="sim")
    info.add_argument("--card", default=None, help="simulated card profile (with --reader sim)")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=card_info)


def read_card(transport: Any) -> dict[str, Any]:
    ctx = TransactionContext(
        default_terminal_config(),
        TransactionParameters(0, 978),
        ApduChannel(transport),
        _Silent(),
        None,
        FixedClock(datetime.now()),
        DeterministicRandom(bytes(4)),
    )
    ctx.terminal_data = terminal_data(ctx)
    candidates = sel.build_candidate_list(ctx)
    apps = [
        {"aid": c.aid.hex().upper(), "label": c.label, "priority": c.priority} for c in candidates
    ]
    if not candidates:
        raise KernelTermination("the card has no application this terminal knows")
    sel.final_select(ctx, candidates[0], reuse_fci=False)
    initiate.get_processing_options(ctx)
    read_data.read_application_data(ctx)
    aip = ctx.aip
    oda = [name for bit, name in ((0x40, "SDA"), (0x20, "DDA"), (0x01, "CDA")) if aip[0] & bit]
    cvm_rules = []
    raw_cvm = ctx.card_data.get(0x8E)
    if raw_cvm:
        parsed = parse_cvm_list(raw_cvm)
        for rule in parsed.rules:
            cvm_rules.append(
                f"{CVM_NAMES.get(rule.code, f'CVM {rule.code:02X}')}, "
                f"{CONDITIONS.get(rule.condition, f'condition {rule.condition:02X}')}"
                f"{'; else next rule' if rule.apply_next_on_failure else ''}"
            )
    tries = None
    response = ctx.send(get_data(0x9F17))
    if response.ok and response.data[:3] == b"\x9f\x17\x01":
        tries = response.data[3]
    expiry = ctx.card_data.get(0x5F24, b"").hex()
    return {
        "applications": apps,
        "selected": ctx.card_data.get(0x4F, b"").hex().upper(),
        "label": candidates[0].label,
        "pan_masked": mask_pan(ctx.pan),
        "expiry": f"20{expiry[:2]}-{expiry[2:4]}" if len(expiry) == 6 else "",
        "aip": aip.hex().upper(),
        "oda_methods": oda,
        "cvm_list": cvm_rules,
        "pin_try_counter": tries,
        "language_preference": ctx.card_data.get(0x5F2D, b"").decode("ascii", "replace"),
        "apdu_count": ctx.channel.count,
    }


def card_info(args: argparse.Namespace) -> int:
    reader = parse_reader(args.reader)
    card = load_sim_card(args.card, None) if reader.kind == "sim" else None
    with open_reader(reader, card) as transport:
        try:
            info = read_card(transport)
        except KernelTermination as exc:
            raise UserFacingError(f"cannot read the card: {exc.reason}") from None
    if args.json:
        print(json.dumps(info))
        return 0
    print(
        f"Card {info['pan_masked']}  expires {info['expiry']}  language {info['language_preference']}"
    )
    print("Applications:")
    for app in info["applications"]:
        print(f"  {app['aid']}  {app['label']}  priority {app['priority'] or '-'}")
    print(
        f"AIP {info['aip']}  offline data authentication: {', '.join(info['oda_methods']) or 'none'}"
    )
    print("CVM list:")
    for rule in info["cvm_list"]:
        print(f"  {rule}")
    tries = info["pin_try_counter"]
    print(f"PIN tries left: {tries if tries is not None else 'not readable'}")
    return 0
