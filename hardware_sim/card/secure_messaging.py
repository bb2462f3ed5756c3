"""Secure messaging for issuer script commands (EMV Book 2 Section 9), as this simulator does it.

The scheme, documented so the host simulator can build scripts the card accepts:

* ICC master keys: ``MK_SMI`` / ``MK_SMC`` = Option A derivation (Book 2 A1.4.1) from the
  issuer's TEST-ONLY ``imk_smi`` / ``imk_smc`` with the PAN and PAN Sequence Number.
* Session keys: EMV common session key derivation (Book 2 A1.3.1) with the diversification
  value R = the Application Cryptogram the card returned in the first GENERATE AC of the
  current transaction (8 bytes): ``SK = DES3(MK)[R with byte 3 = F0] || DES3(MK)[R with
  byte 3 = 0F]``.
* MAC (Book 2 9.2.1, format 1 with the command header): ISO 9797-1 MAC algorithm 3,
  padding method 2, 8 bytes, over ``CLA INS P1 P2 Lc || ATC || AC || command data`` where
  Lc counts the command data plus the 8-byte MAC and "command data" is the data as sent
  (enciphered for PIN CHANGE).  The MAC is the last 8 bytes of the command data field.
* Confidentiality (Book 2 9.3.1): the new PIN of PIN CHANGE/UNBLOCK (P2=02) is the 8-byte
  ISO 9564 format 2 PIN block enciphered with TDES-ECB under SK_SMC (one block, no padding).
"""

from __future__ import annotations

import hmac

from crypto import des
from crypto.emv_keys import derive_icc_master_key_option_a
from crypto.mac import retail_mac
from emv import tlv
from hardware_sim.test_keys import issuer_for_pan

MAC_LENGTH = 8


def session_key(icc_master_key: bytes, application_cryptogram: bytes) -> bytes:
    """Book 2 A1.3.1 common session key with R = the application cryptogram."""
    if len(application_cryptogram) != 8:
        raise ValueError("the secure messaging diversification value is the 8-byte AC")
    r = application_cryptogram
    left = des.encrypt_ecb(icc_master_key, r[:2] + b"\xf0" + r[3:])
    right = des.encrypt_ecb(icc_master_key, r[:2] + b"\x0f" + r[3:])
    return des.adjust_odd_parity(left + right)


def card_keys(pan: str, psn: str) -> tuple[bytes, bytes]:
    """(MK_SMI, MK_SMC) of the card; KeyError when the BIN has no test issuer."""
    issuer = issuer_for_pan(pan)
    if issuer is None:
        raise KeyError(f"no test issuer for BIN {pan[:6]}")
    return (
        derive_icc_master_key_option_a(issuer.imk_smi, pan, psn),
        derive_icc_master_key_option_a(issuer.imk_smc, pan, psn),
    )


def command_mac(
    sk_smi: bytes, header: bytes, data: bytes, atc: bytes, application_cryptogram: bytes
) -> bytes:
    """The 8-byte MAC over ``header || Lc || ATC || AC || data``."""
    lc = bytes([len(data) + MAC_LENGTH])
    return retail_mac(sk_smi, header[:4] + lc + atc + application_cryptogram + data)


def verify_command_mac(
    sk_smi: bytes, command: bytes, atc: bytes, application_cryptogram: bytes
) -> bytes | None:
    """Check a case 3 script command; return its plain data field (without MAC) or None."""
    if len(command) < 5 + MAC_LENGTH or command[4] != len(command) - 5:
        return None
    body = command[5:]
    data, mac = body[:-MAC_LENGTH], body[-MAC_LENGTH:]
    expected = command_mac(sk_smi, command[:4], data, atc, application_cryptogram)
    return data if hmac.compare_digest(mac, expected) else None


def script_command(
    pan: str,
    psn: str,
    atc: bytes,
    application_cryptogram: bytes,
    header: bytes,
    data: bytes = b"",
    *,
    new_pin_block: bytes | None = None,
) -> bytes:
    """Build one MACed issuer script command (the value of a tag 86), as the issuer does.

    ``header`` is CLA INS P1 P2, e.g. ``84 1E 00 00`` (APPLICATION BLOCK).  For PIN
    CHANGE/UNBLOCK with a new PIN pass its format 2 PIN block as ``new_pin_block``.
    """
    mk_smi, mk_smc = card_keys(pan, psn)
    if new_pin_block is not None:
        data = des.encrypt_ecb(session_key(mk_smc, application_cryptogram), new_pin_block)
    mac = command_mac(
        session_key(mk_smi, application_cryptogram), header, data, atc, application_cryptogram
    )
    return header[:4] + bytes([len(data) + MAC_LENGTH]) + data + mac


def issuer_script(commands: list[bytes], *, template: int = 0x72, script_id: bytes = b"") -> bytes:
    """An Issuer Script Template (71 before / 72 after the final GENERATE AC, Book 3 10.10):
    optional Script Identifier 9F18, then one 86 per command."""
    if template not in (0x71, 0x72):
        raise ValueError("issuer scripts use template 71 or 72")
    body = tlv.encode(0x9F18, script_id) if script_id else b""
    body += b"".join(tlv.encode(0x86, c) for c in commands)
    return tlv.encode(template, body)
