"""Cardholder message tables (EMV Book 4 s11.2) and language choice from 5F2D (s11.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emv.ports import Message
from terminal import i18n
from terminal.tui.plain_words import explain_response_code, response_codes

LANGUAGES = ["en", "de", "fr", "zh-Hans", "zh-Hant"]


def test_the_terminal_ships_the_five_tables():
    assert sorted(i18n.available_languages()) == sorted(LANGUAGES)
    assert i18n.default_language() == "en"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_standard_message_has_a_text_in_every_table(language):
    table = i18n.message_table(language)
    assert set(table) == {m.name for m in Message}
    assert all(text.strip() == text and text for text in table.values())


@pytest.mark.parametrize(
    ("message", "language", "expected"),
    [
        (Message.ENTER_PIN, "en", "ENTER PIN"),
        (Message.ENTER_PIN, "de", "BITTE PIN EINGEBEN"),
        (Message.INSERT_CARD, "fr", "INSÉREZ VOTRE CARTE"),
        (Message.APPROVED, "zh-Hans", "交易成功"),
        (Message.INCORRECT_PIN, "zh-Hant", "密碼錯誤"),
        (Message.REMOVE_CARD, "zh-Hans", "请取卡"),
    ],
)
def test_translations(message, language, expected):
    assert i18n.translate(message, language) == expected


def test_first_supported_preference_wins_in_5f2d_order():
    assert i18n.resolve_language(["it", "de", "fr"]) == "de"
    assert i18n.resolve_language(["FR"]) == "fr"
    assert i18n.resolve_language(["zh"]) == "zh-Hans"  # 5F2D cannot say which script
    assert i18n.resolve_language(["it", "es"]) is None


def test_translator_keeps_the_default_until_the_card_names_a_known_language():
    t = i18n.Translator()
    assert t.text(Message.INSERT_CARD) == "INSERT CARD"
    assert t.set_preferences(["it"]) == "en"
    assert t.set_preferences(["xx", "de"]) == "de"
    assert t.text(Message.PLEASE_WAIT) == "BITTE WARTEN"


def test_unknown_language_falls_back_to_english():
    assert i18n.translate(Message.DECLINED, "tlh") == "DECLINED"
    with pytest.raises(KeyError):
        i18n.message_table("tlh")


@given(st.lists(st.text(min_size=2, max_size=2), max_size=4))
def test_any_5f2d_list_resolves_to_a_shipped_table_or_none(preferences):
    chosen = i18n.resolve_language(preferences)
    assert chosen is None or chosen in LANGUAGES


def test_response_codes_say_what_happened_and_what_to_do():
    for code, row in response_codes().items():
        assert len(code) == 2
        assert row["text"].endswith(".")
        assert code == "00" or row["action"].endswith(".")
    assert explain_response_code("51") == (
        "Insufficient funds on the card. Ask for a smaller amount or another card."
    )
    assert "code Q9" in explain_response_code("Q9")
