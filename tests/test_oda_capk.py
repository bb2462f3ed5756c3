"""CAPK store and revocation list (EMV Book 2 5.2, 6.2, 11.2)."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from emv.capk import CapkError, CapkStore, RevocationList, capk_checksum
from tests.oda_support import TEST_CAPK_FILE

SCHEME_RIDS = {"A000000003", "A000000004", "A000000025", "A000000065", "A000000152", "A000000333"}


def _raw() -> dict:
    return json.loads(resources.files("emv.data").joinpath("capk.json").read_text())


def test_every_shipped_capk_checksum_matches() -> None:
    rows = _raw()["keys"]
    assert len(rows) >= 30
    for row in rows:
        rid, index = bytes.fromhex(row["rid"]), bytes.fromhex(row["index"])[0]
        computed = capk_checksum(
            rid, index, bytes.fromhex(row["modulus"]), bytes.fromhex(row["exponent"])
        )
        assert computed.hex().upper() == row["checksum"], (row["rid"], row["index"])
        assert row["kind"] in {"live", "test", "unclassified"}
    assert {row["rid"] for row in rows} == SCHEME_RIDS


def test_published_visa_test_key_92_is_verbatim() -> None:
    """Visa VSDC 1408-bit CA public TEST key, index 92: checksum 429C954A...B253 as published."""
    store = CapkStore.load(include_test_keys=True)
    key = store.get(bytes.fromhex("A000000003"), 0x92)
    assert key is not None and key.kind == "test"
    assert key.checksum.hex().upper() == "429C954A3859CEF91295F663C963E582ED6EB253"
    assert key.public_key.length == 176 and key.exponent == b"\x03"


def test_live_and_test_keys_with_the_same_index() -> None:
    mc = bytes.fromhex("A000000004")
    live = CapkStore.load().get(mc, 0x05)
    test = CapkStore.load(include_test_keys=True).get(mc, 0x05)
    assert live is not None and live.kind == "live" and live.public_key.length == 176
    assert test is not None and test.kind == "test" and test.public_key.length == 128
    assert CapkStore.load().get(mc, 0xF1) is None


def test_simulator_test_ca_only_merged_on_request() -> None:
    visa = bytes.fromhex("A000000003")
    assert CapkStore.load().get(visa, 0xE3) is None
    merged = CapkStore.load(extra_files=[TEST_CAPK_FILE])
    key = merged.get(visa, 0xE3)
    assert key is not None and key.kind == "test" and key.public_key.length == 176
    assert merged.get(bytes.fromhex("A000000004"), 0xE4) is not None


def test_test_ca_indexes_do_not_clash_with_published_keys() -> None:
    published = {(row["rid"], row["index"]) for row in _raw()["keys"]}
    ours = {(row["rid"], row["index"]) for row in json.loads(TEST_CAPK_FILE.read_text())["keys"]}
    assert not published & ours


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "capk.json"
    path.write_text(json.dumps({"keys": rows}))
    return path


def test_update_from_file_replaces_and_adds(tmp_path: Path) -> None:
    row = dict(_raw()["keys"][0])
    row["index"] = "7F"
    n, e = bytes.fromhex(row["modulus"]), bytes.fromhex(row["exponent"])
    row["checksum"] = capk_checksum(bytes.fromhex(row["rid"]), 0x7F, n, e).hex()
    row["expiry"] = "2030-12-31"
    store = CapkStore.load()
    before = len(store)
    store.update_from_file(_write(tmp_path, [row]))
    assert len(store) == before + 1
    key = store.get(bytes.fromhex(row["rid"]), 0x7F)
    assert key is not None and key.expiry == date(2030, 12, 31)
    assert store.get(bytes.fromhex(row["rid"]), 0x7F, on=date(2031, 1, 1)) is None


def test_entry_with_wrong_checksum_rejects_the_file(tmp_path: Path) -> None:
    good = dict(_raw()["keys"][0])
    bad = dict(good, index="7E")  # checksum no longer matches
    store = CapkStore.load()
    before = len(store)
    with pytest.raises(CapkError, match="checksum of CA public key RID A000000003 index 7E"):
        store.update_from_file(_write(tmp_path, [good, bad]))
    assert len(store) == before
    with pytest.raises(CapkError):
        CapkStore.load(_write(tmp_path, [bad]))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not valid JSON"),
        ('{"keys": 3}', "has no 'keys' list"),
        ('{"keys": [{"rid": "A0"}]}', "field 'index' is missing"),
        ('{"keys": [{"rid": "ZZ", "index": "01"}]}', "field 'rid' is not hexadecimal"),
    ],
)
def test_malformed_capk_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "capk.json"
    path.write_text(content)
    with pytest.raises(CapkError, match=message):
        CapkStore.load(path)


def test_missing_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(CapkError, match="cannot read .*nope.json: No such file or directory"):
        CapkStore.load(tmp_path / "nope.json")


def test_revocation_list_ships_labelled_test_entries() -> None:
    raw = json.loads(resources.files("emv.data").joinpath("revocation.json").read_text())
    assert all(e["kind"] == "test" and e["label"].startswith("TEST-ONLY") for e in raw["entries"])
    crl = RevocationList.load()
    assert crl.is_revoked(bytes.fromhex("A000000003"), 0xE3, bytes.fromhex("DEAD01"))
    assert not crl.is_revoked(bytes.fromhex("A000000003"), 0xE3, bytes.fromhex("5E0001"))
    assert not crl.is_revoked(bytes.fromhex("A000000004"), 0xE3, bytes.fromhex("DEAD01"))


def test_revocation_list_rejects_bad_serial(tmp_path: Path) -> None:
    path = tmp_path / "crl.json"
    path.write_text(json.dumps({"entries": [{"rid": "A000000003", "index": "E3", "serial": "01"}]}))
    with pytest.raises(CapkError, match="serial 3 bytes"):
        RevocationList.load(path)
