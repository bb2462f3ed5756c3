"""Wiring offline data authentication into the contact kernel.

The CA public key store ships the schemes' published keys (``emv/data/capk.json``); an
acquirer's newer list replaces it through ``[oda] capk_file`` (every entry's checksum is
verified, a bad file changes nothing).  In simulator mode the project's TEST-ONLY CA keys from
``hardware_sim/data/pki`` are added.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emv.capk import CapkStore, RevocationList
from emv.kernel.contact import CdaVerifier, OdaEngine
from emv.kernel.oda_engine import make_oda_engine, verify_cda_response
from emv.ports import Clock, OnlineAuthoriser, RandomSource

if TYPE_CHECKING:
    from terminal.config import Settings
    from terminal.journal import Journal
    from terminal.service import PaymentService


@cache
def stores(
    simulated: bool, capk_file: str | None = None, revocation_file: str | None = None
) -> tuple[CapkStore, RevocationList]:
    """The CAPK store (packaged, or ``[oda] capk_file`` from the configuration, which is how
    the store is updated from a file) and the revocation list."""
    extra: list[Path] = []
    if simulated:
        extra.append(Path(str(resources.files("hardware_sim.data.pki").joinpath("test_capk.json"))))
    return CapkStore.load(capk_file, extra_files=extra), RevocationList.load(revocation_file)


def oda_engine(
    simulated: bool, capk_file: str | None = None, revocation_file: str | None = None
) -> OdaEngine:
    capks, revocation = stores(simulated, capk_file, revocation_file)
    return make_oda_engine(capks, revocation)


cda_verifier: CdaVerifier = verify_cda_response


def build_payment_service(
    settings: Settings,
    journal: Journal,
    authoriser: OnlineAuthoriser | None,
    *,
    simulated: bool,
    clock: Clock | None = None,
    random: RandomSource | None = None,
    batch: Any = "default",
) -> PaymentService:
    """The payment service with ODA wired from the configuration (``[oda]`` files); simulated
    cards also trust the TEST-ONLY CAPKs.  Used by ``pos pay``, ``pos run`` and the
    supervisor commands, so they cannot drift apart."""
    from terminal.service import PaymentService

    return PaymentService(
        settings,
        journal,
        authoriser,
        clock=clock,
        random=random,
        oda_engine=oda_engine(simulated, settings.capk_file, settings.revocation_file),
        cda_verifier=cda_verifier,
        batch=batch,
    )
