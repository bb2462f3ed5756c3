"""Application cryptograms and the ARPC (EMV Book 2 Sections 8.1 and 8.2).

The cryptogram data is the Book 2 8.1.1 recommended minimum set followed by the whole
Issuer Application Data, in the order of Visa CVN 18:
``9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 9F10``.
The card simulator computes it, the host simulator verifies it, and pyemv checks both
in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping

from crypto import des
from crypto.emv_keys import derive_common_session_key
from crypto.mac import retail_mac

AC_DATA_TAGS: tuple[int, ...] = (
    0x9F02,
    0x9F03,
    0x9F1A,
    0x95,
    0x5F2A,
    0x9A,
    0x9C,
    0x9F37,
    0x82,
    0x9F36,
    0x9F10,
)
AC_DATA_LENGTHS: dict[int, int] = {
    0x9F02: 6,
    0x9F03: 6,
    0x9F1A: 2,
    0x95: 5,
    0x5F2A: 2,
    0x9A: 3,
    0x9C: 1,
    0x9F37: 4,
    0x82: 2,
    0x9F36: 2,
}


def cryptogram_input(values: Mapping[int, bytes]) -> bytes:
    """Concatenate the cryptogram data elements; a missing or wrong-sized one is an error."""
    out = bytearray()
    for tag in AC_DATA_TAGS:
        value = values.get(tag)
        if value is None:
            raise ValueError(f"cryptogram data element {tag:X} is missing")
        want = AC_DATA_LENGTHS.get(tag)
        if want is not None and len(value) != want:
            raise ValueError(f"cryptogram data element {tag:X} must be {want} bytes")
        out += value
    return bytes(out)


def application_cryptogram(icc_master_key: bytes, values: Mapping[int, bytes]) -> bytes:
    """ARQC, TC or AAC: MAC algorithm 3 under the common session key (Book 2 8.1.2)."""
    session_key = derive_common_session_key(icc_master_key, values[0x9F36])
    return cryptogram_with_session_key(session_key, values)


def cryptogram_with_session_key(
    session_key: bytes, values: Mapping[int, bytes], tdes: des.EcbEncryptor | None = None
) -> bytes:
    """Book 2 8.1.2 when the caller already holds SK_AC (a host checks ARQC and ARPC with one;
    ``tdes`` is its kept TDES context under SK_AC, see :func:`crypto.mac.retail_mac`)."""
    return retail_mac(session_key, cryptogram_input(values), tdes=tdes)


def arpc_method_1(icc_master_key: bytes, atc: bytes, arqc: bytes, arc: bytes) -> bytes:
    """ARPC Method 1 (Book 2 8.2.1): DES3(SK)[ARQC xor (ARC || 00..00)]."""
    return arpc_method_1_with_session_key(derive_common_session_key(icc_master_key, atc), arqc, arc)


def arpc_method_1_with_session_key(
    session_key: bytes, arqc: bytes, arc: bytes, tdes: des.EcbEncryptor | None = None
) -> bytes:
    """Book 2 8.2.1 under SK_AC (``tdes``: a kept TDES context under it, if the caller has one)."""
    if len(arc) != 2 or len(arqc) != 8:
        raise ValueError("ARPC method 1 takes an 8-byte ARQC and a 2-byte ARC")
    block = des.xor(arqc, arc + bytes(6))
    return tdes.encrypt(block) if tdes else des.encrypt_ecb(session_key, block)
