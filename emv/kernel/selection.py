"""Application selection (EMV Book 1 Section 12).

1. Build the candidate list: the PSE directory (12.3.2) when the card has one, otherwise
   the terminal's list of AIDs (12.3.3), with exact and partial name matching (ASI).
2. Order by Application Priority Indicator (87) and offer the choice to the cardholder
   when there are several, or confirmation when 87 b8 asks for it (12.4).
3. Final selection: SELECT the chosen ADF (reusing the response when the chosen ADF is the
   one the card has currently selected).
"""

from __future__ import annotations

from dataclasses import dataclass

from emv import apdu, tlv
from emv.config import TerminalConfig
from emv.errors import TlvError
from emv.kernel.context import KernelTermination, TransactionContext
from emv.ports import ApplicationChoice, Message

PSE_NAME = b"1PAY.SYS.DDF01"
SW_APPLICATION_BLOCKED = 0x6283
SW_CARD_BLOCKED = 0x6A81
SW_FILE_NOT_FOUND = 0x6A82
SW_RECORD_NOT_FOUND = 0x6A83
MAX_PSE_RECORDS = 32


@dataclass(frozen=True)
class Candidate:
    aid: bytes
    label: str
    priority: int | None  # 1 (highest) .. 15; None when absent or zero
    needs_confirmation: bool
    fci: bytes | None = None  # FCI already returned by a SELECT of this ADF

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.priority if self.priority else 16, 0)


def _label(fields: dict[int, bytes], issuer_code_table: int | None = None) -> str:
    """Application Preferred Name if its code table is supported, else Application Label."""
    name = fields.get(0x9F12)
    if name and issuer_code_table is not None:
        return name.decode("latin-1", "replace").strip()
    label = fields.get(0x50, b"")
    return label.decode("ascii", "replace").strip()


def _priority(fields: dict[int, bytes]) -> tuple[int | None, bool]:
    raw = fields.get(0x87)
    if not raw:
        return None, False
    value = raw[0] & 0x0F
    return (value or None), bool(raw[0] & 0x80)


def _aid_supported(config: TerminalConfig, card_aid: bytes) -> bool:
    for entry in config.aids:
        if card_aid == entry.aid:
            return True
        if (
            entry.partial_selection
            and card_aid.startswith(entry.aid)
            and len(card_aid) > len(entry.aid)
        ):
            return True
    return False


def _parse_fci(data: bytes) -> tlv.Tlv:
    try:
        fci = tlv.decode_single(data, expected_tag=0x6F)
    except TlvError as exc:
        raise KernelTermination(f"card returned a malformed FCI: {exc}") from exc
    return fci


def candidates_from_pse(ctx: TransactionContext) -> list[Candidate] | None:
    """Book 1 12.3.2. Returns None when the PSE is absent so the AID list method runs."""
    response = ctx.send(apdu.select_by_name(PSE_NAME))
    if response.sw == SW_CARD_BLOCKED:
        raise KernelTermination(
            "the card is blocked (6A81)",
        )
    if not response.ok:
        return None
    try:
        fci = tlv.decode_single(response.data, expected_tag=0x6F)
        sfi_obj = fci.find(0x88)
    except TlvError:
        return None  # Book 1 12.3.2 step 1: a malformed PSE FCI -> use the list of AIDs
    if sfi_obj is None or len(sfi_obj.value) != 1 or not 1 <= sfi_obj.value[0] <= 10:
        return None
    sfi = sfi_obj.value[0]
    found: list[Candidate] = []
    for number in range(1, MAX_PSE_RECORDS + 1):
        record = ctx.send(apdu.read_record(sfi, number))
        if record.sw == SW_RECORD_NOT_FOUND:
            break
        if not record.ok:
            return None
        try:
            template = tlv.decode_single(record.data, expected_tag=0x70)
        except TlvError:
            return None
        for entry in template.children or ():
            if entry.tag != 0x61:
                continue
            fields = tlv.flatten(entry.children or ())
            aid = fields.get(0x4F)
            if not aid or not 5 <= len(aid) <= 16 or not _aid_supported(ctx.config, aid):
                continue
            priority, confirm = _priority(fields)
            found.append(Candidate(aid, _label(fields) or aid.hex().upper(), priority, confirm))
    return found


def candidates_from_aid_list(ctx: TransactionContext) -> list[Candidate]:
    """Book 1 12.3.3: SELECT each terminal AID; follow partial matches with 'next'."""
    found: list[Candidate] = []
    for entry in ctx.config.aids:
        next_occurrence = False
        for _ in range(16):
            response = ctx.send(apdu.select_by_name(entry.aid, next_occurrence))
            if response.sw == SW_CARD_BLOCKED and not next_occurrence and not found:
                raise KernelTermination("the card is blocked (6A81)")
            if response.sw == SW_FILE_NOT_FOUND or response.sw1 not in (0x90, 0x62):
                break
            fci = _parse_fci(response.data)
            df = fci.find(0x84)
            if df is None:
                raise KernelTermination("card FCI has no DF name (84)")
            fields = tlv.flatten(fci.children or ())
            blocked = response.sw == SW_APPLICATION_BLOCKED
            exact = df.value == entry.aid
            partial = entry.partial_selection and df.value.startswith(entry.aid)
            if (exact or partial) and not blocked and response.ok:
                priority, confirm = _priority(fields)
                found.append(
                    Candidate(
                        df.value,
                        _label(fields) or entry.label,
                        priority,
                        confirm,
                        fci=response.data,
                    )
                )
            if exact or not entry.partial_selection:
                break
            next_occurrence = True
    return found


def build_candidate_list(ctx: TransactionContext) -> list[Candidate]:
    pse = candidates_from_pse(ctx)
    candidates = pse if pse else candidates_from_aid_list(ctx)
    return sorted(candidates, key=lambda c: c.sort_key)


def choose(ctx: TransactionContext, candidates: list[Candidate]) -> Candidate:
    """Book 1 12.4 steps 1-4: cardholder choice or automatic selection."""
    if not candidates:
        ctx.cardholder.show(Message.NOT_ACCEPTED)
        raise KernelTermination("the card has no application this terminal accepts")
    choices = [ApplicationChoice(c.label, c.aid, c.priority) for c in candidates]
    if len(candidates) == 1:
        only = candidates[0]
        if only.needs_confirmation:
            if not ctx.config.cardholder_confirmation:
                raise KernelTermination("the only application needs cardholder confirmation")
            if not ctx.cardholder.confirm_application(choices[0]):
                raise KernelTermination("the cardholder did not confirm the application")
        return only
    if ctx.config.cardholder_confirmation:
        index = ctx.cardholder.choose_application(choices)
        if index is None or not 0 <= index < len(candidates):
            raise KernelTermination("the cardholder cancelled application selection")
        return candidates[index]
    automatic = [c for c in candidates if not c.needs_confirmation]
    if not automatic:
        raise KernelTermination("every application needs cardholder confirmation")
    return automatic[0]


def final_select(ctx: TransactionContext, chosen: Candidate, reuse_fci: bool) -> bool:
    """Book 1 12.4 step 5: select the chosen ADF and keep its FCI data.

    Returns False when the card answers the final SELECT with anything but 9000 (e.g.
    6283, application blocked): the caller removes the application from the candidate
    list, shows 'Try again' and goes back to the choice (Book 1 12.4).
    """
    data = chosen.fci if reuse_fci and chosen.fci is not None else None
    if data is None:
        response = ctx.send(apdu.select_by_name(chosen.aid))
        if not response.ok:
            return False
        data = response.data
    fci = _parse_fci(data)
    df = fci.find(0x84)
    if df is None or df.value != chosen.aid:
        raise KernelTermination("card selected a different application than requested")
    for obj in tlv.iter_primitives(fci.children or ()):
        if obj.tag in (0x84, 0x50, 0x87, 0x9F38, 0x5F2D, 0x9F11, 0x9F12):
            ctx.card_data[obj.tag] = obj.value
    ctx.card_data[0x4F] = chosen.aid
    ctx.aid_config = ctx.config.aid_config(chosen.aid)
    language = ctx.card_data.get(0x5F2D)
    if language:
        text = language.decode("ascii", "replace").lower()
        ctx.cardholder.set_language([text[i : i + 2] for i in range(0, len(text) - 1, 2)])
    return True
