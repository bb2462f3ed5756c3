"""TEST-ONLY issuer master keys shared by the card simulator and the host simulator.

These keys are published in this repository on purpose; they protect nothing.
Production issuer keys never live in the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class IssuerKeys:
    issuer_id: str
    name: str
    imk_ac: bytes
    imk_smi: bytes
    imk_smc: bytes


@cache
def _all() -> dict[str, IssuerKeys]:
    raw = json.loads(
        resources.files("hardware_sim.data").joinpath("test_issuer_keys.json").read_text()
    )
    return {
        iid: IssuerKeys(
            iid,
            row["name"],
            bytes.fromhex(row["imk_ac"]),
            bytes.fromhex(row["imk_smi"]),
            bytes.fromhex(row["imk_smc"]),
        )
        for iid, row in raw["issuers"].items()
    }


def issuer_for_pan(pan: str) -> IssuerKeys | None:
    """The test issuer whose 6-digit BIN starts the PAN, or None for an unknown issuer."""
    return _all().get(pan[:6])
