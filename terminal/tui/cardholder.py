"""The cashier screen as the kernel's :class:`emv.ports.CardholderInterface`.

The kernel runs in a worker thread and calls these methods synchronously.  Messages and
progress are posted to the screen (``call``: the app's non-blocking ``invoke_later``); questions
(application choice, confirmation, PIN) open a modal on the UI thread and the worker
blocks on a queue for the answer.  Setting ``abort`` (the app is closing) makes every
pending question answer "cancelled" so the worker never hangs.

Messages use EMV Book 4 s11.2 texts in the card's language (5F2D, :mod:`terminal.i18n`).
PIN digits go straight into an ISO 9564 format 2 block (offline PIN, Book 3 6.5.12) or to
the PIN pad's encryptor (online PIN, format 0 under DUKPT) and are not kept.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from crypto.pinblock import encode_format2
from emv.ports import (
    ApplicationChoice,
    BiometricCapture,
    BiometricCaptureStatus,
    BiometricRequest,
    Message,
    OfflinePin,
    OnlinePin,
    PinEntry,
    PinEntryStatus,
    PinRequest,
)
from terminal.i18n import Translator


@dataclass(frozen=True)
class PinAnswer:
    """What the PIN modal returns: ENTERED with digits, BYPASSED or CANCELLED."""

    status: PinEntryStatus
    digits: str = field(default="", repr=False)


class PaymentView(Protocol):
    """What the payment screen offers the adapter (all called on the UI thread)."""

    def cardholder_message(self, message: Message, text: str, language: str) -> None: ...

    def kernel_phase(self, phase: str) -> None: ...

    def ask_application(
        self, choices: list[ApplicationChoice], answer: Callable[[int | None], None]
    ) -> None: ...

    def ask_confirmation(
        self, choice: ApplicationChoice, answer: Callable[[bool | None], None]
    ) -> None: ...

    def ask_pin(self, request: PinRequest, answer: Callable[[PinAnswer | None], None]) -> None: ...

    def ask_retap(self, answer: Callable[[bool | None], None]) -> None: ...

    def device_prompt(self, text: str) -> None: ...


class UiCardholder:
    def __init__(
        self,
        view: PaymentView,
        call: Callable[..., Any],
        *,
        online_pin_encryptor: Callable[[str, str], OnlinePin] | None,
        abort: threading.Event | None = None,
        translator: Translator | None = None,
        keyboard_pin: bool = True,
        device: Any | None = None,
    ) -> None:
        self.view = view
        self._call = call
        self.online_pin_encryptor = online_pin_encryptor
        self.abort = abort or threading.Event()
        self.translator = translator or Translator()
        self.keyboard_pin = keyboard_pin
        self.device = device  # terminal.peripherals DeviceCardholder (PIN pad, sensor)
        self.messages: list[str] = []

    # -- notifications ------------------------------------------------------------------
    def show(self, message: Message) -> None:
        self.messages.append(message.name)
        text = self.translator.text(message)
        self._call(self.view.cardholder_message, message, text, self.translator.language)

    def progress(self, phase: str) -> None:
        self._call(self.view.kernel_phase, phase)

    def set_language(self, preferences: list[str]) -> None:
        self.translator.set_preferences(preferences)

    # -- questions ----------------------------------------------------------------------
    def _ask(self, opener: Callable[..., None], *args: Any) -> Any:
        answers: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._call(opener, *args, answers.put)
        while True:
            try:
                return answers.get(timeout=0.1)
            except queue.Empty:
                if self.abort.is_set():
                    return None

    def choose_application(self, choices: list[ApplicationChoice]) -> int | None:
        index = self._ask(self.view.ask_application, list(choices))
        return index if isinstance(index, int) and 0 <= index < len(choices) else None

    def confirm_application(self, choice: ApplicationChoice) -> bool:
        return self._ask(self.view.ask_confirmation, choice) is True

    def wait_for_retap(self) -> None:
        """Contactless restart (Book B 3.5, e.g. "see phone"): wait until the card is back."""
        self._ask(self.view.ask_retap)

    def request_pin(self, request: PinRequest) -> PinEntry:
        if self.device is not None and getattr(self.device, "pinpad", None) is not None:
            entry: PinEntry = self._on_device(
                "Cardholder: enter the PIN on the PIN pad.", self.device.request_pin, request
            )
            return entry
        if not self.keyboard_pin:
            # No PIN pad is wired in this mode and the cashier's keyboard is not one.
            return PinEntry(PinEntryStatus.PAD_NOT_WORKING)
        answer = self._ask(self.view.ask_pin, request)
        if not isinstance(answer, PinAnswer) or answer.status is PinEntryStatus.CANCELLED:
            return PinEntry(PinEntryStatus.CANCELLED)
        if answer.status is not PinEntryStatus.ENTERED:
            return PinEntry(answer.status)
        digits = answer.digits
        if not (digits.isdigit() and 4 <= len(digits) <= 12):
            return PinEntry(PinEntryStatus.CANCELLED)
        if request.online:
            if self.online_pin_encryptor is None:
                return PinEntry(PinEntryStatus.PAD_NOT_WORKING)
            return PinEntry(
                PinEntryStatus.ENTERED, online=self.online_pin_encryptor(digits, request.pan)
            )
        return PinEntry(PinEntryStatus.ENTERED, offline=OfflinePin(encode_format2(digits)))

    # -- devices (PIN pad, fingerprint sensor) -------------------------------------------
    def _on_device(self, prompt: str, action: Callable[[Any], Any], request: Any) -> Any:
        self._call(self.view.device_prompt, prompt)
        errors_before = len(getattr(self.device, "device_errors", []))
        try:
            return action(request)
        finally:
            errors = getattr(self.device, "device_errors", [])[errors_before:]
            status = f"Device problem: {errors[-1]}" if errors else ""
            self._call(self.view.device_prompt, status)

    def biometric_types(self) -> frozenset[int]:
        """EMV Book 3 Annex C3 biometric CVMs this terminal can perform now (none: no sensor)."""
        if self.device is None:
            return frozenset()
        types: frozenset[int] = self.device.biometric_types()
        return types

    def capture_biometric(self, request: BiometricRequest) -> BiometricCapture:
        if self.device is None:
            return BiometricCapture(BiometricCaptureStatus.TYPE_NOT_SUPPORTED)
        capture: BiometricCapture = self._on_device(
            "Cardholder: place your finger on the sensor.", self.device.capture_biometric, request
        )
        return capture
