"""The biometric data block sealed for the issuer (ECDH P-256 + HKDF + AES-128-GCM)."""

from __future__ import annotations

import json
from importlib import resources

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_sim import fingerprint_library as lib
from hardware_sim.host import biometric as host
from terminal.peripherals.biometric_block import default_issuer_sealer, seal_template

PAN = "4761739001010416"


def test_round_trip_and_layout() -> None:
    template = lib.capture_sample("1")
    block = default_issuer_sealer()(template)
    assert block[0] == 0x01 and block[1] == 0x01  # version, key id
    assert block[2] == 0x04  # uncompressed ephemeral point
    assert len(block) == 2 + 65 + 12 + (5 + 4 + 512) + 16  # 7F2E{81 template} + GCM tag
    assert template not in block
    assert host.open_block(block) == template
    assert host.verified(block.hex(), PAN) is True


def test_each_seal_is_different() -> None:
    sealer = default_issuer_sealer()
    template = lib.capture_sample("1")
    assert sealer(template) != sealer(template)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 + 65 + 12 + 521 + 15), st.integers(1, 255))
def test_any_flipped_byte_is_refused(position: int, flip: int) -> None:
    block = bytearray(default_issuer_sealer()(lib.reference_template("1")))
    block[position] ^= flip
    assert host.verified(bytes(block).hex(), PAN) is False


def test_non_matching_and_unknown_cardholder() -> None:
    sealer = default_issuer_sealer()
    assert host.verified(sealer(lib.capture_sample("2")).hex(), PAN) is False
    assert host.verified(sealer(lib.capture_sample("1")).hex(), "4111111111111111") is False
    assert host.verified("not hex", PAN) is False


def test_sealed_for_another_key_cannot_be_opened() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = other.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    keys = json.loads(
        resources.files("hardware_sim.data").joinpath("peripheral_test_keys.json").read_text()
    )
    block = seal_template(lib.reference_template("1"), point, int(keys["biometric_issuer_key_id"]))
    assert host.open_block(block) is None
