"""The contactless kernels' one-call offline data authentication, on top of :mod:`emv.oda`.

* :func:`verify_fdda` - Book C-3 fDDA: the Book 2 6.5.2 dynamic signature check on the
  9F4B the card returned in the GPO response, hashed with the terminal dynamic data
  ``9F37 || 9F02 || 5F2A || 9F69`` instead of DDOL data.
* :func:`verify_cda` - Book 2 6.6.2 on the GENERATE AC response (used by Book C-2).

Both recover the ICC Public Key first (Book 2 6.3, 6.4) with the terminal's CA public keys
(:class:`emv.capk.CapkStore`) and raise :class:`emv.oda.OdaError` with one sentence when
any check fails; the kernels map that to the TVR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from crypto.rsa_emv import RsaPublicKey
from emv import oda
from emv.capk import CapkStore, RevocationList
from emv.oda import OdaError

__all__ = ["CdaOutcome", "OdaError", "verify_cda", "verify_fdda"]


@dataclass(frozen=True)
class CdaOutcome:
    icc_dynamic_number: bytes
    cryptogram_information_data: int
    application_cryptogram: bytes


def _icc_key(
    capks: CapkStore,
    rid: bytes,
    card: Mapping[int, bytes],
    static_data: bytes,
    today: date,
    revocation: RevocationList | None,
) -> RsaPublicKey:
    recovered = oda.recover_icc_key(capks, rid, card, static_data, today, revocation)
    if not recovered.ok or recovered.key is None:
        raise OdaError(recovered.reason, recovered.icc_data_missing)
    return recovered.key


def verify_fdda(
    capks: CapkStore,
    rid: bytes,
    card: Mapping[int, bytes],
    static_data: bytes,
    terminal_dynamic_data: bytes,
    today: date,
    revocation: RevocationList | None = None,
) -> bytes:
    """fDDA (Book C-3 5.8 / Book 2 6.5.2): return the ICC Dynamic Number or raise."""
    key = _icc_key(capks, rid, card, static_data, today, revocation)
    result = oda.verify_dda(key, card.get(0x9F4B, b""), terminal_dynamic_data)
    if not result.ok or result.icc_dynamic_number is None:
        raise OdaError(result.reason, result.icc_data_missing)
    return result.icc_dynamic_number


def verify_cda(
    capks: CapkStore,
    rid: bytes,
    card: Mapping[int, bytes],
    static_data: bytes,
    response_template_value: bytes,
    pdol_data: bytes,
    cdol1_data: bytes,
    unpredictable_number: bytes,
    today: date,
    revocation: RevocationList | None = None,
) -> CdaOutcome:
    """CDA (Book 2 6.6.2) on the value of the GENERATE AC response template 77."""
    key = _icc_key(capks, rid, card, static_data, today, revocation)
    result = oda.verify_cda_response(
        key, response_template_value, pdol_data, cdol1_data, None, unpredictable_number
    )
    if not result.ok or result.cid is None or result.application_cryptogram is None:
        raise OdaError(result.reason, result.icc_data_missing)
    return CdaOutcome(
        result.icc_dynamic_number or b"", result.cid[0], result.application_cryptogram
    )
