"""Key check values: published KCVs and a cross-check of the TDES KCV against ``psec``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psec import des as oracle

from crypto import kcv

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")


def test_published_kcvs() -> None:
    # TR-31:2018 A.7 example keys, KCVs as printed by payment HSMs.
    assert kcv.tdes_kcv(bytes.fromhex("E8BC63E5479455E26577F715D587FE68")).hex() == "9a4212"
    assert kcv.aes_kcv(bytes.fromhex("3F419E1CB7079442AA37474C2EFBF8B8")).hex() == "08793e"


def test_bad_key_lengths() -> None:
    with pytest.raises(ValueError, match="DES key"):
        kcv.tdes_kcv(bytes(15))
    with pytest.raises(ValueError, match="AES key"):
        kcv.aes_kcv(bytes(8))


@settings(max_examples=50, deadline=None)
@given(key=st.sampled_from([8, 16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_tdes_kcv_agrees_with_psec(key: bytes) -> None:
    assert kcv.tdes_kcv(key) == oracle.generate_kcv(key, 3)
