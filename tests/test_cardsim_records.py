"""GET PROCESSING OPTIONS (Book 3 6.5.8), READ RECORD (6.5.11), GET DATA (6.5.7), the
records' content and ODA personalisation checked with the terminal-side emv.oda."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from emv import apdu, oda, tlv
from emv.capk import CapkStore, RevocationList
from tests.cardsim_support import TERMINAL_DATA, body, ready, start, sw

TODAY = date(2026, 11, 24)
TEST_CAPK = Path(str(resources.files("hardware_sim.data.pki").joinpath("test_capk.json")))


def test_gpo_format_2_with_pdol_data():
    s = start("visa_credit")
    response = s.gpo()
    assert s.pdol_data == bytes.fromhex("2208260826")
    assert sw(response) == 0x9000
    template = tlv.decode_single(body(response), 0x77)
    flat = tlv.flatten(template.children)
    assert flat[0x82] == bytes.fromhex("3D00")
    # SFI 1 rec 1 (ODA), SFI 2 recs 1-2 (ODA), SFI 3 recs 1-2: certificates, not signed
    assert flat[0x94] == bytes.fromhex("080101011001020218010200")


def test_gpo_format_1_without_pdol():
    s = start("mc_debit")
    response = s.card.process(apdu.get_processing_options(b"").to_bytes())
    assert sw(response) == 0x9000
    value = tlv.decode_single(body(response), 0x80).value
    assert value[:2] == bytes.fromhex("3900")
    assert value[2:] == bytes.fromhex("080101001001020218010200")


def test_gpo_wrong_pdol_length_is_6700_and_can_be_retried():
    s = start("visa_credit")
    assert s.card.process(apdu.get_processing_options(bytes(4)).to_bytes()) == b"\x67\x00"
    assert s.card.process(apdu.get_processing_options(bytes(6)).to_bytes()) == b"\x67\x00"
    assert sw(s.gpo()) == 0x9000
    assert s.card.process(apdu.get_processing_options(bytes(5)).to_bytes()) == b"\x69\x85"


def test_gpo_without_83_template_is_6a80():
    s = start("visa_credit")
    assert s.card.process(bytes.fromhex("80A8000002840000")) == b"\x6a\x80"


def test_gpo_conditions_not_satisfied_flag():
    s = start("visa_credit", gpo_conditions_not_satisfied=True)
    assert sw(s.gpo()) == 0x6985


def test_read_record_along_the_afl_and_off_it():
    s = ready("visa_credit")
    assert s.data[0x5A] == bytes.fromhex("4761739001010119")
    assert s.data[0x5F34] == b"\x01"
    assert s.data[0x5F24] == bytes.fromhex("301231")
    assert s.data[0x57] == bytes.fromhex("4761739001010119D30122010000000000")
    assert s.data[0x8E] == bytes.fromhex("000000000000000044035E031F03")
    assert s.data[0x9F0F] == bytes.fromhex("DC4004F800")
    assert {0x8F, 0x90, 0x9F32, 0x9F46, 0x9F47} <= set(s.data)
    card = s.card
    assert card.process(apdu.read_record(2, 3).to_bytes()) == b"\x6a\x83"
    assert card.process(apdu.read_record(9, 1).to_bytes()) == b"\x6a\x82"
    assert card.process(bytes.fromhex("00B2000C00")) == b"\x6a\x86"  # record 0


def test_get_data_counters():
    s = start("visa_credit")
    card = s.card
    assert card.process(apdu.get_data(0x9F36).to_bytes()) == bytes.fromhex("9F360200289000")
    assert card.process(apdu.get_data(0x9F13).to_bytes()) == bytes.fromhex("9F130200279000")
    assert card.process(apdu.get_data(0x9F17).to_bytes()) == bytes.fromhex("9F1701039000")
    assert card.process(apdu.get_data(0x9F4F).to_bytes()) == b"\x6a\x88"


def test_get_data_log_format_and_log_records_after_a_transaction():
    s = ready("mc_debit")
    card = s.card
    response = card.process(apdu.get_data(0x9F4F).to_bytes())
    assert response == bytes.fromhex("9F4F109F27019F02065F2A029A039C019F36029000")
    assert card.process(apdu.read_record(11, 1).to_bytes()) == b"\x6a\x83"
    card.process(apdu.generate_ac(0x00, s.cdol1_data()).to_bytes())  # AAC: logged
    log = body(card.process(apdu.read_record(11, 1).to_bytes()))
    assert log == bytes.fromhex("00000000001234082626112400000D")


@pytest.mark.parametrize(
    ("profile", "ok", "reason"),
    [("sda_legacy", True, ""), ("tampered_sda", False, "hash"), ("revoked_issuer", False, "")],
)
def test_static_data_authentication_as_the_terminal_sees_it(profile, ok, reason):
    s = ready(profile)
    afl_flags = []
    for i in range(0, len(s.afl), 4):
        first, last, count = s.afl[i + 1 : i + 4]
        afl_flags += [rec < first + count for rec in range(first, last + 1)]
    static = oda.static_data_to_authenticate(s.records, afl_flags, s.data.get(0x9F4A), s.data)
    store = CapkStore.load(extra_files=[TEST_CAPK])
    rid = bytes.fromhex("A000000003")
    if profile == "revoked_issuer":
        result = oda.recover_icc_key(store, rid, s.data, static, TODAY, RevocationList.load())
    else:
        result = oda.verify_sda(store, rid, s.data, static, TODAY, RevocationList.load())
    assert result.ok is ok, result.reason
    if reason:
        assert reason in result.reason.lower()


def test_dda_internal_authenticate_verifies_with_the_recovered_icc_key():
    s = ready("dda_card")
    flags = []
    for i in range(0, len(s.afl), 4):
        first, last, count = s.afl[i + 1 : i + 4]
        flags += [rec < first + count for rec in range(first, last + 1)]
    static = oda.static_data_to_authenticate(s.records, flags, s.data.get(0x9F4A), s.data)
    store = CapkStore.load(extra_files=[TEST_CAPK])
    icc = oda.recover_icc_key(store, bytes.fromhex("A000000003"), s.data, static, TODAY)
    assert icc.ok, icc.reason
    ddol_data = TERMINAL_DATA[0x9F37]
    response = s.card.process(apdu.internal_authenticate(ddol_data).to_bytes())
    assert sw(response) == 0x9000
    signature = tlv.flatten(tlv.decode(body(response)))[0x9F4B]
    result = oda.verify_dda(icc.key, signature, ddol_data)
    assert result.ok, result.reason
    assert result.icc_dynamic_number == bytes(range(1, 9))


def test_internal_authenticate_on_an_sda_card_is_6a81():
    s = ready("sda_legacy")
    assert s.card.process(apdu.internal_authenticate(bytes(4)).to_bytes()) == b"\x6a\x81"
