"""Key check values (ANSI X9.24-1:2017, Annex A "Key check values").

* TDES: leftmost bytes of TDES-ECB of an all-zero 8-byte block (the legacy method).
* AES: leftmost bytes of AES-CMAC of an all-zero 16-byte block (the CMAC method X9.24-1:2017
  specifies for AES, which payment HSMs print next to TR-31 version D blocks).

Three bytes (six hex digits) is what key-loading forms and HSM consoles show.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from crypto import des


class KcvError(ValueError):
    """A key whose check value cannot be computed."""


def tdes_kcv(key: bytes, length: int = 3) -> bytes:
    if len(key) not in (8, 16, 24):
        raise KcvError("a DES key is 8, 16 or 24 bytes")
    return des.encrypt_ecb(key, bytes(8))[:length]


def aes_kcv(key: bytes, length: int = 3) -> bytes:
    if len(key) not in (16, 24, 32):
        raise KcvError("an AES key is 16, 24 or 32 bytes")
    mac = CMAC(algorithms.AES(key))
    mac.update(bytes(16))
    return mac.finalize()[:length]
