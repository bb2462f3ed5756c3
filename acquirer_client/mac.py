"""Message authentication on the acquirer link: DE 64 / DE 128 (ISO 8583:1987).

* **Key per transaction.** ``K_txn`` is derived from the terminal's MAC master key the way
  EMV Book 2 A1.4.1 (option A) derives card keys: ``D`` = BCD of STAN (DE 11, 6 digits) and
  transmission date/time (DE 7, 10 digits) = 8 bytes;
  ``K_txn = parity(TDES(MK)[D] || TDES(MK)[D xor FF..FF])``.  Responses echo DE 7 and DE 11,
  so both directions know the key; the response key is ``K_txn`` xor the ANSI X9.24-1 "MAC
  response" variant so that a request MAC can never be replayed as a response MAC.
* **Algorithm.** ISO 9797-1 MAC algorithm 3 (ANSI X9.19 retail MAC) with padding method 2,
  over the whole encoded message up to (not including) the MAC field.
* **Field.** DE 128 when the secondary bitmap is present, DE 64 otherwise; it is always the
  last field, so its 8 bytes are the last 8 bytes of the message.
"""

from __future__ import annotations

from collections.abc import Mapping

from acquirer_client import messages as m
from crypto import des
from crypto.mac import retail_mac

RESPONSE_VARIANT = bytes.fromhex("00000000FF00000000000000FF000000")


def transaction_key(master_key: bytes, doc: Mapping[str, str], *, response: bool) -> bytes:
    stan, when = doc.get("11", ""), doc.get("7", "")
    if len(stan) != 6 or len(when) != 10 or not (stan + when).isdigit():
        raise m.MessageError("a MACed message needs DE 11 and DE 7 to derive its key.")
    d = bytes.fromhex(stan + when)
    key = des.adjust_odd_parity(
        des.encrypt_ecb(master_key, d) + des.encrypt_ecb(master_key, bytes(b ^ 0xFF for b in d))
    )
    return des.xor(key, RESPONSE_VARIANT) if response else key


def _mac_field(doc: Mapping[str, str]) -> str:
    return "128" if any(k.isdigit() and int(k) > 64 for k in doc) else "64"


def sign(master_key: bytes, doc: Mapping[str, str], *, response: bool = False) -> bytes:
    """Encode ``doc`` with its MAC field filled in."""
    out = {k: v for k, v in doc.items() if k not in ("64", "128")}
    out[_mac_field(out)] = "00" * 8
    raw = m.encode(out)
    key = transaction_key(master_key, out, response=response)
    return raw[:-8] + retail_mac(key, raw[:-8])


def verify(
    master_key: bytes, raw: bytes, *, response: bool = False, doc: m.IsoDoc | None = None
) -> m.IsoDoc:
    """Decode ``raw`` and check its MAC; a missing or wrong MAC raises :class:`MessageError`.

    ``doc`` is ``raw`` already decoded by the caller (it is not decoded a second time).
    """
    if doc is None:
        doc = m.decode(raw)
    field = _mac_field({k: v for k, v in doc.items() if k not in ("64", "128")})
    if field not in doc:
        raise m.MessageError(f"the message has no MAC (DE {field}).")
    key = transaction_key(master_key, doc, response=response)
    if retail_mac(key, raw[:-8]) != raw[-8:]:
        raise m.MessageError("the message MAC does not verify.")
    return doc
