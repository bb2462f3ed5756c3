"""Card profile loading rules: validation messages, overrides, extends, derived data."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_sim.card import load_card
from hardware_sim.card.profile import ProfileError, build_profile, raw_profile, track2_equivalent
from hardware_sim.replay import CommandPattern


def broken(**app_changes):
    raw = copy.deepcopy(raw_profile("visa_credit"))
    raw["applications"][0].update(app_changes)
    return raw


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cdol1": "9F0206 9F0306"}, "cdol1' lacks the cryptogram data element\\(s\\) 9F1A, 95"),
        ({"afl": [[1, 1, 2, 1]]}, "names record 1.2 which the profile lacks"),
        ({"afl": [[1, 1, 1, 2]]}, "breaks the Book 3 10.2 rules"),
        ({"aip": "3D"}, "field 'aip' must be 2 bytes"),
        ({"pan": "47617390010101X9"}, "field 'pan' must be a string of 12-19 digits"),
        ({"oda": "xda"}, "field 'oda' must be one of none, sda, dda, cda"),
        ({"pdol": "9F"}, "field 'pdol' is not a valid data object list"),
        ({"records": {"1.1": {"9F99": None}}}, "asks for tag 9F99 with no value"),
        ({"gpo_format": 3}, "field 'gpo_format' must be an integer from 1 to 2"),
    ],
)
def test_profile_errors_name_the_field(changes, message):
    with pytest.raises(ProfileError, match=message):
        build_profile("visa_credit", broken(**changes))


def test_faults_are_validated():
    with pytest.raises(ProfileError, match="faults: unknown field 'explode'"):
        load_card("visa_credit", faults={"explode": 1})
    with pytest.raises(ProfileError, match="'delay_s' must be a number of seconds"):
        load_card("visa_credit", faults={"delay_s": -1})


def test_extends_changes_only_what_it_names():
    base = load_card("visa_credit").applications[0].profile
    expired = load_card("expired_card").applications[0].profile
    assert expired.expiry == bytes.fromhex("231231")
    assert expired.pan == "4761739001010267"
    assert expired.cdol1 == base.cdol1 and expired.aip == base.aip


def test_application_override_applies_to_every_application():
    card = load_card("two_apps", atc=500)
    assert [a.atc for a in card.applications] == [500, 500]
    assert [a.profile.pan for a in card.applications] == ["4761739001010168", "4761739001010192"]


def test_cards_are_independent_objects():
    a, b = load_card("visa_credit"), load_card("visa_credit")
    a.pin_try_counter = 0
    assert b.pin_try_counter == 3


def test_track2_equivalent_layout():
    assert track2_equivalent("4761739001010119", bytes.fromhex("301231"), "201") == bytes.fromhex(
        "4761739001010119D30122010000000000"
    )
    # odd length gets the F pad (Book 3 Annex A, 57 is b with F padding)
    assert track2_equivalent("476173900101012", bytes.fromhex("301231"), "201")[-1] & 0x0F == 0xF


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=4, max_size=30), st.data())
def test_replay_pattern_with_wildcards_matches_its_own_command(command, data):
    wild = data.draw(st.sets(st.integers(0, len(command) - 1)))
    cut = data.draw(st.integers(0, len(command)))
    pattern = "".join("??" if i in wild else f"{b:02X}" for i, b in enumerate(command[:cut]))
    open_pattern = CommandPattern.parse(pattern + "*")
    assert open_pattern.matches(command)
    exact = CommandPattern.parse(pattern) if pattern else None
    if exact is not None:
        assert exact.matches(command) is (cut == len(command))
