"""Offline PIN on the card (EMV Book 3 6.5.12, Book 2 7.2): plaintext and enciphered VERIFY,
the PIN Try Counter 9F17, 63Cx and 6983."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.rsa_emv import public_operation
from emv import apdu
from hardware_sim.card import load_card
from hardware_sim.card.pin import format2_block, parse_format2
from tests.cardsim_support import body, start, sw


def verify(card, pin: str) -> bytes:
    return card.process(apdu.verify(format2_block(pin), 0x80).to_bytes())


def ptc(card) -> int:
    return body(card.process(apdu.get_data(0x9F17).to_bytes()))[-1]


def test_right_pin_is_9000_and_test_pin_is_exposed():
    s = start("visa_credit")
    assert s.card.test_pin == "1234"
    assert verify(s.card, "1234") == b"\x90\x00"
    assert ptc(s.card) == 3


def test_wrong_pins_count_down_then_block_for_the_life_of_the_card():
    s = start("visa_credit")
    card = s.card
    assert verify(card, "0000") == b"\x63\xc2"
    assert ptc(card) == 2
    assert verify(card, "1234") == b"\x90\x00"  # a right PIN resets the counter
    assert ptc(card) == 3
    assert [verify(card, "9999") for _ in range(3)] == [b"\x63\xc2", b"\x63\xc1", b"\x63\xc0"]
    assert verify(card, "1234") == b"\x69\x83"
    card.power_on()
    card.process(apdu.select_by_name(bytes.fromhex("A0000000031010")).to_bytes())
    assert verify(card, "1234") == b"\x69\x83"
    assert ptc(card) == 0


def test_pin_blocked_profile():
    s = start("pin_blocked")
    assert ptc(s.card) == 0
    assert verify(s.card, "1234") == b"\x69\x83"


def test_malformed_plaintext_pin_blocks():
    card = start("visa_credit").card
    assert card.process(apdu.verify(bytes.fromhex("141234FFFFFFFFFF"), 0x80).to_bytes()) == (
        b"\x6a\x80"
    )  # control nibble 1 is not format 2
    assert card.process(apdu.verify(bytes.fromhex("241234FF"), 0x80).to_bytes()) == b"\x67\x00"
    assert card.process(apdu.verify(bytes(8), 0x81).to_bytes()) == b"\x6a\x86"
    assert ptc(card) == 3


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="0123456789", min_size=4, max_size=12))
def test_format2_round_trip(pin):
    assert parse_format2(format2_block(pin)) == pin


def _encipher(card, pin: str, challenge: bytes, *, header: int = 0x7F) -> bytes:
    key = card.applications[0].personal.icc_key.public
    pad = b"\x55" * (len(key.modulus) - 17)
    plain = bytes([header]) + format2_block(pin) + challenge + pad
    return public_operation(key, plain)


def test_enciphered_pin_with_the_challenge():
    card = start("visa_credit").card
    challenge_response = card.process(apdu.get_challenge().to_bytes())
    assert sw(challenge_response) == 0x9000
    challenge = body(challenge_response)
    assert challenge == bytes(range(1, 9))
    block = _encipher(card, "1234", challenge)
    assert card.process(apdu.verify(block, 0x88).to_bytes()) == b"\x90\x00"
    # the challenge is single-use
    assert card.process(apdu.verify(block, 0x88).to_bytes()) == b"\x69\x85"


def test_enciphered_pin_wrong_pin_or_stale_challenge_counts_as_failure():
    card = start("visa_credit").card
    challenge = body(card.process(apdu.get_challenge().to_bytes()))
    assert card.process(apdu.verify(_encipher(card, "4321", challenge), 0x88).to_bytes()) == (
        b"\x63\xc2"
    )
    card.process(apdu.get_challenge().to_bytes())
    stale = _encipher(card, "1234", bytes(8))
    assert card.process(apdu.verify(stale, 0x88).to_bytes()) == b"\x63\xc1"


def test_enciphered_pin_on_a_card_without_icc_key_is_6a81():
    card = start("sda_legacy").card
    card.process(apdu.get_challenge().to_bytes())
    assert card.process(apdu.verify(bytes(128), 0x88).to_bytes()) == b"\x6a\x81"


def test_pin_override():
    card = load_card("visa_credit", pin="987654")
    card.power_on()
    assert verify(card, "987654") == b"\x90\x00"
