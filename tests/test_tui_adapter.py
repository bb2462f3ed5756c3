"""The UI cardholder adapter on its own: what the kernel gets back for each answer, and
that a closing app never leaves the kernel's worker thread waiting."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest

from crypto.pinblock import encode_format2
from emv.ports import ApplicationChoice, Message, OnlinePin, PinEntryStatus, PinRequest
from terminal.journal import JournalEntry
from terminal.tui.cardholder import PinAnswer, UiCardholder
from terminal.tui.screens.journal import todays_rows

CHOICES = [
    ApplicationChoice("VISA DEBIT", bytes.fromhex("A0000000032010"), 1),
    ApplicationChoice("VISA CREDIT", bytes.fromhex("A0000000031010"), 2),
]


class View:
    """Records what the adapter posts; answers questions with ``answer`` (None: never)."""

    def __init__(self, answer=None):
        self.answer = answer
        self.posted: list[tuple] = []

    def cardholder_message(self, message, text, language):
        self.posted.append(("message", message, text, language))

    def kernel_phase(self, phase):
        self.posted.append(("phase", phase))

    def device_prompt(self, text):
        self.posted.append(("device", text))

    def _reply(self, answer):
        if self.answer is not None:
            answer(self.answer)

    def ask_application(self, choices, answer):
        self._reply(answer)

    def ask_confirmation(self, choice, answer):
        self._reply(answer)

    def ask_pin(self, request, answer):
        self._reply(answer)

    def ask_retap(self, answer):
        self._reply(answer)


def call(fn, *args):
    return fn(*args)


def request(online: bool) -> PinRequest:
    return PinRequest(online, 1234, "EUR", None if online else 3, pan="4761739001010119")


def test_messages_follow_the_card_language_after_selection():
    view = View()
    ui = UiCardholder(view, call, online_pin_encryptor=None)
    ui.show(Message.INSERT_CARD)
    ui.set_language(["de", "en"])
    ui.show(Message.ENTER_PIN)
    assert view.posted == [
        ("message", Message.INSERT_CARD, "INSERT CARD", "en"),
        ("message", Message.ENTER_PIN, "BITTE PIN EINGEBEN", "de"),
    ]


def test_application_choice_and_confirmation():
    assert UiCardholder(View(1), call, online_pin_encryptor=None).choose_application(CHOICES) == 1
    assert (
        UiCardholder(View(5), call, online_pin_encryptor=None).choose_application(CHOICES) is None
    )
    assert UiCardholder(View(True), call, online_pin_encryptor=None).confirm_application(CHOICES[0])
    assert not UiCardholder(View(False), call, online_pin_encryptor=None).confirm_application(
        CHOICES[0]
    )


def test_offline_pin_becomes_a_format_2_block_and_online_pin_goes_to_the_pin_pad():
    seen = []

    def encryptor(pin: str, pan: str) -> OnlinePin:
        seen.append((pin, pan))
        return OnlinePin(b"\x11" * 8, b"\x22" * 10)

    ui = UiCardholder(
        View(PinAnswer(PinEntryStatus.ENTERED, "1234")), call, online_pin_encryptor=encryptor
    )
    offline = ui.request_pin(request(False))
    assert offline.status is PinEntryStatus.ENTERED
    assert offline.offline is not None and offline.offline.block == encode_format2("1234")
    online = ui.request_pin(request(True))
    assert online.online == OnlinePin(b"\x11" * 8, b"\x22" * 10)
    assert seen == [("1234", "4761739001010119")]


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (PinAnswer(PinEntryStatus.BYPASSED), PinEntryStatus.BYPASSED),
        (PinAnswer(PinEntryStatus.CANCELLED), PinEntryStatus.CANCELLED),
        (PinAnswer(PinEntryStatus.ENTERED, "12"), PinEntryStatus.CANCELLED),  # not a PIN
    ],
)
def test_pin_answers(answer, status):
    ui = UiCardholder(View(answer), call, online_pin_encryptor=None)
    assert ui.request_pin(request(False)).status is status


def test_online_pin_without_a_pin_pad_is_pad_not_working():
    ui = UiCardholder(
        View(PinAnswer(PinEntryStatus.ENTERED, "1234")), call, online_pin_encryptor=None
    )
    assert ui.request_pin(request(True)).status is PinEntryStatus.PAD_NOT_WORKING


def test_live_mode_never_takes_a_pin_from_the_keyboard():
    view = View(PinAnswer(PinEntryStatus.ENTERED, "1234"))
    ui = UiCardholder(view, call, online_pin_encryptor=None, keyboard_pin=False)
    assert ui.request_pin(request(False)).status is PinEntryStatus.PAD_NOT_WORKING
    assert view.posted == []  # no PIN modal was opened


def test_closing_app_releases_a_waiting_kernel():
    abort = threading.Event()
    ui = UiCardholder(View(None), call, online_pin_encryptor=None, abort=abort)
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            (ui.choose_application(CHOICES), ui.request_pin(request(False)).status)
        )
    )
    worker.start()
    abort.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert results == [(None, PinEntryStatus.CANCELLED)]


def test_journal_screen_lists_only_today_newest_first():
    day = date(2026, 11, 24)
    now = datetime.combine(day, time(12, 0)).astimezone().astimezone(UTC)  # local noon

    def entry(txn, at, **data):
        return JournalEntry(txn, at.isoformat(timespec="milliseconds"), data)

    entries = [
        entry(
            "a",
            now - timedelta(seconds=30),
            amount=500,
            currency="EUR",
            outcome="approved",
            pan_masked="476173******0119",
            label="VISA CREDIT",
            auth_code="000001",
        ),
        entry("b", now, amount=1, currency="JPY"),
        entry("c", now - timedelta(days=2), amount=99, currency="EUR"),
    ]
    entries[0].kinds.append("completed")
    rows = todays_rows(entries, today=day)
    assert [r[2] for r in rows] == ["1 JPY", "5.00 EUR"]
    assert rows[1][1:] == ("approved", "5.00 EUR", "476173******0119", "VISA CREDIT", "000001")
    assert rows[0][1] == "incomplete"
    assert todays_rows(entries, today=date(2001, 1, 1)) == []
