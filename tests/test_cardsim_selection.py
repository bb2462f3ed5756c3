"""Card-side application selection (EMV Book 1 11.3 and 12): PSE, exact, partial and next
occurrence SELECT, blocked application and blocked card."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emv import apdu, tlv
from hardware_sim.card import ProfileError, list_profiles, load_card
from tests.cardsim_support import body, sw

PSE = b"1PAY.SYS.DDF01"
VISA_CREDIT = bytes.fromhex("A0000000031010")
VISA_DEBIT = bytes.fromhex("A0000000032010")
VISA_RID = bytes.fromhex("A000000003")


def powered(profile: str, **kw):
    card = load_card(profile, **kw)
    card.power_on()
    return card


def test_every_builtin_profile_loads_and_is_listed_with_a_description():
    names = dict(list_profiles())
    expected = {
        "visa_credit",
        "mc_debit",
        "sda_legacy",
        "dda_card",
        "two_apps",
        "expired_card",
        "revoked_issuer",
        "pin_blocked",
        "tampered_sda",
        "issuer_script",
    }
    assert expected <= set(names)
    for name in names:
        assert names[name], f"{name} has no description"
        card = load_card(name)
        assert card.atr == bytes.fromhex("3B80800101")
        assert card.profile_name == name


def test_unknown_profile_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="no card profile named 'nope'.*visa_credit"):
        load_card("nope")


def test_bad_override_is_a_one_sentence_profile_error():
    with pytest.raises(ProfileError, match="field 'expiry' is not a valid YYMMDD"):
        load_card("visa_credit", expiry="301399")
    with pytest.raises(ProfileError, match="unknown card profile field 'colour'"):
        load_card("visa_credit", colour="red")


def test_pse_fci_and_directory_records_of_two_apps():
    card = powered("two_apps")
    fci = card.process(apdu.select_by_name(PSE).to_bytes())
    assert sw(fci) == 0x9000
    flat = tlv.flatten(tlv.decode(body(fci)))
    assert flat[0x84] == PSE and flat[0x88] == b"\x01" and flat[0x5F2D] == b"en"
    entries = []
    for rec in (1, 2, 3):
        response = card.process(apdu.read_record(1, rec).to_bytes())
        if rec == 3:
            assert sw(response) == 0x6A83  # end of the directory
            break
        record = tlv.decode_single(body(response), 0x70)
        entry = record.find(0x61)
        assert entry is not None
        entries.append(tlv.flatten(entry.children or ()))
    assert [(e[0x4F], e[0x50], e[0x87]) for e in entries] == [
        (VISA_CREDIT, b"VISA CREDIT", b"\x82"),
        (VISA_DEBIT, b"VISA DEBIT", b"\x81"),
    ]


def test_card_without_pse_answers_6a82_to_pse():
    card = powered("sda_legacy")
    assert card.process(apdu.select_by_name(PSE).to_bytes()) == bytes.fromhex("6A82")


def test_exact_select_returns_the_adf_fci():
    card = powered("visa_credit")
    response = card.process(apdu.select_by_name(VISA_CREDIT).to_bytes())
    assert sw(response) == 0x9000
    fci = tlv.decode_single(body(response), 0x6F)
    assert fci.find(0x84).value == VISA_CREDIT
    a5 = tlv.flatten(fci.find(0xA5).children)
    assert a5[0x50] == b"VISA CREDIT"
    assert a5[0x87] == b"\x01"
    assert a5[0x9F38] == bytes.fromhex("9F35019F1A025F2A02")
    assert a5[0x5F2D] == b"enfr"


def test_partial_select_and_next_occurrence_walk_every_matching_application():
    card = powered("two_apps")
    first = card.process(apdu.select_by_name(VISA_RID).to_bytes())
    assert sw(first) == 0x9000
    assert tlv.flatten(tlv.decode(body(first)))[0x84] == VISA_CREDIT
    second = card.process(apdu.select_by_name(VISA_RID, next_occurrence=True).to_bytes())
    assert sw(second) == 0x9000
    assert tlv.flatten(tlv.decode(body(second)))[0x84] == VISA_DEBIT
    third = card.process(apdu.select_by_name(VISA_RID, next_occurrence=True).to_bytes())
    assert third == bytes.fromhex("6A82")


def test_unknown_aid_is_6a82():
    card = powered("visa_credit")
    assert card.process(apdu.select_by_name(bytes.fromhex("A0000000041010")).to_bytes()) == (
        bytes.fromhex("6A82")
    )


def test_blocked_application_answers_fci_with_6283_and_refuses_gpo():
    card = powered("visa_credit", blocked=True)
    response = card.process(apdu.select_by_name(VISA_CREDIT).to_bytes())
    assert sw(response) == 0x6283
    assert tlv.decode_single(body(response), 0x6F).find(0x84).value == VISA_CREDIT
    gpo = card.process(apdu.get_processing_options(bytes(5)).to_bytes())
    assert gpo == bytes.fromhex("6985")


def test_blocked_card_answers_6a81_to_every_select():
    card = powered("visa_credit", card_blocked=True)
    assert card.process(apdu.select_by_name(PSE).to_bytes()) == bytes.fromhex("6A81")
    assert card.process(apdu.select_by_name(VISA_CREDIT).to_bytes()) == bytes.fromhex("6A81")


def test_malformed_apdus_get_status_words_not_exceptions():
    card = powered("visa_credit")
    assert card.process(b"\x00\xa4") == bytes.fromhex("6700")
    assert card.process(bytes.fromhex("00A4040007A00000")) == bytes.fromhex("6700")  # Lc lies
    assert card.process(bytes.fromhex("00FF000000")) == bytes.fromhex("6D00")
    assert card.process(bytes.fromhex("80A4040007A000000003101000")) == bytes.fromhex("6E00")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.tuples(
                st.sampled_from([0x00, 0x80, 0x84, 0x04]),
                st.sampled_from(
                    [0xA4, 0xB2, 0xA8, 0xCA, 0x20, 0x84, 0x88, 0x82, 0xAE, 0x1E, 0x24, 0xDA]
                ),
                st.integers(0, 255),
                st.integers(0, 255),
                st.binary(min_size=1, max_size=40),
            ).map(lambda t: bytes(t[:4]) + bytes([len(t[4])]) + t[4] + b"\x00"),
        ),
        max_size=12,
    )
)
def test_random_apdus_always_get_a_status_word_and_never_hit_an_internal_error(commands):
    card = _FUZZ_CARD
    card.power_on()
    card.process(apdu.select_by_name(VISA_CREDIT).to_bytes())
    for command in commands:
        response = card.process(command)
        assert len(response) >= 2
        assert card.last_error is None, card.last_error


_FUZZ_CARD = load_card("visa_credit")
