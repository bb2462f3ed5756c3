"""The ISO 8583:1987 field specification spoken between the terminal and the acquirer host.

Version: **ISO 8583:1987** (MTI version digit ``0``).  Encoding: ASCII for the MTI and all
numeric/alphanumeric fields, binary for the bitmaps, DE 52 (PIN block), DE 53 (KSN), DE 55
(ICC data, BER-TLV per EMV Book 3 Annex B) and the MACs DE 64/128.  Variable lengths carry an
ASCII length prefix (LL / LLL) counting characters, or bytes for binary fields.

Deviations from the 1987 table, documented in ``docs/iso8583.md``:

* DE 52 is binary LLVAR (8 bytes for an ISO 9564 format 0 block under TDES, 16 bytes for
  a format 4 block under AES) instead of the 1987 fixed b64;
* DE 53 carries the DUKPT Key Serial Number as binary LLVAR (10 bytes TDES, 12 bytes AES)
  instead of the 1987 fixed n16;
* DE 55 is the 1993 "ICC system related data" (binary LLLVAR up to 255 bytes) - in 1987 it
  was reserved for ISO use; every acquirer spec based on 1987 uses it this way.

The spec is data for pyiso8583 (``iso8583.encode``/``iso8583.decode``).
"""

from __future__ import annotations

from typing import Any


def _fixed(length: int, desc: str, enc: str = "ascii") -> dict[str, Any]:
    return {"data_enc": enc, "len_enc": "ascii", "len_type": 0, "max_len": length, "desc": desc}


def _var(prefix: int, max_len: int, desc: str, enc: str = "ascii") -> dict[str, Any]:
    return {
        "data_enc": enc,
        "len_enc": "ascii",
        "len_type": prefix,
        "max_len": max_len,
        "desc": desc,
    }


SPEC: dict[str, dict[str, Any]] = {
    "h": _fixed(0, "Message Header"),
    "t": _fixed(4, "Message Type Indicator"),
    "p": _fixed(8, "Bitmap, Primary", "b"),
    "1": _fixed(8, "Bitmap, Secondary", "b"),
    "2": _var(2, 19, "Primary Account Number"),
    "3": _fixed(6, "Processing Code"),
    "4": _fixed(12, "Amount, Transaction"),
    "7": _fixed(10, "Transmission Date and Time (MMDDhhmmss)"),
    "11": _fixed(6, "System Trace Audit Number"),
    "12": _fixed(6, "Time, Local Transaction (hhmmss)"),
    "13": _fixed(4, "Date, Local Transaction (MMDD)"),
    "14": _fixed(4, "Date, Expiration (YYMM)"),
    "15": _fixed(4, "Date, Settlement (MMDD)"),
    "22": _fixed(3, "Point of Service Entry Mode"),
    "23": _fixed(3, "Card Sequence Number"),
    "25": _fixed(2, "Point of Service Condition Code"),
    "32": _var(2, 11, "Acquiring Institution Identification Code"),
    "35": _var(2, 37, "Track 2 Data"),
    "37": _fixed(12, "Retrieval Reference Number"),
    "38": _fixed(6, "Authorisation Identification Response"),
    "39": _fixed(2, "Response Code"),
    "41": _fixed(8, "Card Acceptor Terminal Identification"),
    "42": _fixed(15, "Card Acceptor Identification Code"),
    "44": _var(2, 25, "Additional Response Data"),
    "49": _fixed(3, "Currency Code, Transaction"),
    "52": _var(2, 16, "Personal Identification Number Data", "b"),
    "53": _var(2, 48, "Security Related Control Information (DUKPT KSN)", "b"),
    "54": _var(3, 120, "Additional Amounts"),
    "55": _var(3, 255, "ICC System Related Data (BER-TLV)", "b"),
    "60": _var(3, 999, "Reserved Private (batch number)"),
    "62": _var(3, 999, "Reserved Private (sealed biometric data block, finger CVM 09)", "b"),
    "64": _fixed(8, "Message Authentication Code", "b"),
    "66": _fixed(1, "Settlement Code"),
    "70": _fixed(3, "Network Management Information Code"),
    "74": _fixed(10, "Credits, Number"),
    "75": _fixed(10, "Credits Reversal, Number"),
    "76": _fixed(10, "Debits, Number"),
    "77": _fixed(10, "Debits Reversal, Number"),
    "86": _fixed(16, "Credits, Amount"),
    "87": _fixed(16, "Credits Reversal, Amount"),
    "88": _fixed(16, "Debits, Amount"),
    "89": _fixed(16, "Debits Reversal, Amount"),
    "90": _fixed(42, "Original Data Elements"),
    "97": _fixed(17, "Amount, Net Settlement (C/D + n16)"),
    "128": _fixed(8, "Message Authentication Code", "b"),
}

# Fields a message may carry.  Anything else in a received message is rejected.
KNOWN_FIELDS = frozenset(SPEC)

# Numeric-only fields: validated on both encode and decode.
NUMERIC_FIELDS = frozenset(
    {"2", "3", "4", "7", "11", "12", "13", "14", "15", "22", "23", "25", "32", "49", "66", "70"}
    | {"74", "75", "76", "77", "86", "87", "88", "89", "90"}
)
