"""Biometric cardholder verification: CVM codes 08 (finger, offline) and 09 (finger, online).

EMV Book 3 v4.4 Annex C3 (CVM codes 06-0F, from Specification Bulletin 248) and C5 (TVR
biometric bits).  The terminal captures the sample through
:class:`emv.ports.BiometricInterface`, then:

* **offline (08)**: hands the template to the ICC in a VERIFY with odd INS ``21`` whose data
  is an ISO/IEC 7816-11 biometric data template ``7F2E { 81 template }``; P2 = ``0x91``
  (specific reference data, finger).  The template is longer than 255 bytes, so it travels
  with ISO/IEC 7816-4 5.1.1.1 command chaining (CLA ``10`` on every block but the last).
  ``9000`` = match; ``63Cx`` = no match, x tries left; ``6983`` = biometric blocked;
  ``6A88``/``6D00`` = the card holds no finger reference; ``6A80`` = template format refused.
* **online (09)**: the sensor side seals the template for the issuer (the biometric data
  block); it rides in the authorisation (see ``terminal.peripherals.biometric_block``) and
  the CVM Result is "unknown", exactly as for online PIN.

A failure sets its TVR bit and returns None, so the CVM list walk applies b7 of the rule
("apply succeeding CV Rule if this CVM is unsuccessful", Book 3 10.5).
"""

from __future__ import annotations

from emv.apdu import CommandApdu
from emv.kernel.context import KernelTermination, TransactionContext
from emv.ports import (
    BiometricCaptureStatus,
    BiometricInterface,
    BiometricRequest,
    Message,
)
from emv.tlv import encode
from emv.tvr import CvmResult, TvrBit

FINGER_OFFLINE = 0x08
FINGER_ONLINE = 0x09
VERIFY_BIOMETRIC_INS = 0x21
FINGER_REFERENCE_P2 = 0x91
TAG_BIOMETRIC_DATA_TEMPLATE = 0x7F2E
TAG_BIOMETRIC_DATA = 0x81
CHUNK = 0xF8  # largest block under the 255-byte short Lc, kept a multiple of 8
MAX_ATTEMPTS = 3


def biometric_port(ctx: TransactionContext) -> BiometricInterface | None:
    cardholder = ctx.cardholder
    return cardholder if isinstance(cardholder, BiometricInterface) else None


def biometric_supported(ctx: TransactionContext, code: int) -> bool:
    """Terminal side of the capability check: a sensor is wired and does this type."""
    port = biometric_port(ctx)
    return port is not None and code in port.biometric_types()


def verify_commands(template: bytes) -> list[CommandApdu]:
    """The chained VERIFY (INS 21) commands carrying one 7F2E template."""
    data = encode(TAG_BIOMETRIC_DATA_TEMPLATE, encode(TAG_BIOMETRIC_DATA, template))
    blocks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    return [
        CommandApdu(
            0x10 if n < len(blocks) - 1 else 0x00,
            VERIFY_BIOMETRIC_INS,
            0x00,
            FINGER_REFERENCE_P2,
            block,
        )
        for n, block in enumerate(blocks)
    ]


def perform_biometric(ctx: TransactionContext, code: int, supported: bool) -> CvmResult | None:
    """Perform biometric CVM ``code``; None means it failed (its TVR bit is set)."""
    port = biometric_port(ctx)
    if not supported or port is None or code not in (FINGER_OFFLINE, FINGER_ONLINE):
        ctx.tvr.set(TvrBit.BIOMETRIC_TYPE_NOT_SUPPORTED)
        return None
    online = code == FINGER_ONLINE
    params = ctx.params
    attempt = 1
    while True:
        ctx.cardholder.show(Message.PRESENT_FINGER)
        capture = port.capture_biometric(
            BiometricRequest(code, online, params.amount_minor, params.currency_alpha, attempt)
        )
        status = capture.status
        if status is BiometricCaptureStatus.CANCELLED:
            raise KernelTermination("the cardholder cancelled biometric verification")
        if status is BiometricCaptureStatus.TYPE_NOT_SUPPORTED:
            ctx.tvr.set(TvrBit.BIOMETRIC_TYPE_NOT_SUPPORTED)
            return None
        if status is BiometricCaptureStatus.BYPASSED:
            ctx.tvr.set(TvrBit.BIOMETRIC_SUBTYPE_BYPASSED)
            return None
        if status is BiometricCaptureStatus.CAPTURE_FAILED or not (
            capture.sealed_for_issuer if online else capture.template
        ):
            ctx.tvr.set(TvrBit.BIOMETRIC_CAPTURE_FAILED)
            return None
        if online:
            ctx.biometric_block = capture.sealed_for_issuer
            ctx.notes.append("finger biometric sealed for the issuer")
            return CvmResult.UNKNOWN
        outcome = _verify_offline(ctx, capture.template)
        if outcome is not None:
            return outcome if outcome is CvmResult.SUCCESSFUL else None
        attempt += 1
        if attempt > MAX_ATTEMPTS:
            ctx.tvr.set(TvrBit.BIOMETRIC_TRY_LIMIT_EXCEEDED)
            return None
        ctx.cardholder.show(Message.TRY_AGAIN)


def _verify_offline(ctx: TransactionContext, template: bytes) -> CvmResult | None:
    """Send the chained VERIFY; SUCCESSFUL, FAILED (final), or None (try again)."""
    commands = verify_commands(template)
    for command in commands[:-1]:
        chained = ctx.send(command)
        if chained.sw != 0x9000:
            response = chained
            break
    else:
        response = ctx.send(commands[-1])
    if response.ok:
        ctx.tvr.set(TvrBit.BIOMETRIC_PERFORMED_SUCCESSFUL)
        ctx.cardholder.show(Message.PIN_OK)
        return CvmResult.SUCCESSFUL
    if response.sw1 == 0x63 and response.sw2 & 0xF0 == 0xC0:
        if response.sw2 & 0x0F == 0:
            ctx.tvr.set(TvrBit.BIOMETRIC_TRY_LIMIT_EXCEEDED)
            return CvmResult.FAILED
        return None
    if response.sw in (0x6983, 0x6984):
        ctx.tvr.set(TvrBit.BIOMETRIC_TRY_LIMIT_EXCEEDED)
    elif response.sw == 0x6A80:
        ctx.tvr.set(TvrBit.BIOMETRIC_TEMPLATE_FORMAT_NOT_SUPPORTED)
    else:  # 6A88 no reference data, 6D00/6E00 no biometric support on this card
        ctx.tvr.set(TvrBit.BIOMETRIC_TYPE_NOT_SUPPORTED)
    return CvmResult.FAILED
