"""The issuer's card cryptography, arranged for throughput (same results as ``crypto``).

* ICC master keys (EMV Book 2 A1.4.1 option A) are kept in an LRU cache per (IMK, PAN, PSN):
  a card that comes back (the next purchase, a retry) costs no derivation.  Derived keys live
  in process memory only, like the TEST-ONLY issuer master keys they come from.
* The common session key (Book 2 A1.3.1) is derived once per request and serves both the ARQC
  check (Book 2 8.1.2) and ARPC method 1 (Book 2 8.2.1); ``crypto.emv_cryptogram`` derives it
  inside each call, which doubles the TDES work on the host's hot path.

``tests/test_host_cardcrypto.py`` checks every function against ``crypto.emv_cryptogram``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import lru_cache

from crypto import des
from crypto.emv_cryptogram import cryptogram_input
from crypto.emv_keys import derive_common_session_key, derive_icc_master_key_option_a
from crypto.mac import retail_mac

ICC_KEY_CACHE_SIZE = 65536  # about 6 MB at most; a simulator serves far fewer cards


@lru_cache(maxsize=ICC_KEY_CACHE_SIZE)
def icc_master_key(issuer_master_key: bytes, pan: str, psn: str) -> bytes:
    """MK_AC of one card (option A), cached."""
    return derive_icc_master_key_option_a(issuer_master_key, pan, psn)


def session_key(icc_master_key: bytes, atc: bytes) -> bytes:
    """SK_AC for this ATC: EMV common session key derivation."""
    return derive_common_session_key(icc_master_key, atc)


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
