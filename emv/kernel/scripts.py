"""Issuer-to-card script processing (EMV Book 3 Section 10.10, Annex A: 9F5B).

Template 71 scripts run before the final GENERATE AC, template 72 after it.  Each script
may carry a Script Identifier (9F18) and one or more Issuer Script Commands (86).  A
command answered with SW1 other than 90, 62 or 63 stops that script.  Results are 5
bytes per script: (result << 4 | failing command sequence number) || script identifier.
"""

from __future__ import annotations

from emv import tlv
from emv.apdu import Exchange, ResponseApdu
from emv.errors import TlvError
from emv.kernel.context import TransactionContext
from emv.tvr import TsiBit, TvrBit

NOT_PERFORMED, FAILED, SUCCESSFUL = 0x0, 0x1, 0x2


def run_scripts(ctx: TransactionContext, scripts: bytes, template: int) -> None:
    if not scripts:
        return
    try:
        objects = tlv.decode(scripts)
    except TlvError:
        ctx.tvr.set(_failure_bit(template))
        return
    for script in objects:
        if script.tag != template:
            continue
        ctx.tsi.set(TsiBit.SCRIPT_PROCESSING_PERFORMED)
        identifier = bytes(4)
        commands: list[bytes] = []
        for obj in script.children or ():
            if obj.tag == 0x9F18 and len(obj.value) == 4:
                identifier = obj.value
            elif obj.tag == 0x86:
                commands.append(obj.value)
        status, sequence = SUCCESSFUL, 0
        for index, command in enumerate(commands, start=1):
            raw = ctx.channel.transport.transmit(command)
            ctx.channel.trace.append(Exchange(command, bytes(raw)))
            response = ResponseApdu.from_bytes(raw)
            if response.sw1 not in (0x90, 0x62, 0x63):
                status, sequence = FAILED, min(index, 0x0F)
                ctx.tvr.set(_failure_bit(template))
                break
        ctx.script_results += bytes([(status << 4) | sequence]) + identifier


def _failure_bit(template: int) -> TvrBit:
    if template == 0x71:
        return TvrBit.SCRIPT_FAILED_BEFORE_FINAL_GENERATE_AC
    return TvrBit.SCRIPT_FAILED_AFTER_FINAL_GENERATE_AC
