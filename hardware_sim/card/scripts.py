"""Issuer script commands as the card executes them (EMV Book 3 6.5.1 APPLICATION BLOCK,
6.5.2 APPLICATION UNBLOCK, 6.5.3 CARD BLOCK, 6.5.10 PIN CHANGE/UNBLOCK, and PUT DATA of
card risk parameters), each protected by secure messaging (Book 2 Section 9) as
:mod:`hardware_sim.card.secure_messaging` documents.  A command is only accepted during a
transaction that has produced an application cryptogram (the MAC session key depends on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto import des
from hardware_sim.card import secure_messaging as sm
from hardware_sim.card.pin import parse_format2
from hardware_sim.card.status import (
    SW_CONDITIONS,
    SW_DATA_NOT_FOUND,
    SW_OK,
    SW_SM_INCORRECT,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
)

if TYPE_CHECKING:
    from hardware_sim.card.virtual_card import VirtualCard

SCRIPT_COMMANDS: dict[tuple[int, int], str] = {
    (0x84, 0x1E): "APPLICATION BLOCK",
    (0x84, 0x18): "APPLICATION UNBLOCK",
    (0x84, 0x16): "CARD BLOCK",
    (0x84, 0x24): "PIN CHANGE/UNBLOCK",
    (0x04, 0xDA): "PUT DATA",
}


def execute(card: VirtualCard, apdu: bytes) -> int:
    """Check the MAC and run one script command; return the status word."""
    app = card.current_application()
    t = card.txn
    if app is None or t.first_ac is None or len(t.ac) != 8:
        return SW_CONDITIONS
    mk_smi, mk_smc = sm.card_keys(app.profile.pan, app.profile.psn)
    atc = app.atc.to_bytes(2, "big")
    data = sm.verify_command_mac(sm.session_key(mk_smi, t.ac), apdu, atc, t.ac)
    if data is None:
        return SW_SM_INCORRECT
    ins, p1, p2 = apdu[1], apdu[2], apdu[3]
    if ins == 0x1E:
        app.blocked = True
    elif ins == 0x18:
        app.blocked = False
    elif ins == 0x16:
        card.card_blocked = True
    elif ins == 0x24:
        if p1 != 0x00 or p2 not in (0x00, 0x02):
            return SW_WRONG_P1P2
        if p2 == 0x02:
            if len(data) != 8:
                return SW_WRONG_LENGTH
            new_pin = parse_format2(des.decrypt_ecb(sm.session_key(mk_smc, t.ac), data))
            if new_pin is None:
                return SW_WRONG_DATA
            card.change_pin(new_pin)
        card.pin_try_counter = card.pin_try_limit
    elif ins == 0xDA:
        tag = (p1 << 8) | p2
        if tag not in app.profile.put_data_tags:
            return SW_DATA_NOT_FOUND
        if tag == 0x9F14 and len(data) == 1:
            app.lower_limit = data[0]
        elif tag == 0x9F23 and len(data) == 1:
            app.upper_limit = data[0]
        else:
            return SW_WRONG_DATA
    return SW_OK
