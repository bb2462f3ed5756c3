"""EMV Contactless Book B: Entry Point, sans-I/O.

* Pre-processing (Book B 3.1): per combination, the contactless transaction limit, the
  floor limit, the CVM required limit, status check and zero amount set the
  Entry Point Pre-Processing Indicators and a copy of the TTQ (9F66).
* Protocol activation (3.2): a collision (:class:`MultipleCardsError` from the reader
  adapter) gives "Please present one card only" and the terminal waits again.
* Combination selection (3.3): SELECT PPSE ``2PAY.SYS.DDF01``, directory entries
  61{4F 50 87 9F2A 9F29}, kernel identifier, priority, extended selection, then SELECT
  AID; an application that fails to select is dropped and the next one is tried.
* Kernel activation and outcome processing (3.4, 3.5): the kernel returns an Outcome;
  Entry Point shows its UI requests and restarts at B (re-tap) or C (next candidate).

Use: ``ep = EntryPoint(config, ...)``; ``ep.start(transaction)``; then for every card
presented ``result = ep.tap(transport)``; while ``result.restart`` wait for the card again
and call ``tap`` once more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from emv import tlv
from emv.apdu import ApduChannel, select_by_name
from emv.capk import CapkStore, RevocationList
from emv.contactless.config import Combination, ContactlessConfig, TerminalSettings
from emv.contactless.outcome import (
    ContactlessMessage,
    ContactlessResult,
    MultipleCardsError,
    OutcomeStatus,
    Start,
    UiMessage,
)
from emv.errors import CardError, CardProtocolError, CardRemovedError, EmvError
from emv.ports import CardTransport, Clock, Message, RandomSource

PPSE = b"2PAY.SYS.DDF01"

# Book B Table 3-6: default kernel per RID when the directory entry has no 9F2A.
DEFAULT_KERNEL_BY_RID: dict[bytes, int] = {
    bytes.fromhex("A000000004"): 2,
    bytes.fromhex("A000000003"): 3,
    bytes.fromhex("A000000025"): 4,
    bytes.fromhex("A000000065"): 5,
    bytes.fromhex("A000000152"): 6,
    bytes.fromhex("A000000333"): 7,
}


@dataclass(frozen=True)
class Transaction:
    """The cashier's request (amounts in minor units; ISO 4217 numeric currency)."""

    amount_minor: int
    currency_numeric: int
    transaction_type: int = 0x00
    other_amount_minor: int = 0
    currency_exponent: int = 2


@dataclass(frozen=True)
class PreProcessingIndicators:
    """Book B 3.1.1 Entry Point Pre-Processing Indicators for one combination."""

    status_check_requested: bool = False
    contactless_application_not_allowed: bool = False
    zero_amount: bool = False
    floor_limit_exceeded: bool = False
    cvm_required_limit_exceeded: bool = False
    ttq: bytes = bytes(4)


def pre_process(
    combo: Combination, txn: Transaction, terminal: TerminalSettings
) -> PreProcessingIndicators:
    """Book B 3.1.1.1 - 3.1.1.13 for one AID/kernel combination."""
    amount = txn.amount_minor
    ttq = bytearray(combo.ttq)
    ttq[1] &= 0x3F  # 3.1.1.2: clear 'online cryptogram required' and 'CVM required'
    status_check = combo.status_check and amount == 10**txn.currency_exponent  # one unit
    not_allowed = txn.transaction_type not in combo.transaction_types
    zero = amount == 0
    if zero and not combo.zero_amount_allowed:
        not_allowed = True  # 3.1.1.5
    limit = combo.contactless_transaction_limit
    if limit is not None and amount >= limit:
        not_allowed = True  # 3.1.1.6
    floor = combo.floor_limit if combo.floor_limit is not None else terminal.terminal_floor_limit
    floor_exceeded = floor is not None and amount > floor  # 3.1.1.7 / 3.1.1.8
    cvm_limit = combo.cvm_required_limit
    cvm_exceeded = cvm_limit is not None and amount >= cvm_limit  # 3.1.1.9
    if status_check or zero or floor_exceeded:
        ttq[1] |= 0x80  # 3.1.1.12: online cryptogram required
    if cvm_exceeded:
        ttq[1] |= 0x40  # 3.1.1.13: CVM required
    return PreProcessingIndicators(
        status_check_requested=status_check,
        contactless_application_not_allowed=not_allowed,
        zero_amount=zero,
        floor_limit_exceeded=floor_exceeded,
        cvm_required_limit_exceeded=cvm_exceeded,
        ttq=bytes(ttq),
    )


@dataclass
class KernelContext:
    """What Entry Point hands to the selected kernel (Book B 3.4.1)."""

    combination: Combination
    terminal: TerminalSettings
    indicators: PreProcessingIndicators
    transaction: Transaction
    adf_name: bytes
    fci: dict[int, bytes]
    channel: ApduChannel
    clock: Clock
    random: RandomSource
    capks: CapkStore
    revocation: RevocationList | None
    ui: Callable[[UiMessage], None]


class Kernel(Protocol):
    def run(self, ctx: KernelContext) -> ContactlessResult: ...


@dataclass(frozen=True)
class Candidate:
    adf_name: bytes
    priority: int
    order: int
    combination: Combination
    indicators: PreProcessingIndicators
    extended_selection: bytes = b""


def default_kernels() -> dict[int, Kernel]:
    from emv.contactless.kernel_c2 import KernelC2
    from emv.contactless.kernel_c3 import KernelC3

    return {2: KernelC2(), 3: KernelC3()}


@dataclass
class EntryPoint:
    config: ContactlessConfig
    capks: CapkStore
    clock: Clock
    random: RandomSource
    revocation: RevocationList | None = None
    on_ui: Callable[[UiMessage], None] | None = None
    kernels: Mapping[int, Kernel] = field(default_factory=default_kernels)
    transaction: Transaction | None = None
    indicators: dict[tuple[bytes, int], PreProcessingIndicators] = field(default_factory=dict)
    _pending_ui: UiMessage | None = None

    # --- Start A: pre-processing --------------------------------------------------------

    def start(self, txn: Transaction) -> ContactlessResult | None:
        """Pre-process every combination; a result means "do not poll for a card"."""
        self.transaction = txn
        self.indicators = {
            (c.aid, c.kernel_id): pre_process(c, txn, self.config.terminal)
            for c in self.config.combinations
        }
        if all(i.contactless_application_not_allowed for i in self.indicators.values()):
            # Book B 3.1.1.14: no combination may run; use another interface.
            result = ContactlessResult(OutcomeStatus.TRY_ANOTHER_INTERFACE)
            result.reason = "no contactless application is allowed for this transaction"
            self._emit(result, ContactlessMessage.INSERT_OR_SWIPE_CARD)
            return result
        self._pending_ui = Message.PRESENT_CARD
        return None

    def _emit(self, result: ContactlessResult, message: UiMessage) -> None:
        result.ui.append(message)
        if self.on_ui is not None:
            self.on_ui(message)

    # --- Start B: protocol activation, combination selection, kernel activation --------

    def tap(self, transport: CardTransport) -> ContactlessResult:
        if self.transaction is None:
            raise EmvError("call start() with the transaction before the first tap")
        channel = ApduChannel(transport)
        result = ContactlessResult(OutcomeStatus.END_APPLICATION)
        ui: list[UiMessage] = []

        def show(message: UiMessage) -> None:
            ui.append(message)
            if self.on_ui is not None:
                self.on_ui(message)

        if self._pending_ui is not None:
            show(self._pending_ui)
            self._pending_ui = None
        try:
            result = self._select_and_run(channel, show)
        except MultipleCardsError:
            result = ContactlessResult(OutcomeStatus.TRY_AGAIN, Start.B)
            result.reason = "more than one card in the field"
            show(ContactlessMessage.PRESENT_ONE_CARD_ONLY)
        except CardRemovedError:
            result = ContactlessResult(OutcomeStatus.TRY_AGAIN, Start.B)
            result.reason = "the card left the field before the application was selected"
            show(Message.TRY_AGAIN)
        except (CardError, CardProtocolError) as exc:
            # A link failure or a response without a status word: Book A/B treat such
            # transmission errors as "try again" (Start B).
            result = ContactlessResult(OutcomeStatus.TRY_AGAIN, Start.B)
            result.reason = f"the card could not be read: {exc}"
            show(Message.TRY_AGAIN)
        except EmvError as exc:
            result = ContactlessResult(OutcomeStatus.END_APPLICATION)
            result.reason = f"the card's answer breaks the EMV rules: {exc}"
            show(ContactlessMessage.INSERT_SWIPE_OR_TRY_ANOTHER_CARD)
        result.ui[:0] = ui
        result.apdu_count = channel.count
        if result.restart:
            self._pending_ui = result.ui_on_restart or Message.PRESENT_CARD
        return result

    def _select_and_run(
        self, channel: ApduChannel, show: Callable[[UiMessage], None]
    ) -> ContactlessResult:
        candidates, excluded = self._candidates(channel)
        while candidates:
            candidate = candidates.pop(0)
            response = channel.send(
                select_by_name(candidate.adf_name + candidate.extended_selection)
            )
            if not response.ok:
                continue  # Book B 3.3.3.4: remove it and select the next one
            try:
                fci = tlv.decode_single(response.data, 0x6F)
            except EmvError:
                continue
            values = tlv.flatten([fci])
            if values.get(0x84, b"")[: len(candidate.adf_name)] != candidate.adf_name:
                continue
            kernel = self.kernels.get(candidate.combination.kernel_id)
            if kernel is None:
                continue
            assert self.transaction is not None  # noqa: S101 - checked in tap()
            ctx = KernelContext(
                combination=candidate.combination,
                terminal=self.config.terminal,
                indicators=candidate.indicators,
                transaction=self.transaction,
                adf_name=candidate.adf_name,
                fci=values,
                channel=channel,
                clock=self.clock,
                random=self.random,
                capks=self.capks,
                revocation=self.revocation,
                ui=show,
            )
            result = kernel.run(ctx)
            if result.outcome is OutcomeStatus.SELECT_NEXT:
                continue  # Book B 3.5.1.2: Start C with the next candidate
            result.kernel_id = candidate.combination.kernel_id
            result.aid = candidate.adf_name
            result.application_label = values.get(0x50, b"").decode("ascii", "replace").strip()
            return result
        if excluded:
            result = ContactlessResult(OutcomeStatus.TRY_ANOTHER_INTERFACE)
            result.reason = "the card's applications are not allowed contactless for this amount"
            show(ContactlessMessage.INSERT_OR_SWIPE_CARD)
            return result
        result = ContactlessResult(OutcomeStatus.END_APPLICATION)
        result.reason = "the card offers no application this terminal accepts contactless"
        show(ContactlessMessage.INSERT_SWIPE_OR_TRY_ANOTHER_CARD)
        return result

    def _candidates(self, channel: ApduChannel) -> tuple[list[Candidate], int]:
        """Book B 3.3.2: build the Candidate List from the PPSE directory."""
        response = channel.send(select_by_name(PPSE))
        if not response.ok:
            return [], 0
        try:
            fci = tlv.decode_single(response.data, 0x6F)
        except EmvError:
            return [], 0
        directory = fci.find(0xBF0C)
        if directory is None or not directory.children:
            return [], 0
        out: list[Candidate] = []
        excluded = 0
        for order, entry in enumerate(directory.children):
            if entry.tag != 0x61 or not entry.children:
                continue
            values = tlv.flatten([entry])
            adf = values.get(0x4F)
            if adf is None or not 5 <= len(adf) <= 16:
                continue  # 3.3.2.4: no usable ADF Name
            kernel_id = self._requested_kernel(adf, values.get(0x9F2A, b""))
            priority = values.get(0x87, b"\x00")[:1] or b"\x00"
            for combo in self.config.combinations:
                if combo.kernel_id != kernel_id or not adf.startswith(combo.aid):
                    continue
                indicators = self.indicators[(combo.aid, combo.kernel_id)]
                if indicators.contactless_application_not_allowed:
                    excluded += 1
                    continue
                extended = values.get(0x9F29, b"") if combo.extended_selection else b""
                out.append(Candidate(adf, priority[0] & 0x0F, order, combo, indicators, extended))
        # 3.3.2.6: priority 1 first, no priority (0) last, directory order within a rank.
        out.sort(key=lambda c: (c.priority or 16, c.order))
        return out, excluded

    @staticmethod
    def _requested_kernel(adf: bytes, kernel_identifier: bytes) -> int | None:
        """Book B 3.3.2.5: the kernel the card asks for, or the RID default."""
        if kernel_identifier and kernel_identifier[0] != 0x00:
            return kernel_identifier[0] & 0x3F if kernel_identifier[0] >> 6 == 0 else None
        return DEFAULT_KERNEL_BY_RID.get(adf[:5])
