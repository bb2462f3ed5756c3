"""crypto.keystore: TR-31 records under a KBPK, cross-checked against psec.tr31.

Every key and KBPK here is TEST-ONLY.
"""

from __future__ import annotations

import itertools
import os

import psec.tr31
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import kcv, tr31
from crypto.keystore import KeyStore, KeyStoreError, check_value

KBPK = bytes.fromhex("00112233445566778899AABBCCDDEEFF" * 2)  # TEST-ONLY store KBPK
TRANSPORT = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210" * 2)  # TEST-ONLY KIF KBPK
PINPAD_TDES_KBPK = bytes.fromhex("89ABCDEF0123456776543210FEDCBA98")  # TEST-ONLY
IK = bytes.fromhex("6AC292FAA1315B4D858AB3A3D7D5933A")  # X9.24-1 test IK (TEST-ONLY)
KSN = "FFFF9876543210E00000"


def make_store(records: tuple = ()) -> KeyStore:  # type: ignore[type-arg]
    counter = itertools.count(1)
    return KeyStore(
        KBPK,
        records,
        random=lambda n: bytes([next(counter) % 256]) * n,
        now=lambda: "2026-01-01T00:00:00Z",
    )


def test_generated_data_key_is_a_version_d_block_psec_opens() -> None:
    store = make_store()
    record = store.generate("journal", "data")
    assert record.version == 1 and record.algorithm == "A" and record.length == 32
    assert record.block is not None
    header, key = psec.tr31.unwrap(KBPK, record.block)
    assert key == bytes([1]) * 32  # the injected random source
    assert (header.version_id, header.key_usage, header.algorithm) == ("D", "D0", "A")
    assert (header.mode_of_use, header.version_num, header.exportability) == ("B", "01", "N")
    assert header.blocks["KC"] == "01" + kcv.aes_kcv(key).hex().upper()
    assert record.kcv == kcv.aes_kcv(key).hex().upper()
    assert store.key("journal") == key


def test_dukpt_ik_from_a_psec_block_keeps_its_ksn_and_exports_for_the_pinpad() -> None:
    header = psec.tr31.Header("D", "B1", "T", "X", "00", "E")
    header.blocks["KS"] = KSN
    block = psec.tr31.wrap(TRANSPORT, header, IK)
    store = make_store()
    record = store.import_block("pinpad-ik", "dukpt-ik", block, transport_kbpk=TRANSPORT)
    assert record.key_set_id == KSN and record.kcv == kcv.tdes_kcv(IK).hex().upper()
    assert record.block is not None
    stored_header, key = psec.tr31.unwrap(KBPK, record.block)
    assert key == IK and stored_header.blocks["KS"] == KSN
    assert stored_header.blocks["KC"] == "00" + record.kcv
    exported = store.export_block("pinpad-ik", PINPAD_TDES_KBPK, kbpk_algorithm="T")
    out_header, out_key = psec.tr31.unwrap(PINPAD_TDES_KBPK, exported)
    assert out_key == IK
    assert (out_header.version_id, out_header.key_usage, out_header.mode_of_use) == (
        "B",
        "B1",
        "X",
    )
    assert out_header.blocks["KS"] == KSN


def test_an_aes_dukpt_ik_needs_its_initial_key_id_and_cannot_go_under_tdes() -> None:
    store = make_store()
    aes_ik = bytes(range(16))
    with pytest.raises(KeyStoreError, match="initial key ID"):
        store.add_key("ik", "dukpt-ik", "A", aes_ik)
    record = store.add_key("ik", "dukpt-ik", "A", aes_ik, "1234567800000001")
    assert record.block is not None
    assert psec.tr31.unwrap(KBPK, record.block)[0].blocks["IK"] == "1234567800000001"
    with pytest.raises(KeyStoreError, match="cannot be exported under a TDES KBPK"):
        store.export_block("ik", PINPAD_TDES_KBPK, kbpk_algorithm="T")


def test_a_block_for_another_usage_is_refused() -> None:
    mac_block = psec.tr31.wrap(TRANSPORT, "D0000M6AC00N0000", bytes(16))
    store = make_store()
    with pytest.raises(KeyStoreError, match="not a pin key"):
        store.import_block("k", "pin", mac_block, transport_kbpk=TRANSPORT)
    record = store.import_block("k", "mac", mac_block, transport_kbpk=TRANSPORT)
    assert record.usage == "mac" and record.algorithm == "A"
    wrong_mode = psec.tr31.wrap(TRANSPORT, "D0000M6AV00N0000", bytes(range(16)))
    with pytest.raises(KeyStoreError, match="mode of use V"):
        store.import_block("k2", "mac", wrong_mode, transport_kbpk=TRANSPORT)


def test_tampered_or_wrongly_keyed_blocks_are_refused_in_one_sentence() -> None:
    block = psec.tr31.wrap(TRANSPORT, "D0000P0AE00N0000", bytes(range(16)))
    store = make_store()
    with pytest.raises(KeyStoreError, match="MAC is wrong"):
        store.import_block("k", "pin", block)  # under the store KBPK: it is not
    flipped = block[:-1] + ("0" if block[-1] != "0" else "1")
    with pytest.raises(KeyStoreError, match="MAC is wrong"):
        store.import_block("k", "pin", flipped, transport_kbpk=TRANSPORT)
    with pytest.raises(KeyStoreError, match="cannot be opened"):
        store.import_block("k", "pin", "not a key block", transport_kbpk=TRANSPORT)


def test_rotation_keeps_version_n_until_it_is_retired() -> None:
    store = make_store()
    first = store.generate("journal", "data")
    second = store.rotate("journal")
    assert (first.version, second.version) == (1, 2)
    assert second.kcv != first.kcv
    assert [r.version for r in store.versions("journal")] == [2, 1]
    assert store.active("journal") == second
    assert store.key("journal", 1) == bytes([1]) * 32
    with pytest.raises(KeyStoreError, match="active version"):
        store.retire("journal", 2)
    assert store.retire("journal", 1) == first
    assert [r.version for r in store.versions("journal")] == [2]
    with pytest.raises(KeyStoreError, match="no version 1"):
        store.key("journal", 1)


def test_shared_keys_rotate_from_a_block_not_by_generation() -> None:
    store = make_store()
    v1 = psec.tr31.wrap(TRANSPORT, "D0000M6AC00N0000", bytes(range(16)))
    store.import_block("host-mac", "mac", v1, transport_kbpk=TRANSPORT)
    with pytest.raises(KeyStoreError, match="rotate it with --from-block"):
        store.rotate("host-mac")
    with pytest.raises(KeyStoreError, match="already holds a key"):
        store.import_block("host-mac", "mac", v1, transport_kbpk=TRANSPORT, rotate=True)
    v2 = psec.tr31.wrap(TRANSPORT, "D0000M6AC00N0000", bytes(range(1, 17)))
    record = store.import_block("host-mac", "mac", v2, transport_kbpk=TRANSPORT, rotate=True)
    assert record.version == 2
    assert record.block is not None and psec.tr31.unwrap(KBPK, record.block)[0].version_num == "02"
    with pytest.raises(KeyStoreError, match="already exists"):
        store.import_block("host-mac", "mac", v2, transport_kbpk=TRANSPORT)


def test_generation_is_refused_for_keys_the_host_must_share() -> None:
    store = make_store()
    for usage in ("dukpt-ik", "pin", "mac", "kbpk"):
        with pytest.raises(KeyStoreError, match="load it with --from-block"):
            store.generate("k", usage)
    with pytest.raises(KeyStoreError, match="not one of"):
        store.generate("k", "bogus")
    with pytest.raises(KeyStoreError, match="key id"):
        store.generate("bad id!", "data")


def test_a_record_whose_block_was_swapped_is_caught() -> None:
    store = make_store()
    a = store.generate("a", "data")
    b = store.generate("b", "data")
    forged = KeyStore(
        KBPK,
        [a, type(b)(**{**b.__dict__, "kcv": a.kcv})],
        random=os.urandom,
        now=lambda: "",
    )
    with pytest.raises(KeyStoreError, match="check value does not match"):
        forged.key("b")


def test_version_99_is_the_ceiling() -> None:
    store = make_store()
    store.generate("j", "data")
    for _ in range(98):
        store.rotate("j")
        store.retire("j", store.versions("j")[1].version)
    assert store.active("j").version == 99
    with pytest.raises(KeyStoreError, match="version 99"):
        store.rotate("j")


def test_references_hold_no_block() -> None:
    store = make_store()
    record = store.add_reference("tls", "tls-client", "/etc/pos/client.pem", "SHA256:AB")
    assert record.block is None and record.public_view()["algorithm"] == "reference"
    with pytest.raises(KeyStoreError, match="is a reference"):
        store.key("tls")
    with pytest.raises(KeyStoreError, match="kept as a key block"):
        store.add_reference("x", "data", "/x", "-")


def test_the_public_view_never_carries_the_key_or_block() -> None:
    store = make_store()
    record = store.generate("journal", "data")
    text = repr(record.public_view())
    assert record.block is not None and record.block not in text
    assert (bytes([1]) * 32).hex() not in text.lower()


@settings(max_examples=40, deadline=None)
@given(
    usage_alg_len=st.sampled_from(
        [
            ("pin", "T", 16),
            ("pin", "T", 24),
            ("pin", "A", 16),
            ("pin", "A", 32),
            ("mac", "T", 16),
            ("mac", "A", 24),
            ("kbpk", "A", 32),
            ("data", "A", 32),
        ]
    ),  # fmt: skip
    seed=st.binary(min_size=32, max_size=32),
)
def test_any_key_round_trips_and_psec_agrees(
    usage_alg_len: tuple[str, str, int], seed: bytes
) -> None:
    usage, algorithm, length = usage_alg_len
    key = seed[:length]
    store = KeyStore(KBPK, random=os.urandom, now=lambda: "t")
    record = store.add_key("k", usage, algorithm, key)
    assert record.block is not None
    assert store.key("k") == key
    header, psec_key = psec.tr31.unwrap(KBPK, record.block)
    assert psec_key == key and header.version_num == "01"
    assert record.kcv == check_value(algorithm, key)
    # And our own unwrapper opens a block psec made with the same header.
    ours = tr31.unwrap(KBPK, psec.tr31.wrap(KBPK, record.block, key))
    assert ours[1] == key
