"""EMV key derivation (EMV Book 2 Annex A1.3 and A1.4)."""

from __future__ import annotations

from crypto import des


def derive_icc_master_key_option_a(issuer_master_key: bytes, pan: str, psn: str = "00") -> bytes:
    """ICC Master Key derivation, Option A (Book 2 A1.4.1).

    Y = rightmost 16 digits of PAN || PSN (left-padded with zeros), as 8 bytes BCD.
    MK = DES3(IMK)[Y] || DES3(IMK)[Y xor FF..FF], with odd parity.
    """
    # Both halves in one two-block ECB call.
    return des.adjust_odd_parity(des.encrypt_ecb(issuer_master_key, option_a_blocks(pan, psn)))


def option_a_blocks(pan: str, psn: str = "00") -> bytes:
    """Y || (Y xor FF..FF), the two blocks option A enciphers under the IMK (Book 2 A1.4.1)."""
    digits = (pan + (psn or "00")).rjust(16, "0")[-16:]
    y = bytes.fromhex(digits)
    return y + des.xor(y, b"\xff" * 8)


def derive_common_session_key(icc_master_key: bytes, atc: bytes) -> bytes:
    """EMV Common Session Key derivation (Book 2 A1.3.1) with R = ATC || 00 00 00 00 00 00.

    SK = DES3(MK)[R with byte 3 = F0] || DES3(MK)[R with byte 3 = 0F].
    """
    if len(atc) != 2:
        raise ValueError("the ATC is 2 bytes")
    blocks = atc + b"\xf0" + bytes(5) + atc + b"\x0f" + bytes(5)
    return des.adjust_odd_parity(des.encrypt_ecb(icc_master_key, blocks))
