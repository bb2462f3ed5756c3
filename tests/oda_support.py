"""Shared fixtures for the tests/test_oda_*.py files: a simulated card personalised with the
TEST-ONLY PKI (hardware_sim/pki.py) and the terminal's CAPK store with the test CA merged."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

from emv import tlv
from emv.capk import CapkStore, RevocationList
from emv.oda import static_data_to_authenticate
from hardware_sim import pki

VISA_RID = bytes.fromhex("A000000003")
MC_RID = bytes.fromhex("A000000004")
TODAY = date(2026, 11, 24)
PAN = "4761739001010010"
MC_PAN = "5413330089020011"
EXPIRY = bytes.fromhex("301231")
AIP = bytes.fromhex("3900")

TEST_CAPK_FILE = Path(str(resources.files("hardware_sim.data.pki").joinpath("test_capk.json")))


def store() -> CapkStore:
    return CapkStore.load(extra_files=[TEST_CAPK_FILE])


def revocation() -> RevocationList:
    return RevocationList.load()


def records(pan: str = PAN) -> list[tuple[int, bytes]]:
    """Two ODA records as READ RECORD returns them: SFI 2 (template 70) and SFI 11."""
    r1 = tlv.encode(
        0x70,
        tlv.encode_many(
            [(0x5A, bytes.fromhex(pan)), (0x5F24, EXPIRY), (0x5F25, bytes.fromhex("200101"))]
        ),
    )
    r2 = tlv.encode(
        0x70, tlv.encode_many([(0x8C, bytes.fromhex("9F02069F1A02")), (0x9F4A, b"\x82")])
    )
    return [(2, r1), (11, r2)]


def static_data(pan: str = PAN) -> bytes:
    return static_data_to_authenticate(records(pan), [True, True], b"\x82", {0x82: AIP})


def card(method: str, issuer: str = "476173", pan: str = PAN, **kw: bool):
    """(card data objects as the terminal sees them, ICC key) for a personalised card."""
    recs = records(pan)
    sd = b"".join(tlv.decode_single(r).value if sfi <= 10 else r for sfi, r in recs)
    tags, key = pki.personalise_oda(method, issuer, pan, EXPIRY, sd, AIP, **kw)
    data = {0x5A: bytes.fromhex(pan), 0x82: AIP, **tags}
    return data, key
