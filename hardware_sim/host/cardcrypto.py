"""The issuer's card cryptography on the host's hot path (same results as ``crypto``).

Only the arrangement is the host's own; every primitive is ``crypto``'s:

* Each issuer master key keeps one TDES context (``crypto.des.EcbEncryptor``).
* ICC master keys (EMV Book 2 A1.4.1 option A) are kept in an LRU cache per (IMK, PAN, PSN):
  a card that comes back (the next purchase, a retry) costs no derivation.  Derived keys live
  in process memory only, like the TEST-ONLY issuer master keys they come from.
* The common session key (Book 2 A1.3.1) is derived once per request and serves both the ARQC
  check (Book 2 8.1.2) and ARPC method 1 (Book 2 8.2.1), through one kept TDES context
  (:class:`SessionKey`): the ARQC's last MAC block and the ARPC are both TDES under SK_AC.

``tests/test_host_cardcrypto.py`` checks every function against ``crypto.emv_cryptogram``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import lru_cache

from crypto import des
from crypto.emv_cryptogram import arpc_method_1_with_session_key, cryptogram_with_session_key
from crypto.emv_keys import derive_common_session_key, option_a_blocks

ICC_KEY_CACHE_SIZE = 65536  # about 6 MB at most; a simulator serves far fewer cards


@lru_cache(maxsize=ICC_KEY_CACHE_SIZE)
def icc_master_key(issuer_master_key: bytes, pan: str, psn: str) -> bytes:
    """MK_AC of one card, option A (Book 2 A1.4.1), cached; the IMK's cipher is kept."""
    if len(issuer_master_key) != 16:
        raise ValueError("an issuer master key is 16 bytes")
    blocks = option_a_blocks(pan, psn)
    return des.adjust_odd_parity(_issuer_cipher(issuer_master_key).encrypt(blocks))


@lru_cache(maxsize=64)
def _issuer_cipher(issuer_master_key: bytes) -> des.EcbEncryptor:
    return des.EcbEncryptor(issuer_master_key)


class SessionKey:
    """SK_AC of one request and its one TDES context (ARQC check, then ARPC)."""

    __slots__ = ("key", "_tdes")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._tdes = des.EcbEncryptor(key)

    def arqc_matches(self, values: Mapping[int, bytes], arqc: bytes) -> bool:
        """True when ``arqc`` is the retail MAC of the cryptogram data under SK_AC.

        Raises ``ValueError`` when a cryptogram data element is missing or has the wrong size.
        """
        expected = cryptogram_with_session_key(self.key, values, self._tdes)
        return hmac.compare_digest(expected, arqc)

    def arpc_method_1(self, arqc: bytes, arc: bytes) -> bytes:
        """ARPC = DES3(SK)[ARQC xor (ARC || 00..00)] (Book 2 8.2.1)."""
        return arpc_method_1_with_session_key(self.key, arqc, arc, self._tdes)


def session_key(icc_master_key: bytes, atc: bytes) -> SessionKey:
    """SK_AC for this ATC: the common session key (Book 2 A1.3.1)."""
    return SessionKey(derive_common_session_key(icc_master_key, atc))
