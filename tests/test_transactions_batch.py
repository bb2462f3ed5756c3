"""The sealed batch store and the operator roles, without a host."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal.batch import Batch, BatchError, batch_document, scheme_for_aid
from terminal.config import build_settings
from terminal.errors import ConfigError
from terminal.operators import CASHIER, SUPERVISOR, NotAuthorised, authorise, parse_operators

PAN = "4761739001010119"
DOC = {
    "t": "0200",
    "2": PAN,
    "3": "000000",
    "4": "000000001234",
    "11": "000042",
    "35": PAN + "=28122011234567890",
    "41": "POS00001",
    "49": "978",
    "52": "00" * 8,
    "53": "11" * 10,
    "55": "9F2608" + "AB" * 8,
}


def test_records_are_sealed_and_need_the_right_key(tmp_path: Path) -> None:
    key = os.urandom(32)
    batch = Batch(tmp_path / "b.sqlite", key)
    rec = batch.add("t1", "sale", DOC, scheme="Visa", in_totals=True)
    assert (rec.stan, rec.amount_minor, rec.currency_numeric, rec.credit) == (
        "000042",
        1234,
        978,
        False,
    )
    assert rec.document["2"] == PAN and "35" not in rec.document and "52" not in rec.document
    batch.close()
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("b.sqlite*"))
    assert PAN.encode() not in raw
    wrong = Batch(tmp_path / "b.sqlite", os.urandom(32))
    with pytest.raises(BatchError, match="cannot be decrypted"):
        wrong.records()
    wrong.close()
    # A record moved to another transaction id is refused too (the id is associated data).
    with sqlite3.connect(tmp_path / "b.sqlite") as db:
        db.execute("UPDATE records SET txn_id = 't2'")
    moved = Batch(tmp_path / "b.sqlite", key)
    with pytest.raises(BatchError):
        moved.get("t2")
    moved.close()


def test_close_destroys_card_data_and_carries_open_preauths(tmp_path: Path) -> None:
    batch = Batch(tmp_path / "b.sqlite", os.urandom(32))
    batch.add("sale", "sale", DOC, scheme="Visa", in_totals=True)
    batch.add(
        "pre", "preauth", {**DOC, "t": "0100", "11": "000043"}, scheme="Visa", in_totals=False
    )
    batch.add(
        "done", "preauth", {**DOC, "t": "0100", "11": "000044"}, scheme="Visa", in_totals=False
    )
    batch.mark("done", "completed")
    assert batch.close_batch() == 2
    (carried,) = batch.records()
    assert (carried.txn_id, carried.stan, carried.in_totals) == ("pre", "000043", False)
    batch.close()
    raw = (tmp_path / "b.sqlite").read_bytes()
    assert b"000042" not in raw  # secure_delete + VACUUM: the sale's row is gone from the file


def test_scheme_from_rid() -> None:
    assert scheme_for_aid("A0000000031010") == "Visa"
    assert scheme_for_aid("a0000000041010") == "Mastercard"
    assert scheme_for_aid("A0000003330101") == "UnionPay"
    assert scheme_for_aid("A0000000999090") == "Other (RID A000000099)"
    assert scheme_for_aid("") == "Unknown"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from([str(n) for n in range(2, 129)] + ["t"]), st.text()))
def test_batch_document_never_keeps_track2_pin_or_biometrics(doc: dict[str, str]) -> None:
    kept = batch_document(doc)
    assert not {"35", "45", "52", "53", "62", "64", "128"} & set(kept)
    assert all(kept[k] == doc[k] for k in kept)


def test_roles() -> None:
    ops = parse_operators({"supervisor_pin_hash": ""})
    assert authorise(ops, "pay", None).role == CASHIER
    assert authorise(ops, "settle", None).role == CASHIER
    with pytest.raises(ConfigError, match="no supervisor PIN is configured"):
        authorise(ops, "refund", "1234")
    from terminal.operators import hash_pin

    ops = parse_operators({"supervisor_pin_hash": hash_pin("2468")})
    assert authorise(ops, "void", "2468").role == SUPERVISOR
    with pytest.raises(NotAuthorised, match="wrong"):
        authorise(ops, "void", "2469")


def test_operators_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'operators.pin'"):
        build_settings({"operators": {"pin": "1234"}}, "x")
    with pytest.raises(ConfigError, match="not a scrypt hash"):
        build_settings({"operators": {"supervisor_pin_hash": "scrypt$3$8$1$00$00"}}, "x")
    with pytest.raises(ConfigError, match="must be a string"):
        build_settings({"operators": {"supervisor_pin_hash": 1234}}, "x")
    assert build_settings({}, "x").operators.supervisor_pin_hash == ""
