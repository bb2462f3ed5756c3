"""Replay card matching rules, replay files, the in-process reader (removal, delay) and the
card's fault injection."""

from __future__ import annotations

import json

import pytest

from emv import apdu, tlv
from emv.apdu import ApduChannel
from emv.errors import CardRemovedError, TlvError
from hardware_sim.card import load_card
from hardware_sim.reader import InProcessReader
from hardware_sim.replay import ReplayCard, ReplayFileError, replay_from_trace

SELECT_VISA = bytes.fromhex("00A4040007A000000003101000")


def replay(*exchanges: tuple[str, str]) -> ReplayCard:
    return ReplayCard.from_dict(
        {
            "atr": "3B 80 80 01 01",
            "exchanges": [{"command": c, "response": r} for c, r in exchanges],
        }
    )


def test_wildcard_byte_and_trailing_star():
    card = replay(("00A4040007A0000000031010??", "6F009000"), ("80A8*", "7700 9000"))
    assert card.atr == bytes.fromhex("3B80800101")
    assert card.process(SELECT_VISA) == bytes.fromhex("6F009000")
    assert card.process(bytes.fromhex("80A8000002830000")) == bytes.fromhex("77009000")
    assert card.mismatches == []


def test_star_matches_zero_remaining_bytes_but_pattern_needs_its_own_bytes():
    card = replay(("80CA9F17*", "9F1701039000"))
    assert card.process(bytes.fromhex("80CA9F17")) == bytes.fromhex("9F1701039000")
    short = replay(("80CA9F17??", "9000"))
    assert short.process(bytes.fromhex("80CA9F17")) == b"\x6d\x00"


def test_first_unused_exchange_wins_then_the_next_one():
    card = replay(("00B2*", "7001AA9000"), ("00B2*", "7001BB9000"))
    assert card.process(bytes.fromhex("00B2010C00")) == bytes.fromhex("7001AA9000")
    assert card.process(bytes.fromhex("00B2010C00")) == bytes.fromhex("7001BB9000")
    assert card.process(bytes.fromhex("00B2010C00")) == b"\x6d\x00"
    assert card.mismatches == ["00B2010C00"]
    assert card.unused == 0


def test_exact_pattern_is_case_and_space_insensitive_and_length_exact():
    card = replay(("00 a4 04 00 07 a0 00 00 00 03 10 10 00", "9000"))
    assert card.process(SELECT_VISA + b"\x00") == b"\x6d\x00"  # longer: no match
    assert card.process(SELECT_VISA) == b"\x90\x00"


def test_replay_file_round_trip_from_a_real_trace(tmp_path):
    real = load_card("visa_credit")
    channel = ApduChannel(InProcessReader(real))
    channel.send(apdu.select_by_name(b"1PAY.SYS.DDF01"))
    channel.send(apdu.read_record(1, 1))
    trace = [{"command": e.command.hex(), "response": e.response.hex()} for e in channel.trace]
    path = tmp_path / "visa.json"
    path.write_text(json.dumps(replay_from_trace(trace, real.atr)))
    card = ReplayCard.from_file(path)
    assert card.process(channel.trace[0].command) == channel.trace[0].response
    assert card.process(channel.trace[1].command) == channel.trace[1].response
    assert card.mismatches == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ("[]", "top level must be a JSON object"),
        ('{"exchanges": 3}', "field 'exchanges' must be a list"),
        ('{"atr": "3BZZ", "exchanges": []}', "field 'atr' is not valid hex"),
        ('{"exchanges": [{"command": "00A4"}]}', "exchanges\\[0\\] needs 'command' and 'response'"),
        ('{"exchanges": [{"command": "0?A4", "response": "9000"}]}', "exchanges\\[0\\].command"),
        ('{"exchanges": [{"command": "00*A4", "response": "9000"}]}', "exchanges\\[0\\].command"),
        ('{"exchanges": [{"command": "00A4", "response": "90"}]}', "lacks the status word"),
    ],
)
def test_invalid_replay_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReplayFileError, match=message) as info:
        ReplayCard.from_file(path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)


def test_missing_replay_file():
    with pytest.raises(ReplayFileError, match="cannot read replay file"):
        ReplayCard.from_file("/nonexistent/replay.json")


def test_reader_removal_at_apdu_n_and_after():
    reader = InProcessReader(load_card("visa_credit"), remove_at_apdu=2)
    assert reader.transmit(apdu.select_by_name(b"1PAY.SYS.DDF01").to_bytes())[-2:] == b"\x90\x00"
    with pytest.raises(CardRemovedError):
        reader.transmit(apdu.read_record(1, 1).to_bytes())
    with pytest.raises(CardRemovedError):
        reader.transmit(apdu.read_record(1, 1).to_bytes())
    assert reader.exchanges == 2
    reader.insert()
    assert reader.transmit(apdu.select_by_name(b"1PAY.SYS.DDF01").to_bytes())[-2:] == b"\x90\x00"


def test_reader_takes_removal_and_delay_from_the_card_faults():
    slept: list[float] = []
    card = load_card(
        "visa_credit", faults={"remove_at_apdu": 3, "delay_s": 0.25}, sleep=slept.append
    )
    reader = InProcessReader(card)
    reader.transmit(apdu.select_by_name(b"1PAY.SYS.DDF01").to_bytes())
    reader.transmit(apdu.read_record(1, 1).to_bytes())
    with pytest.raises(CardRemovedError):
        reader.transmit(apdu.read_record(1, 2).to_bytes())
    assert slept == [0.25, 0.25]


def test_malformed_tlv_and_wrong_sw_faults_count_apdus_from_power_on():
    card = load_card("visa_credit", faults={"malformed_tlv_at_apdu": 1, "wrong_sw_at_apdu": 2})
    card.power_on()
    first = card.process(SELECT_VISA)
    assert first[-2:] == b"\x90\x00"
    with pytest.raises(TlvError):
        tlv.decode(first[:-2])
    assert card.process(SELECT_VISA) == b"\x6f\x00"
    assert card.process(SELECT_VISA)[-2:] == b"\x90\x00"
    card.power_on()
    with pytest.raises(TlvError):
        tlv.decode(card.process(SELECT_VISA)[:-2])


def test_malformed_named_record():
    card = load_card("visa_credit", faults={"malformed_record": "2.1"})
    card.power_on()
    card.process(SELECT_VISA)
    card.process(apdu.get_processing_options(bytes(5)).to_bytes())
    good = card.process(apdu.read_record(1, 1).to_bytes())
    tlv.decode(good[:-2])
    bad = card.process(apdu.read_record(2, 1).to_bytes())
    with pytest.raises(TlvError):
        tlv.decode(bad[:-2])
