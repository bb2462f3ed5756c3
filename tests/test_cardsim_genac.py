"""GENERATE AC on the card (EMV Book 3 6.5.5, Book 2 8.1/8.2/6.6): card risk management,
cryptograms checked against pyemv as an independent oracle, ARPC method 1 through EXTERNAL
AUTHENTICATE and through CDOL2 tag 91, CDA checked with the terminal-side emv.oda."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import pytest
from pyemv import ac as pyemv_ac
from pyemv import kd as pyemv_kd

from emv import apdu, dol, oda, tlv
from emv.capk import CapkStore
from hardware_sim.test_keys import issuer_for_pan
from tests.cardsim_support import body, genac_fields, oracle_ac, ready, sw

AAC, TC, ARQC, CDA = 0x00, 0x40, 0x80, 0x10
TEST_CAPK = Path(str(resources.files("hardware_sim.data.pki").joinpath("test_capk.json")))


def check_cryptogram(s, fields, terminal_values):
    app = s.card.applications[0].profile
    values = {**terminal_values, 0x82: app.aip, 0x9F36: fields[0x9F36], 0x9F10: fields[0x9F10]}
    assert fields[0x9F26] == oracle_ac(app.pan, app.psn, values)


def issuer_arpc(pan: str, psn: str, atc: bytes, arqc: bytes, arc: bytes) -> bytes:
    """What the issuer sends back: ARPC method 1 with pyemv, as 91 = ARPC || ARC."""
    icc_mk = pyemv_kd.derive_icc_mk_a(issuer_for_pan(pan).imk_ac, pan, psn)
    session = pyemv_kd.derive_common_sk(icc_mk, atc + bytes(6))
    return pyemv_ac.generate_arpc_1(session, arqc, arc) + arc


def cdol1_values(s, data: bytes) -> dict[int, bytes]:
    return dol.split(s.data[0x8C], data)


def test_arqc_format_2_matches_the_pyemv_oracle():
    s = ready("visa_credit")
    data = s.cdol1_data()
    response = s.card.process(apdu.generate_ac(ARQC, data).to_bytes())
    assert sw(response) == 0x9000
    fields = genac_fields(response)
    assert fields[0x9F27] == b"\x80"
    assert fields[0x9F36] == bytes.fromhex("0029")  # 40 + 1
    # 06 01 12 03 | CVR: ARQC, 2nd AC not requested; velocity (online-only card, limit 0)
    assert fields[0x9F10] == bytes.fromhex("06011203A02000")
    check_cryptogram(s, fields, cdol1_values(s, data))


def test_default_card_goes_online_then_approves_with_tc_after_external_authenticate():
    s = ready("visa_credit")
    data = s.cdol1_data()
    first = s.card.process(apdu.generate_ac(TC | CDA, data).to_bytes())
    assert sw(first) == 0x9000
    template = tlv.decode_single(body(first), 0x77)
    fields = tlv.flatten(template.children)
    assert fields[0x9F27] == b"\x80"  # TC asked, the online-only card answers ARQC
    assert 0x9F26 not in fields and len(fields[0x9F4B]) == 128

    # CDA as the terminal checks it; the AC inside the signature is the oracle's ARQC
    static = oda.static_data_to_authenticate(
        s.records, [True, True, True, False, False], s.data[0x9F4A], s.data
    )
    store = CapkStore.load(extra_files=[TEST_CAPK])
    icc = oda.recover_icc_key(
        store, bytes.fromhex("A000000003"), s.data, static, date(2026, 11, 24)
    )
    assert icc.ok, icc.reason
    cda = oda.verify_cda_response(
        icc.key, template.value, s.pdol_data, data, None, bytes.fromhex("11223344")
    )
    assert cda.ok, cda.reason
    assert cda.cid == b"\x80"
    arqc = cda.application_cryptogram
    check_cryptogram(s, {**fields, 0x9F26: arqc}, cdol1_values(s, data))

    app = s.card.applications[0].profile
    iad = issuer_arpc(app.pan, app.psn, fields[0x9F36], arqc, b"00")
    assert s.card.process(apdu.external_authenticate(iad).to_bytes()) == b"\x90\x00"
    cdol2 = s.cdol2_data({0x8A: b"00"})
    second = s.card.process(apdu.generate_ac(TC | CDA, cdol2).to_bytes())
    assert sw(second) == 0x9000
    template2 = tlv.decode_single(body(second), 0x77)
    fields2 = tlv.flatten(template2.children)
    assert fields2[0x9F27] == b"\x40"
    assert fields2[0x9F10] == bytes.fromhex("06011203602000")  # TC after ARQC
    cda2 = oda.verify_cda_response(
        icc.key, template2.value, s.pdol_data, data, cdol2, bytes.fromhex("11223344")
    )
    assert cda2.ok, cda2.reason
    values2 = {**cdol1_values(s, data), **dol.split(s.data[0x8D], cdol2)}
    check_cryptogram(s, {**fields2, 0x9F26: cda2.application_cryptogram}, values2)
    card = s.card
    assert card.process(apdu.get_data(0x9F13).to_bytes()) == bytes.fromhex("9F130200299000")
    # a third GENERATE AC is not allowed
    assert card.process(apdu.generate_ac(TC, cdol2).to_bytes()) == b"\x69\x85"


def test_wrong_arpc_fails_external_authenticate_and_second_ac_is_aac():
    s = ready("visa_credit")
    first = genac_fields(s.card.process(apdu.generate_ac(ARQC, s.cdol1_data()).to_bytes()))
    bad = bytes(8) + b"00"
    assert s.card.process(apdu.external_authenticate(bad).to_bytes()) == b"\x63\x00"
    # only once per transaction
    assert s.card.process(apdu.external_authenticate(bad).to_bytes()) == b"\x69\x85"
    second = s.card.process(apdu.generate_ac(TC, s.cdol2_data({0x8A: b"00"})).to_bytes())
    fields = genac_fields(second)
    assert fields[0x9F27] == b"\x00"
    cvr = fields[0x9F10][4:]
    assert cvr[0] & 0x08  # issuer authentication failed
    assert cvr[0] & 0xC0 == 0x00 and cvr[0] & 0x30 == 0x20  # 2nd AAC, 1st ARQC
    assert fields[0x9F36] == first[0x9F36]
    assert s.card.process(apdu.get_data(0x9F13).to_bytes()) == bytes.fromhex("9F130200279000")


@pytest.mark.parametrize(("good", "cid"), [(True, b"\x40"), (False, b"\x00")])
def test_issuer_authentication_data_in_cdol2(good, cid):
    s = ready("mc_debit")
    data = s.cdol1_data()
    first = genac_fields(s.card.process(apdu.generate_ac(ARQC, data).to_bytes()))
    assert first[0x9F27] == b"\x80"
    check_cryptogram(s, first, cdol1_values(s, data))
    app = s.card.applications[0].profile
    arqc = first[0x9F26] if good else bytes(8)
    iad = issuer_arpc(app.pan, app.psn, first[0x9F36], arqc, b"00")
    # EXTERNAL AUTHENTICATE is not supported: AIP byte 1 b3 is off
    assert s.card.process(apdu.external_authenticate(iad).to_bytes()) == b"\x6d\x00"
    second = s.card.process(apdu.generate_ac(TC, s.cdol2_data({0x91: iad, 0x8A: b"00"})).to_bytes())
    fields = genac_fields(second)
    assert fields[0x9F27] == cid
    assert bool(fields[0x9F10][4] & 0x08) is (not good)


def test_format_1_offline_tc_matches_the_oracle_and_atc_counts_every_first_ac():
    s = ready("sda_legacy")
    data = s.cdol1_data()
    response = s.card.process(apdu.generate_ac(TC, data).to_bytes())
    assert tlv.decode_single(body(response)).tag == 0x80
    fields = genac_fields(response)
    assert fields[0x9F27] == b"\x40"  # 201 - 198 = 3 offline, lower limit 3: still offline
    assert fields[0x9F36] == bytes.fromhex("00C9")
    check_cryptogram(s, fields, cdol1_values(s, data))
    # second transaction: 4 > 3, the card asks to go online
    card = s.card
    card.power_on()
    card.process(apdu.select_by_name(bytes.fromhex("A0000000031010")).to_bytes())
    assert sw(card.process(apdu.get_processing_options(b"").to_bytes())) == 0x9000
    again = genac_fields(card.process(apdu.generate_ac(TC, data).to_bytes()))
    assert again[0x9F27] == b"\x80"
    assert again[0x9F36] == bytes.fromhex("00CA")
    assert again[0x9F10][5] & 0x20  # exceeded velocity checking counters


def test_never_upgrades_and_aac_ends_the_transaction():
    s = ready("dda_card")
    response = genac_fields(s.card.process(apdu.generate_ac(AAC, s.cdol1_data()).to_bytes()))
    assert response[0x9F27] == b"\x00"
    check_cryptogram(s, response, cdol1_values(s, s.cdol1_data()))
    assert s.card.process(apdu.generate_ac(TC, s.cdol2_data({0x8A: b"00"})).to_bytes()) == (
        b"\x69\x85"
    )


def test_unable_to_go_online():
    offline_capable = ready("dda_card")
    offline_capable.card.process(apdu.generate_ac(ARQC, offline_capable.cdol1_data()).to_bytes())
    z3 = offline_capable.cdol2_data({0x8A: b"Z3"})
    fields = genac_fields(offline_capable.card.process(apdu.generate_ac(TC, z3).to_bytes()))
    assert fields[0x9F27] == b"\x40"
    assert fields[0x9F10][4] & 0x01  # unable to go online
    online_only = ready("visa_credit")
    online_only.card.process(apdu.generate_ac(ARQC, online_only.cdol1_data()).to_bytes())
    z3 = online_only.cdol2_data({0x8A: b"Z3"})
    fields = genac_fields(online_only.card.process(apdu.generate_ac(TC, z3).to_bytes()))
    assert fields[0x9F27] == b"\x00"


def test_issuer_decline_gives_aac():
    s = ready("mc_debit")
    first = genac_fields(s.card.process(apdu.generate_ac(ARQC, s.cdol1_data()).to_bytes()))
    app = s.card.applications[0].profile
    iad = issuer_arpc(app.pan, app.psn, first[0x9F36], first[0x9F26], b"05")
    cdol2 = s.cdol2_data({0x91: iad, 0x8A: b"05"})
    fields = genac_fields(s.card.process(apdu.generate_ac(TC, cdol2).to_bytes()))
    assert fields[0x9F27] == b"\x00"


def test_generate_ac_errors():
    s = ready("visa_credit")
    card = s.card
    assert card.process(apdu.generate_ac(TC, bytes(10)).to_bytes()) == b"\x67\x00"
    assert card.process(apdu.generate_ac(0xC0, s.cdol1_data()).to_bytes()) == b"\x6a\x86"
    fresh = ready("visa_credit")
    fresh.card.power_on()
    assert fresh.card.process(apdu.generate_ac(TC, s.cdol1_data()).to_bytes()) == b"\x69\x85"


def test_interrupted_online_transaction_is_reported_next_time():
    s = ready("dda_card")
    s.card.process(apdu.generate_ac(ARQC, s.cdol1_data()).to_bytes())
    s.card.power_on()  # torn: no second GENERATE AC
    s.card.process(apdu.select_by_name(bytes.fromhex("A0000000031010")).to_bytes())
    s.gpo()
    fields = genac_fields(s.card.process(apdu.generate_ac(TC, s.cdol1_data()).to_bytes()))
    assert fields[0x9F27] == b"\x80"
    assert fields[0x9F10][5] & 0x80  # last online transaction not completed
