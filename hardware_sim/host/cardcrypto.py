"""The issuer's card cryptography, arranged for throughput (same results as ``crypto``).

* ICC master keys (EMV Book 2 A1.4.1 option A) are kept in an LRU cache per (IMK, PAN, PSN):
  a card that comes back (the next purchase, a retry) costs no derivation.  Derived keys live
  in process memory only, like the TEST-ONLY issuer master keys they come from.
* The common session key (Book 2 A1.3.1) is derived once per request and serves both the ARQC
  check (Book 2 8.1.2) and ARPC method 1 (Book 2 8.2.1); ``crypto.emv_cryptogram`` derives it
  inside each call, which doubles the TDES work on the host's hot path.
* Both halves of a derived key come from one two-block TDES-ECB call, and the ECB context under
  an issuer master key is kept (ECB has no chaining state, so one context serves every card):
  creating a ``cryptography`` cipher context costs far more than encrypting two blocks.
* Odd parity is one ``bytes.translate`` through a 256-entry table.

``tests/test_host_cardcrypto.py`` checks every function against ``crypto.emv_cryptogram``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import lru_cache
from threading import Lock

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, modes

from crypto import des
from crypto.emv_cryptogram import cryptogram_input
from crypto.mac import retail_mac

ICC_KEY_CACHE_SIZE = 65536  # about 6 MB at most; a simulator serves far fewer cards

# byte -> the same byte with its least significant bit set for odd parity (ANSI X3.92)
_ODD_PARITY = bytes((b & 0xFE) | (bin(b & 0xFE).count("1") + 1) % 2 for b in range(256))


def odd_parity(key: bytes) -> bytes:
    return key.translate(_ODD_PARITY)


@lru_cache(maxsize=64)
def _imk_encryptor(issuer_master_key: bytes) -> tuple[Lock, CipherContext]:
    """A TDES-ECB encryptor under one IMK, never finalised (ECB keeps no state), and the
    lock that keeps two threads (tests drive issuers from several) from sharing it at once."""
    if len(issuer_master_key) != 16:
        raise ValueError("an issuer master key is 16 bytes")
    key = issuer_master_key + issuer_master_key[:8]
    return Lock(), Cipher(TripleDES(key), modes.ECB()).encryptor()


@lru_cache(maxsize=ICC_KEY_CACHE_SIZE)
def icc_master_key(issuer_master_key: bytes, pan: str, psn: str) -> bytes:
    """MK_AC of one card, option A (Book 2 A1.4.1), cached.

    Y = rightmost 16 digits of PAN || PSN; MK = DES3(IMK)[Y] || DES3(IMK)[Y xor FF..FF].
    """
    y = bytes.fromhex((pan + (psn or "00")).rjust(16, "0")[-16:])
    lock, encryptor = _imk_encryptor(issuer_master_key)
    with lock:
        both = encryptor.update(y + bytes(b ^ 0xFF for b in y))
    return odd_parity(bytes(both))


def session_key(icc_master_key: bytes, atc: bytes) -> bytes:
    """SK_AC for this ATC: common session key (Book 2 A1.3.1), R = ATC || 00 x 6,
    SK = DES3(MK)[R, byte 3 = F0] || DES3(MK)[R, byte 3 = 0F]."""
    if len(atc) != 2:
        raise ValueError("the ATC is 2 bytes")
    blocks = atc + b"\xf0" + bytes(5) + atc + b"\x0f" + bytes(5)
    return odd_parity(des.encrypt_ecb(icc_master_key, blocks))


def arqc_matches(session_key: bytes, values: Mapping[int, bytes], arqc: bytes) -> bool:
    """True when ``arqc`` is the retail MAC of the cryptogram data under ``session_key``.

    Raises ``ValueError`` when a cryptogram data element is missing or has the wrong size.
    """
    return hmac.compare_digest(retail_mac(session_key, cryptogram_input(values)), arqc)


def arpc_method_1(session_key: bytes, arqc: bytes, arc: bytes) -> bytes:
    """ARPC = DES3(SK)[ARQC xor (ARC || 00..00)] (Book 2 8.2.1)."""
    if len(arc) != 2 or len(arqc) != 8:
        raise ValueError("ARPC method 1 takes an 8-byte ARQC and a 2-byte ARC")
    return des.encrypt_ecb(session_key, des.xor(arqc, arc + bytes(6)))
