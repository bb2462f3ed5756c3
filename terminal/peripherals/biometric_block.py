"""The biometric data block sealed for the issuer (online finger CVM 09).

Hybrid encryption, so only the issuer can read the template:

* ECDH on P-256 (NIST SP 800-56A C(1e,1s)) between a fresh ephemeral key and the issuer's
  biometric encryption public key;
* HKDF-SHA256 (RFC 5869), info ``"pos-bdb-v1" || key id || ephemeral point``, to an AES-128 key;
* AES-GCM (NIST SP 800-38D) over the plaintext TLV ``7F2E { 81 template }`` (the ISO/IEC
  7816-11 biometric data template, the same object the ICC gets offline), the header as AAD.

Block layout: ``01`` (version) || key id (1) || ephemeral point (65) || nonce (12) ||
ciphertext || tag (16).  The kernel puts it in ``AuthorisationRequest.biometric_block``, and
the acquirer client sends it in ISO 8583 DE 62 (private use; EMV leaves the online biometric
message to the payment system, and DE 55 is capped at 255 bytes).  The template exists in clear
only inside :func:`seal_template`'s call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from importlib import resources

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from emv import tlv

VERSION = 0x01
INFO = b"pos-bdb-v1"


def seal_template(template: bytes, issuer_public: bytes, key_id: int) -> bytes:
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), issuer_public)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    header = bytes([VERSION, key_id]) + point
    key = HKDF(hashes.SHA256(), 16, salt=None, info=INFO + header[1:]).derive(
        ephemeral.exchange(ec.ECDH(), peer)
    )
    nonce = os.urandom(12)
    plain = tlv.encode(0x7F2E, tlv.encode(0x81, template))
    return header + nonce + AESGCM(key).encrypt(nonce, plain, header)


def default_issuer_sealer() -> Callable[[bytes], bytes]:
    """The sealer for the simulated issuer's TEST-ONLY key (hardware_sim/data).

    A production terminal loads the issuer's biometric public key from its key store
    instead, the way it loads CA public keys.
    """
    doc = json.loads(
        resources.files("hardware_sim.data").joinpath("peripheral_test_keys.json").read_text()
    )
    public = bytes.fromhex(doc["biometric_issuer_public_key"])
    key_id = int(doc["biometric_issuer_key_id"], 16)
    return lambda template: seal_template(template, public, key_id)
