"""Cardholder-side adapters for headless runs (``pos pay``) and the simulator.

:class:`ScriptedCardholder` answers the kernel's prompts from command-line input: the
application index to choose, and the PIN a simulated cardholder types.  Offline PINs
become ISO 9564 format 2 blocks for the card; online PINs are encrypted by a PIN pad
(:class:`emv.ports.OnlinePin`).  The digits never leave this object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    """``pin``: the PIN typed at the first prompt, or the PINs typed at successive prompts.

    Each prompt takes the next PIN; once they are used up the cardholder bypasses PIN entry.
    A wrong PIN is therefore typed once, not re-sent until the card's PIN Try Counter runs
    out (EMV Book 3 §10.5.1: the terminal prompts again after an incorrect PIN; only a
    person decides to try again - on a real card a script must not block the PIN).
    """

    def __init__(
        self,
        pin: str | Sequence[str] | None,
        *,
        application_index: int = 0,
        online_pin_encryptor: OnlinePinEncryptor | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self._attempts: tuple[str, ...] = (
            () if pin is None else (pin,) if isinstance(pin, str) else tuple(pin)
        )
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
        index = self.application_index
        return index if 0 <= index < len(choices) else None  # out of range: the holder cancels

    def confirm_application(self, choice: ApplicationChoice) -> bool:
        return True

    def set_language(self, preferences: list[str]) -> None:
        self.languages = preferences

    def request_pin(self, request: PinRequest) -> PinEntry:
        self.pin_prompts += 1
        if self.pin_prompts > len(self._attempts):
            return PinEntry(PinEntryStatus.BYPASSED)
        pin = self._attempts[self.pin_prompts - 1]
        if request.online:
            if self.online_pin_encryptor is None:
                return PinEntry(PinEntryStatus.PAD_NOT_WORKING)
            return PinEntry(
                PinEntryStatus.ENTERED, online=self.online_pin_encryptor(pin, request.pan)
            )
        return PinEntry(PinEntryStatus.ENTERED, offline=OfflinePin(encode_format2(pin)))
