"""Scripted cards, cardholders, hosts and contexts for the per-step kernel tests.

A :class:`ScriptedCard` answers command APDUs from a table of hand-built responses (made
with :mod:`emv.tlv`), so each test row states exactly what the card says and which
TVR / TSI / CVM Results bits EMV Book 3 prescribes for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from emv import tlv
from emv.apdu import ApduChannel
from emv.config import AidConfig, TerminalConfig
from emv.kernel.contact import ContactKernel, terminal_data
from emv.kernel.context import TransactionContext, TransactionParameters
from emv.kernel.result import TransactionResult
from emv.ports import (
    ApplicationChoice,
    AuthorisationRequest,
    AuthorisationResponse,
    FixedClock,
    Message,
    OfflinePin,
    OnlinePin,
    OnlineUnavailable,
    PinEntry,
    PinEntryStatus,
    PinRequest,
)

WHEN = datetime(2026, 11, 24, 10, 30)
AID_VISA = bytes.fromhex("A0000000031010")
AID_VISA_ELECTRON = bytes.fromhex("A0000000032010")
AID_MC = bytes.fromhex("A0000000041010")
PSE = b"1PAY.SYS.DDF01"
OK = b"\x90\x00"

# A plaintext format 2 PIN block for 1234 (ISO 9564 format 2; TEST-ONLY value).
PIN_BLOCK_1234 = bytes.fromhex("241234FFFFFFFFFF")


def rsp(data: bytes = b"", sw: str = "9000") -> bytes:
    return data + bytes.fromhex(sw)


def t(tag: int, value: bytes | str) -> bytes:
    """One TLV; a str value is hex."""
    return tlv.encode(tag, bytes.fromhex(value) if isinstance(value, str) else value)


def select_cmd(aid: bytes, next_occurrence: bool = False) -> str:
    return ("00A40402" if next_occurrence else "00A40400") + f"{len(aid):02X}" + aid.hex().upper()


def fci(
    aid: bytes,
    label: str = "TEST APP",
    priority: int | None = None,
    pdol: str | None = None,
    language: str | None = None,
) -> bytes:
    """An ADF FCI (Book 1 11.3.4): 6F { 84, A5 { 50, 87, 9F38, 5F2D } }."""
    body = t(0x50, label.encode())
    if priority is not None:
        body += t(0x87, bytes([priority]))
    if pdol is not None:
        body += t(0x9F38, pdol)
    if language is not None:
        body += t(0x5F2D, language.encode())
    return t(0x6F, t(0x84, aid) + t(0xA5, body))


def pse_fci(sfi: int = 1) -> bytes:
    return t(0x6F, t(0x84, PSE) + t(0xA5, t(0x88, bytes([sfi]))))


def pse_record(*entries: tuple[bytes, str, int | None]) -> bytes:
    """A PSE directory record: 70 { 61 { 4F, 50, 87 } ... } (Book 1 12.2.3)."""
    body = b""
    for aid, label, priority in entries:
        entry = t(0x4F, aid) + t(0x50, label.encode())
        if priority is not None:
            entry += t(0x87, bytes([priority]))
        body += t(0x61, entry)
    return t(0x70, body)


CDOL1 = "9F02069F03069F1A0295055F2A029A039C019F3704"
CDOL2 = "8A029F02069F03069F1A0295055F2A029A039C019F3704910A"


def base_records(changes: dict[int, bytes | None] | None = None) -> dict[int, bytes]:
    """The application data of a plain, valid card (Book 3 7.2 mandatory data + CVM list)."""
    data: dict[int, bytes | None] = {
        0x5A: bytes.fromhex("4761739001010010"),
        0x5F24: bytes.fromhex("301231"),
        0x5F25: bytes.fromhex("200101"),
        0x8C: bytes.fromhex(CDOL1),
        0x8D: bytes.fromhex(CDOL2),
        0x8E: bytes.fromhex("00000000000000001F00"),  # no CVM required, always
        0x9F08: bytes.fromhex("008C"),
    }
    data.update(changes or {})
    return {tag: value for tag, value in data.items() if value is not None}


def record(objects: dict[int, bytes]) -> bytes:
    return t(0x70, b"".join(t(tag, value) for tag, value in objects.items()))


def gpo_format2(aip: str = "1C00", afl: str = "08010100") -> bytes:
    return t(0x77, t(0x82, aip) + t(0x94, afl))


def genac(cid: int, atc: int = 1, cryptogram: str = "1122334455667788") -> bytes:
    """A format 2 GENERATE AC answer: 77 { 9F27, 9F36, 9F26, 9F10 }."""
    return t(
        0x77,
        t(0x9F27, bytes([cid]))
        + t(0x9F36, atc.to_bytes(2, "big"))
        + t(0x9F26, cryptogram)
        + t(0x9F10, "06010A03A00000"),
    )


class ScriptedCard:
    """A card that answers from a table keyed by the hex prefix of the command APDU.

    The longest matching prefix wins.  A list value is consumed in order (its last entry
    repeats).  Unlisted commands get what a card without that file or data would say.
    """

    def __init__(self, table: dict[str, bytes | list[bytes]]) -> None:
        self.table = {key.upper(): value for key, value in table.items()}
        self.commands: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        text = apdu.hex().upper()
        matches = [key for key in self.table if text.startswith(key)]
        if not matches:
            return {0xA4: b"\x6a\x82", 0xB2: b"\x6a\x83", 0xCA: b"\x6a\x88"}.get(
                apdu[1], b"\x6d\x00"
            )
        value = self.table[max(matches, key=len)]
        if isinstance(value, list):
            return value.pop(0) if len(value) > 1 else value[0]
        return value

    def sent(self, prefix: str) -> int:
        """How many commands starting with this hex prefix were sent."""
        return sum(1 for c in self.commands if c.hex().upper().startswith(prefix.upper()))


def card_table(
    *,
    aid: bytes = AID_VISA,
    aip: str = "1C00",
    records: dict[int, bytes] | None = None,
    genac1: bytes | None = None,
    genac2: bytes | None = None,
    pdol: str | None = None,
) -> dict[str, bytes | list[bytes]]:
    """A whole card: no PSE, one ADF, format 2 GPO, one record in SFI 1, GENERATE AC."""
    return {
        select_cmd(aid): rsp(fci(aid, pdol=pdol)),
        "80A8": rsp(gpo_format2(aip, "08010100")),
        "00B2010C": rsp(record(records if records is not None else base_records())),
        "80AE": [rsp(genac1 or genac(0x80)), rsp(genac2 or genac(0x40, 1, "99AABBCCDDEEFF00"))],
        "0082": rsp(),
    }


class StepCardholder:
    """Cardholder port with scripted answers; records messages and PIN prompts."""

    def __init__(
        self,
        pins: Iterable[PinEntry] = (),
        choice: int | None = 0,
        confirm: bool = True,
    ) -> None:
        self.pins = list(pins)
        self.choice = choice
        self.confirm = confirm
        self.messages: list[Message] = []
        self.pin_requests: list[PinRequest] = []
        self.offered: list[list[ApplicationChoice]] = []
        self.confirmations: list[ApplicationChoice] = []
        self.languages: list[str] = []

    def show(self, message: Message) -> None:
        self.messages.append(message)

    def progress(self, phase: str) -> None:
        pass

    def choose_application(self, choices: list[ApplicationChoice]) -> int | None:
        self.offered.append(choices)
        return self.choice

    def confirm_application(self, choice: ApplicationChoice) -> bool:
        self.confirmations.append(choice)
        return self.confirm

    def request_pin(self, request: PinRequest) -> PinEntry:
        self.pin_requests.append(request)
        if not self.pins:
            return PinEntry(PinEntryStatus.BYPASSED)
        return self.pins.pop(0)

    def set_language(self, preferences: list[str]) -> None:
        self.languages = preferences


def offline_pin() -> PinEntry:
    return PinEntry(PinEntryStatus.ENTERED, offline=OfflinePin(PIN_BLOCK_1234))


def online_pin() -> PinEntry:
    return PinEntry(
        PinEntryStatus.ENTERED, online=OnlinePin(bytes(8), bytes.fromhex("FFFF9876543210E00001"))
    )


def pin_status(status: PinEntryStatus) -> PinEntry:
    return PinEntry(status)


class ScriptedRandom:
    """Random port: 2-byte requests (random transaction selection) come from ``draws``."""

    def __init__(self, draws: Iterable[bytes] = ()) -> None:
        self.draws = list(draws)

    def random_bytes(self, count: int) -> bytes:
        if count == 2 and self.draws:
            return self.draws.pop(0)
        return bytes([0x5A]) * count


class ScriptedHost:
    """Authoriser port: answers with one response, or is unreachable when ``response`` is None."""

    def __init__(self, response: AuthorisationResponse | None) -> None:
        self.response = response
        self.requests: list[AuthorisationRequest] = []

    def authorise(self, request: AuthorisationRequest) -> AuthorisationResponse:
        self.requests.append(request)
        if self.response is None:
            raise OnlineUnavailable("the host did not answer")
        return self.response


def visa_aid(**changes: object) -> AidConfig:
    return replace(AidConfig(AID_VISA, "VISA CREDIT", application_version=b"\x00\x8c"), **changes)  # type: ignore[arg-type]


def config(*aids: AidConfig, **changes: object) -> TerminalConfig:
    return replace(TerminalConfig(aids=aids or (visa_aid(),)), **changes)  # type: ignore[arg-type]


def params(amount: int = 999, **changes: object) -> TransactionParameters:
    return replace(TransactionParameters(amount, 978, currency_alpha="EUR"), **changes)  # type: ignore[arg-type]


def make_ctx(
    card: ScriptedCard | None = None,
    *,
    cfg: TerminalConfig | None = None,
    txn: TransactionParameters | None = None,
    cardholder: StepCardholder | None = None,
    host: ScriptedHost | None = None,
    random: ScriptedRandom | None = None,
    card_data: dict[int, bytes] | None = None,
) -> TransactionContext:
    """A context as the kernel has it right after final selection of the Visa AID."""
    cfg = cfg or config()
    ctx = TransactionContext(
        cfg,
        txn or params(),
        ApduChannel(card or ScriptedCard({})),
        cardholder or StepCardholder(),
        host,
        FixedClock(WHEN),
        random or ScriptedRandom(),
    )
    ctx.terminal_data = terminal_data(ctx)
    ctx.aid_config = cfg.aid_config(AID_VISA) or (cfg.aids[0] if cfg.aids else None)
    ContactKernel._apply_aid_data(ctx)
    ctx.card_data.update({0x4F: AID_VISA, 0x84: AID_VISA, 0x82: b"\x1c\x00"})
    ctx.card_data.update(card_data or {})
    return ctx


def run_kernel(
    card: ScriptedCard,
    *,
    cfg: TerminalConfig | None = None,
    txn: TransactionParameters | None = None,
    cardholder: StepCardholder | None = None,
    host: ScriptedHost | None = None,
    random: ScriptedRandom | None = None,
) -> TransactionResult:
    kernel = ContactKernel(
        cfg or config(),
        cardholder or StepCardholder(),
        host,
        FixedClock(WHEN),
        random or ScriptedRandom(),
    )
    return kernel.run(card, txn or params())
