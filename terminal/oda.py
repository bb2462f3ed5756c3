"""Wiring offline data authentication (``emv.oda``) into the contact kernel."""

from __future__ import annotations

from emv.kernel.contact import CdaVerifier, OdaEngine


def oda_engine(simulated: bool) -> OdaEngine | None:
    try:
        from emv.kernel.oda_engine import make_oda_engine
    except ImportError:  # ODA engine not wired yet
        return None
    return make_oda_engine(include_test_keys=simulated)


def _cda(ctx, response):  # type: ignore[no-untyped-def]
    try:
        from emv.kernel.oda_engine import verify_cda_response
    except ImportError:
        return False
    return bool(verify_cda_response(ctx, response))


cda_verifier: CdaVerifier = _cda
