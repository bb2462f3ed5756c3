"""Card-side biometric match for the offline finger CVM (08): VERIFY with odd INS 21.

The command, defined in ``emv/kernel/biometric.py`` after ISO/IEC 7816-4 (VERIFY, odd INS
for BER-TLV data) and ISO/IEC 7816-11 (biometric data template):

``CLA 21 00 91 Lc data``: P2 ``91`` = the finger reference; data = ``7F2E { 81 template }``
sent in ISO/IEC 7816-4 command-chaining blocks (CLA ``10``: more blocks follow, answered
``9000``; CLA ``00``: last block, answered with the verdict).

Verdicts: ``9000`` match (the biometric try counter is reset); ``63Cx`` no match, x tries
left; ``6983`` biometric blocked; ``6A88`` no finger reference on this card; ``6A80`` the
data is not a 7F2E template of the expected size; ``6985`` a chain was broken.

Reference data: the finger enrolled for the application's PAN in the TEST-ONLY library
(``hardware_sim/data/fingerprints.json``), which only cards whose CVM list names an offline
biometric CVM consult.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from emv import tlv
from hardware_sim import fingerprint_library as lib

MAX_TEMPLATE_CHAIN = 2048


@dataclass
class BiometricState:
    try_counter: int
    chain: bytearray = field(default_factory=bytearray)
    verifications: int = 0


_STATE: weakref.WeakKeyDictionary[Any, BiometricState] = weakref.WeakKeyDictionary()


def state(card: Any) -> BiometricState:
    found = _STATE.get(card)
    if found is None:
        found = BiometricState(int(lib.library()["biometric_try_limit"]))
        _STATE[card] = found
    return found


def _sw(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _has_offline_biometric_cvm(app: Any) -> bool:
    cvm_list = app.profile.data.get(0x8E, b"") if hasattr(app.profile, "data") else b""
    return any(cvm_list[i] & 0x3F in range(0x06, 0x10, 2) for i in range(8, len(cvm_list), 2))


def verify(card: Any, cla: int, p1: int, p2: int, data: bytes) -> bytes:
    """Answer one VERIFY (INS 21) block."""
    st = state(card)
    if p1 != 0x00 or p2 != 0x91:
        st.chain.clear()
        return _sw(0x6A86)
    st.chain += data
    if len(st.chain) > MAX_TEMPLATE_CHAIN:
        st.chain.clear()
        return _sw(0x6700)
    if cla & 0x10:
        return _sw(0x9000)
    message, st.chain = bytes(st.chain), bytearray()
    app = card.current_application()
    pan = app.profile.pan if app is not None else ""
    finger = lib.enrolled_finger(pan) if app is not None else None
    if finger is None or not _has_offline_biometric_cvm(app):
        return _sw(0x6A88)
    if st.try_counter == 0:
        return _sw(0x6983)
    try:
        template = tlv.flatten(tlv.decode(message)).get(0x81)
    except Exception:  # noqa: BLE001 - any malformed TLV is wrong data
        template = None
    reference = lib.reference_template(finger)
    if template is None or len(template) != len(reference):
        return _sw(0x6A80)
    st.verifications += 1
    if lib.matches(template, reference):
        st.try_counter = int(lib.library()["biometric_try_limit"])
        return _sw(0x9000)
    st.try_counter -= 1
    return _sw(0x63C0 | st.try_counter) if st.try_counter else _sw(0x6983)
