"""Issuer side of the online finger CVM (09): open the biometric data block and match it.

The block (layout in ``terminal/peripherals/biometric_block.py``) arrives in ISO 8583 DE 62
(private use, LLLVAR binary; DE 55 is capped at 255 bytes and a template is 512): version ``01`` || key id || ephemeral P-256 point (65) || nonce (12) ||
AES-128-GCM ciphertext + tag, the key from ECDH with the issuer's TEST-ONLY biometric key
and HKDF-SHA256.  The plaintext ``7F2E { 81 template }`` is matched against the finger
enrolled for the PAN in the test library; the template is dropped as soon as it is scored
and never logged or stored in the ledger.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from emv import tlv
from hardware_sim import fingerprint_library as lib

log = logging.getLogger(__name__)

INFO = b"pos-bdb-v1"
HEADER = 2 + 65


@cache
def _issuer_key() -> tuple[int, ec.EllipticCurvePrivateKey]:
    doc = json.loads(
        resources.files("hardware_sim.data").joinpath("peripheral_test_keys.json").read_text()
    )
    key = serialization.load_pem_private_key(
        doc["biometric_issuer_private_key_pem"].encode(), password=None
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the TEST biometric issuer key must be an EC key")
    return int(doc["biometric_issuer_key_id"], 16), key


def open_block(block: bytes) -> bytes | None:
    """The template inside a biometric data block, or None if it cannot be opened."""
    key_id, key = _issuer_key()
    if len(block) < HEADER + 12 + 16 or block[0] != 0x01 or block[1] != key_id:
        return None
    header, nonce, sealed = block[:HEADER], block[HEADER : HEADER + 12], block[HEADER + 12 :]
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), header[2:])
        aes = HKDF(hashes.SHA256(), 16, salt=None, info=INFO + header[1:]).derive(
            key.exchange(ec.ECDH(), peer)
        )
        plain = AESGCM(aes).decrypt(nonce, sealed, header)
        return tlv.flatten(tlv.decode(plain)).get(0x81)
    except (ValueError, InvalidTag, Exception):  # noqa: BLE001 - any failure: not verified
        return None


def verified(block_hex: str, pan: str) -> bool:
    """DE 62: True only when the block opens and holds the finger enrolled for the PAN."""
    try:
        block = bytes.fromhex(block_hex)
    except ValueError:
        return False
    template = open_block(block)
    finger = lib.enrolled_finger(pan)
    if template is None or finger is None:
        log.info("online biometric could not be verified")
        return False
    ok = lib.matches(template, lib.reference_template(finger))
    del template
    log.info("online biometric %s", "matched" if ok else "did not match")
    return ok
