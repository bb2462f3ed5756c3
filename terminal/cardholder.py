"""Cardholder-side adapters for headless runs (``pos pay``) and the simulator.

:class:`ScriptedCardholder` answers the kernel's prompts from command-line input: the
application index to choose, and the PIN a simulated cardholder types.  Offline PINs
become ISO 9564 format 2 blocks for the card; online PINs are encrypted by a PIN pad
(:class:`emv.ports.OnlinePin`).  The digits never leave this object.
"""

from __future__ import annotations

from collections.abc import Callable

from crypto.pinblock import encode_format2
from emv.ports import (
    ApplicationChoice,
    Message,
    OfflinePin,
    OnlinePin,
    PinEntry,
    PinEntryStatus,
    PinRequest,
)

OnlinePinEncryptor = Callable[[str, str], OnlinePin]


class ScriptedCardholder:
    def __init__(
        self,
        pin: str | None,
        *,
        application_index: int = 0,
        online_pin_encryptor: OnlinePinEncryptor | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self._pin = pin
        self.application_index = application_index
        self.online_pin_encryptor = online_pin_encryptor
        self.on_message = on_message
        self.messages: list[str] = []
        self.phases: list[str] = []
        self.languages: list[str] = []
        self.pin_prompts = 0

    def show(self, message: Message) -> None:
        self.messages.append(message.name)
        if self.on_message:
            self.on_message(message.name)

    def progress(self, phase: str) -> None:
        self.phases.append(phase)

    def choose_application(self, choices: list[ApplicationChoice]) -> int | None:
        return self.application_index if self.application_index < len(choices) else None

    def confirm_application(self, choice: ApplicationChoice) -> bool:
        return True

    def set_language(self, preferences: list[str]) -> None:
        self.languages = preferences

    def request_pin(self, request: PinRequest) -> PinEntry:
        self.pin_prompts += 1
        if self.pin_prompts > 3 or self._pin is None:
            return PinEntry(PinEntryStatus.BYPASSED)
        if request.online:
            if self.online_pin_encryptor is None:
                return PinEntry(PinEntryStatus.PAD_NOT_WORKING)
            return PinEntry(
                PinEntryStatus.ENTERED, online=self.online_pin_encryptor(self._pin, request.pan)
            )
        return PinEntry(PinEntryStatus.ENTERED, offline=OfflinePin(encode_format2(self._pin)))
