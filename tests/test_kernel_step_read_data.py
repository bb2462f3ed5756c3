"""Read application data (EMV Book 3 Section 10.2, and the ODA record rule of 10.3)."""

from __future__ import annotations

import pytest

from emv.kernel import read_data
from emv.kernel.context import KernelTermination
from tests.kernel_step_support import ScriptedCard, base_records, make_ctx, record, rsp, t

# (case, AFL hex) -> every row must terminate (Book 3 10.2: AFL validation).
BAD_AFL_ROWS = [
    ("empty", ""),
    ("not a multiple of 4", "080101"),
    ("SFI 0", "00010100"),
    ("SFI 31", "F8010100"),
    ("low bits of byte 1 set", "09010100"),
    ("first record 0", "08000100"),
    ("last record before first", "08020100"),
    ("more ODA records than in the range", "08010203"),
]


@pytest.mark.parametrize("afl", [r[1] for r in BAD_AFL_ROWS], ids=[r[0] for r in BAD_AFL_ROWS])
def test_afl_validation(afl: str) -> None:
    card = ScriptedCard({})
    ctx = make_ctx(card, card_data={0x94: bytes.fromhex(afl)})
    with pytest.raises(KernelTermination, match="AFL"):
        read_data.read_application_data(ctx)
    assert card.commands == []  # nothing is read from an invalid AFL
    assert ctx.tvr.hex() == "0000000000"


def test_afl_walk_reads_every_record_in_order() -> None:
    records = base_records()
    card = ScriptedCard(
        {
            "00B2010C": rsp(record({0x5A: records[0x5A], 0x5F24: records[0x5F24]})),
            "00B2020C": rsp(record({0x8C: records[0x8C]})),
            "00B20114": rsp(record({0x8D: records[0x8D], 0x8E: records[0x8E]})),
        }
    )
    ctx = make_ctx(card, card_data={0x94: bytes.fromhex("0801020010010100")})
    read_data.read_application_data(ctx)
    assert [c[:4].hex().upper() for c in card.commands] == ["00B2010C", "00B2020C", "00B20114"]
    assert ctx.card_data[0x8E] == records[0x8E]


# (case, AFL, records by READ RECORD P1P2, expected ODA input hex or "oda-fails")
ODA_ROWS = [
    # Book 3 10.3: SFI 1-10 -> only the value of the 70 template is hashed.
    ("SFI 1: template value only", "08010101", {"010C": t(0x70, t(0x5A, "4761"))}, "5A024761"),
    # Book 3 10.3: SFI 11-30 -> the whole record, tag 70 and length included.
    ("SFI 11: whole record", "58010101", {"015C": t(0x70, t(0x5F28, "0276"))}, "70055F28020276"),
    # Records past the ODA count are read but not hashed.
    (
        "only the first N records",
        "08010201",
        {"010C": t(0x70, t(0x9F07, "FF00")), "020C": t(0x70, t(0x9F08, "008C"))},
        "9F0702FF00",
    ),
    # Book 3 10.3: an SFI 11-30 ODA record that is not a 70 template -> ODA failed.
    ("SFI 11 proprietary record", "58010101", {"015C": bytes.fromhex("DEADBEEF")}, "oda-fails"),
]


@pytest.mark.parametrize(
    ("afl", "recs", "expected"), [r[1:] for r in ODA_ROWS], ids=[r[0] for r in ODA_ROWS]
)
def test_oda_record_rule(afl: str, recs: dict[str, bytes], expected: str) -> None:
    table = {"00B2" + p1p2: rsp(data) for p1p2, data in recs.items()}
    ctx = make_ctx(ScriptedCard(table), card_data={0x94: bytes.fromhex(afl)})
    ctx.card_data.update(base_records())  # mandatory data already read elsewhere
    read_data.read_application_data(ctx)
    if expected == "oda-fails":
        assert "oda-record-not-70" in ctx.notes
    else:
        assert ctx.oda_records.hex().upper() == expected
        assert "oda-record-not-70" not in ctx.notes


# (case, record bytes for SFI 1 record 1, expected termination fragment)
BAD_RECORD_ROWS = [
    ("SFI 1 record not a 70 template", t(0x77, t(0x5A, "4761")), "not a 70 template"),
    ("SFI 1 record malformed", bytes.fromhex("7005 5A044761"), "malformed"),
    # Book 3 10.2: a primitive data object repeated in the records -> terminate.
    ("duplicate tag", record(base_records()), "repeats tag 5A"),
]


@pytest.mark.parametrize(
    ("data", "error"), [r[1:] for r in BAD_RECORD_ROWS], ids=[r[0] for r in BAD_RECORD_ROWS]
)
def test_bad_records_terminate(data: bytes, error: str) -> None:
    afl = "08010100"
    table: dict[str, bytes | list[bytes]] = {"00B2010C": rsp(data)}
    if error.startswith("repeats"):
        afl = "08010200"
        table["00B2020C"] = rsp(t(0x70, t(0x5A, "4761739001010010")))
    ctx = make_ctx(ScriptedCard(table), card_data={0x94: bytes.fromhex(afl)})
    with pytest.raises(KernelTermination, match=error):
        read_data.read_application_data(ctx)


def test_read_record_error_status_terminates() -> None:
    """Book 3 10.2: READ RECORD answered other than 9000 -> terminate."""
    ctx = make_ctx(
        ScriptedCard({"00B2010C": rsp(b"", "6A83")}), card_data={0x94: b"\x08\x01\x01\x00"}
    )
    with pytest.raises(KernelTermination, match="6A83"):
        read_data.read_application_data(ctx)


# Book 3 10.2 / 7.2: each missing mandatory object terminates with TVR byte 1 b6
# 'ICC data missing' (20 00 00 00 00) in the transaction record.
@pytest.mark.parametrize("tag", [0x5A, 0x5F24, 0x8C, 0x8D], ids=["5A", "5F24", "8C", "8D"])
def test_missing_mandatory_data(tag: int) -> None:
    recs = base_records({tag: None})
    ctx = make_ctx(
        ScriptedCard({"00B2010C": rsp(record(recs))}), card_data={0x94: b"\x08\x01\x01\x00"}
    )
    with pytest.raises(KernelTermination, match=f"\\({tag:X}\\)"):
        read_data.read_application_data(ctx)
    assert ctx.tvr.hex() == "2000000000"
