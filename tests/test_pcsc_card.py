"""The hardware_sim EMV card through pyscard -> pcscd -> vpcd: SELECT, GPO, READ RECORD."""

from __future__ import annotations

from pathlib import Path

import pytest

from emv import dol
from emv.apdu import ApduChannel, get_processing_options, read_record, select_by_name
from emv.errors import CardRemovedError
from emv.tlv import decode, decode_single, find, flatten
from hardware_sim.card import load_card
from terminal.readers.pcsc import PcscReader
from tests import pcsc_harness
from tests.pcsc_harness import VpcdSlot

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcscd")]

pcsc_daemon = pcsc_harness.pcsc_daemon  # shared session fixtures
vpcd_slot = pcsc_harness.vpcd_slot

VISA_AID = bytes.fromhex("A0000000031010")
PSE = b"1PAY.SYS.DDF01"


def afl_records(afl: bytes) -> list[tuple[int, int]]:
    """(SFI, record) pairs of an Application File Locator (EMV Book 3 10.2)."""
    out = []
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        out += [(sfi, record) for record in range(first, last + 1)]
    return out


def test_visa_credit_select_gpo_read_records(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot.insert(load_card("visa_credit"))
    with PcscReader("POS Sim 00 00") as reader:
        assert reader.wait_for_card(10) == bytes.fromhex("3B80800101")
        channel = ApduChannel(reader)

        pse = channel.send(select_by_name(PSE))
        assert pse.sw == 0x9000
        assert find(decode(pse.data), 0x88) is not None  # SFI of the directory (Book 1 11.3.4)

        selected = channel.send(select_by_name(VISA_AID))
        assert selected.sw == 0x9000
        fci = flatten([decode_single(selected.data, 0x6F)])
        assert fci[0x84] == VISA_AID
        assert fci[0x50] == b"VISA CREDIT"
        pdol = fci[0x9F38]
        assert pdol == bytes.fromhex("9F35019F1A025F2A02")

        pdol_data = dol.build(pdol, {0x9F35: b"\x22", 0x9F1A: b"\x08\x26", 0x5F2A: b"\x08\x26"})
        gpo = channel.send(get_processing_options(pdol_data))
        assert gpo.sw == 0x9000
        gpo_values = flatten([decode_single(gpo.data, 0x77)])
        assert gpo_values[0x82] == bytes.fromhex("3D00")
        records = afl_records(gpo_values[0x94])
        assert records[:3] == [(1, 1), (2, 1), (2, 2)]  # then the ODA records (SFI 3)

        card_data: dict[int, bytes] = {}
        for sfi, number in records:
            record = channel.send(read_record(sfi, number))
            assert record.sw == 0x9000
            card_data.update(flatten([decode_single(record.data, 0x70)]))
    assert card_data[0x5A] == bytes.fromhex("4761739001010119")
    assert card_data[0x5F24] == bytes.fromhex("301231")
    assert card_data[0x5F20] == b"SIMULATED/CARD"
    assert 0x8C in card_data and 0x8E in card_data  # CDOL1 and CVM List reached the terminal
    assert [e.command[:2] for e in channel.trace[:3]] == [b"\x00\xa4", b"\x00\xa4", b"\x80\xa8"]


def test_profile_fault_remove_at_apdu_pulls_the_card(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot.insert(load_card("visa_credit", faults={"remove_at_apdu": 2}))
    with PcscReader("POS Sim 00 00") as reader:
        reader.wait_for_card(10)
        channel = ApduChannel(reader)
        assert channel.send(select_by_name(VISA_AID)).sw == 0x9000
        with pytest.raises(CardRemovedError):
            channel.send(read_record(1, 1))


@pytest.mark.slow
def test_pos_pay_through_pcscd_is_approved(vpcd_slot: VpcdSlot, tmp_path: Path) -> None:
    """The whole terminal (`pos pay --reader pcsc:NAME`) against visa_credit behind vpcd."""
    import json
    import os
    import subprocess
    import sys

    vpcd_slot.insert(load_card("visa_credit"))
    env = dict(os.environ, POS_DATA_DIR=str(tmp_path), **vpcd_slot.daemon.client_env())
    done = subprocess.run(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "-m",
            "terminal",
            "pay",
            "12.34",
            "--reader",
            "pcsc:POS Sim 00 00",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "approved"
    assert result["interface"] == "contact"
    assert result["aid"] == "A0000000031010"
    assert result["pan_masked"] == "476173******0119"
    assert result["amount"] == 1234
    assert result["apdu_count"] >= 6
    assert "4761739001010119" not in done.stdout + done.stderr
