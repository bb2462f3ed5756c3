"""Issuer script commands on the card (EMV Book 3 6.5.1-6.5.3, 6.5.10; Book 2 9) with the
secure messaging scheme of hardware_sim.card.secure_messaging."""

from __future__ import annotations

from emv import apdu, tlv
from hardware_sim.card import ScriptResult
from hardware_sim.card.pin import format2_block
from hardware_sim.card.secure_messaging import issuer_script, script_command
from tests.cardsim_support import genac_fields, ready

ARQC, TC = 0x80, 0x40
VISA = bytes.fromhex("A0000000031010")


def online(profile: str = "issuer_script"):
    s = ready(profile)
    fields = genac_fields(s.card.process(apdu.generate_ac(ARQC, s.cdol1_data()).to_bytes()))
    assert fields[0x9F27] == b"\x80"
    return s, fields


def command(s, fields, header: str, data: bytes = b"", **kw) -> bytes:
    app = s.card.applications[0].profile
    return script_command(
        app.pan, app.psn, fields[0x9F36], fields[0x9F26], bytes.fromhex(header), data, **kw
    )


def test_application_block_script_then_second_ac_is_aac_and_select_6283():
    s, fields = online()
    block = command(s, fields, "841E0000")
    assert block[:5] == bytes.fromhex("841E000008") and len(block) == 13
    assert s.card.process(block) == b"\x90\x00"
    second = genac_fields(
        s.card.process(apdu.generate_ac(TC, s.cdol2_data({0x8A: b"00"})).to_bytes())
    )
    assert second[0x9F27] == b"\x00"
    assert second[0x9F10][6] >> 4 == 1  # one script command processed
    assert s.card.script_results == [ScriptResult("APPLICATION BLOCK", 0x9000)]
    s.card.power_on()
    assert s.card.process(apdu.select_by_name(VISA).to_bytes())[-2:] == b"\x62\x83"


def test_application_unblock_script():
    s, fields = online()
    s.card.process(command(s, fields, "841E0000"))
    assert s.card.process(command(s, fields, "84180000")) == b"\x90\x00"
    assert not s.card.applications[0].blocked


def test_bad_mac_is_6988_and_reported_in_the_cvr():
    s, fields = online()
    good = command(s, fields, "841E0000")
    forged = good[:-1] + bytes([good[-1] ^ 1])
    assert s.card.process(forged) == b"\x69\x88"
    assert not s.card.applications[0].blocked
    second = genac_fields(
        s.card.process(apdu.generate_ac(TC, s.cdol2_data({0x8A: b"00"})).to_bytes())
    )
    assert second[0x9F10][6] == 0x18  # 1 command, script processing failed
    assert s.card.script_results == [ScriptResult("APPLICATION BLOCK", 0x6988)]


def test_script_before_any_cryptogram_is_refused():
    s = ready("issuer_script")
    assert s.card.process(bytes.fromhex("841E000008") + bytes(8)) == b"\x69\x85"


def test_pin_unblock_resets_the_try_counter():
    s, fields = online("pin_blocked")
    assert fields[0x9F10][5] & 0x40  # PIN try limit exceeded drove it online
    assert s.card.process(command(s, fields, "84240000")) == b"\x90\x00"
    assert s.card.pin_try_counter == 3
    assert s.card.process(apdu.verify(format2_block("1234"), 0x80).to_bytes()) == b"\x90\x00"


def test_pin_change_with_enciphered_new_pin():
    s, fields = online()
    change = command(s, fields, "84240002", new_pin_block=format2_block("8642"))
    assert len(change) == 5 + 8 + 8
    assert s.card.process(change) == b"\x90\x00"
    assert s.card.test_pin == "8642"
    assert s.card.process(apdu.verify(format2_block("1234"), 0x80).to_bytes()) == b"\x63\xc2"
    assert s.card.process(apdu.verify(format2_block("8642"), 0x80).to_bytes()) == b"\x90\x00"


def test_put_data_updates_a_card_risk_limit_only():
    s, fields = online("dda_card")
    assert s.card.process(command(s, fields, "04DA9F14", b"\x07")) == b"\x90\x00"
    assert s.card.process(apdu.get_data(0x9F14).to_bytes()) == bytes.fromhex("9F1401079000")
    assert s.card.process(command(s, fields, "04DA5F24", bytes(3))) == b"\x6a\x88"


def test_issuer_script_template_carries_the_commands():
    s, fields = online()
    cmds = [command(s, fields, "841E0000"), command(s, fields, "84180000")]
    template = tlv.decode_single(issuer_script(cmds, script_id=b"\x00\x00\x00\x01"), 0x72)
    items = template.children
    assert items[0].tag == 0x9F18
    assert [i.value for i in items[1:]] == cmds
    assert [s.card.process(i.value) for i in items[1:]] == [b"\x90\x00", b"\x90\x00"]
