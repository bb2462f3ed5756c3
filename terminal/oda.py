"""Wiring offline data authentication into the contact kernel.

The CA public key store ships the schemes' published keys (``emv/data/capk.json``); in
simulator mode the project's TEST-ONLY CA keys from ``hardware_sim/data/pki`` are added.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from emv.capk import CapkStore, RevocationList
from emv.kernel.contact import CdaVerifier, OdaEngine
from emv.kernel.oda_engine import make_oda_engine, verify_cda_response


@cache
def stores(simulated: bool) -> tuple[CapkStore, RevocationList]:
    extra: list[Path] = []
    if simulated:
        extra.append(Path(str(resources.files("hardware_sim.data.pki").joinpath("test_capk.json"))))
    return CapkStore.load(extra_files=extra), RevocationList.load()


def oda_engine(simulated: bool) -> OdaEngine:
    capks, revocation = stores(simulated)
    return make_oda_engine(capks, revocation)


cda_verifier: CdaVerifier = verify_cda_response
