"""PC/SC card readers through pyscard: implements :class:`emv.ports.CardTransport`.

Works with any reader pcsc-lite drives (USB CCID readers such as ACR38/ACR39/Omnikey,
ACR122U for contactless, vsmartcard vpcd virtual slots in tests).  The reader is opened
with protocol T=0 or T=1, whichever the card's ATR offers (PC/SC Part 5 ``SCardConnect``);
:meth:`PcscReader.transmit` is a single raw exchange - the EMV T=0 case 4 rules
(``61xx`` GET RESPONSE, ``6Cxx`` re-issue, EMV Book 1 9.3.1) live in
:class:`emv.apdu.ApduChannel` so they apply to every transport alike.

Error mapping (pcsc-lite return codes):

* card gone or reset during the exchange (``SCARD_W_REMOVED_CARD``,
  ``SCARD_E_NO_SMARTCARD``, ``SCARD_W_RESET_CARD``, ``SCARD_W_UNPOWERED_CARD``, or a
  communication error - including "success" with no status word, which is what vpcd
  returns when the card end drops mid-APDU - after which the reader reports no card) ->
  :class:`emv.errors.CardRemovedError`;
* anything else (no pcscd, unknown reader, reader unplugged, sharing violation) ->
  :class:`emv.errors.CardTransportError` with one sentence saying what to do.

The socket of a non-system pcscd is chosen with the ``PCSCLITE_CSOCK_NAME`` environment
variable (read by libpcsclite once per process).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from smartcard import scard

from emv.errors import CardRemovedError, CardTransportError

INTERFACES = ("contact", "contactless")

_REMOVED = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
}
_LINK_ERRORS = {
    scard.SCARD_E_NOT_TRANSACTED,
    scard.SCARD_F_COMM_ERROR,
    scard.SCARD_E_COMM_DATA_LOST,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_E_PROTO_MISMATCH,
}
_SERVICE_GONE = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_INVALID_HANDLE,
}
_READER_GONE = {scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER}

# After a link error, how long pcscd may take to notice a pulled card (vpcd polls ~0.4 s;
# USB readers report removal by interrupt).  Only spent on the error path.
REMOVAL_SETTLE_SECONDS = 2.0


class NoCardError(CardTransportError):
    """No card was presented in the reader before the timeout."""


class ReaderList(list[str]):
    """Reader names; empty with a one-sentence :attr:`reason` when none can be listed."""

    def __init__(self, names: list[str] | None = None, reason: str | None = None) -> None:
        super().__init__(names or [])
        self.reason = reason


def _message(hresult: int) -> str:
    text = str(scard.SCardGetErrorMessage(hresult)).strip().rstrip(".")
    return f"{text}, 0x{hresult & 0xFFFFFFFF:08X}"


def _no_service_sentence(hresult: int) -> str:
    return (
        f"The PC/SC service pcscd cannot be reached ({_message(hresult)}); start it with "
        "'sudo systemctl start pcscd' (or run 'pcscd') and check the reader is plugged in."
    )


ESTABLISH_TIMEOUT_SECONDS = 10.0  # pcscd answers in milliseconds; this only bounds a hung one


def _establish_context() -> tuple[Any, str | None]:
    """``SCardEstablishContext``, bounded by :data:`ESTABLISH_TIMEOUT_SECONDS`.

    A pcscd that accepts the connection but never answers (seen with a reader driver stuck in
    its start-up) would block the caller for ever: a cashier's screen or ``pos doctor``.
    Returns ``(context, None)`` or ``(None, one sentence)``; a context that arrives after the
    caller gave up is released.
    """
    result: list[tuple[int, Any]] = []
    lock = threading.Lock()
    abandoned = False

    def establish() -> None:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        with lock:
            if not abandoned:
                result.append((hresult, context))
                return
        if hresult == scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(context)

    worker = threading.Thread(target=establish, name="pcsc-establish", daemon=True)
    worker.start()
    worker.join(ESTABLISH_TIMEOUT_SECONDS)
    with lock:
        if not result:
            abandoned = True
            return None, (
                f"The PC/SC service pcscd did not answer within {ESTABLISH_TIMEOUT_SECONDS:g} s; "
                "restart it with 'sudo systemctl restart pcscd' and try again."
            )
    hresult, context = result[0]
    if hresult != scard.SCARD_S_SUCCESS:
        return None, _no_service_sentence(hresult)
    return context, None


def list_pcsc_readers() -> ReaderList:
    """Names of the readers pcscd offers; ``[]`` with ``.reason`` when pcscd is unreachable.

    pyscard's ``smartcard.System.readers()`` raises ``EstablishContextException``
    (``SCARD_E_NO_SERVICE``) when pcscd is not running; this returns an empty list instead.
    """
    context, reason = _establish_context()
    if reason is not None:
        return ReaderList(reason=reason)
    try:
        return _reader_names(context)
    finally:
        scard.SCardReleaseContext(context)


def _reader_names(context: Any) -> ReaderList:
    """``SCardListReaders`` on a context the caller already holds."""
    hresult, names = scard.SCardListReaders(context, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return ReaderList(reason="pcscd is running but no reader is connected; plug one in.")
    if hresult != scard.SCARD_S_SUCCESS:
        return ReaderList(reason=f"pcscd could not list its readers ({_message(hresult)}).")
    return ReaderList([str(n) for n in names])


@dataclass(frozen=True)
class ReaderState:
    """One reader as ``pos readers`` shows it."""

    name: str
    card_present: bool
    atr: bytes = b""
    in_use: bool = False  # another program holds the card exclusively


def pcsc_reader_states() -> tuple[list[ReaderState], str | None]:
    """Every reader with its card status, or ``([], reason)`` when pcscd is unreachable."""
    context, reason = _establish_context()
    if reason is not None:
        return [], reason
    try:
        names = _reader_names(context)
        if not names:
            return [], names.reason
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        )
        if hresult != scard.SCARD_S_SUCCESS:
            return [], f"pcscd could not report its readers ({_message(hresult)})."
        out = []
        for name, event_state, atr in states:
            present = bool(event_state & scard.SCARD_STATE_PRESENT)
            out.append(
                ReaderState(
                    name=str(name),
                    card_present=present,
                    atr=bytes(atr) if present else b"",
                    in_use=bool(event_state & scard.SCARD_STATE_EXCLUSIVE),
                )
            )
        return out, None
    finally:
        scard.SCardReleaseContext(context)


def resolve_reader_name(wanted: str | None, available: list[str]) -> str:
    """Pick a reader: exact name, else the first whose name starts with / contains ``wanted``.

    ``None`` picks the first reader.  Raises :class:`CardTransportError` when none matches.
    """
    if not available:
        raise CardTransportError(
            "No PC/SC reader is connected; plug in a reader (see 'pos readers')."
        )
    if wanted is None:
        return available[0]
    if wanted in available:
        return wanted
    for matches in (
        [n for n in available if n.startswith(wanted)],
        [n for n in available if wanted.casefold() in n.casefold()],
    ):
        if matches:
            return matches[0]
    raise CardTransportError(
        f"No PC/SC reader named '{wanted}'; connected readers: {', '.join(available)}."
    )


class PcscReader:
    """One PC/SC reader slot and the card in it."""

    def __init__(self, reader_name: str | None = None, *, interface: str = "contact") -> None:
        if interface not in INTERFACES:
            raise ValueError(f"interface must be one of {INTERFACES}, not {interface!r}")
        self.interface = interface
        self.atr: bytes | None = None
        self.protocol: int | None = None
        self._card: Any = None
        context, reason = _establish_context()
        if reason is not None:
            raise CardTransportError(reason)
        self._context: Any = context
        readers = _reader_names(context)
        if readers.reason:
            self._release_context()
            if reader_name is not None:
                raise CardTransportError(
                    f"No PC/SC reader named '{reader_name}'; connected readers: none "
                    f"({readers.reason[0].lower()}{readers.reason[1:].rstrip('.')})."
                )
            raise CardTransportError(readers.reason)
        try:
            self.reader_name = resolve_reader_name(reader_name, list(readers))
        except CardTransportError:
            self._release_context()
            raise

    # --- CardTransport -------------------------------------------------------------------

    @property
    def protocol_name(self) -> str:
        return {scard.SCARD_PROTOCOL_T0: "T=0", scard.SCARD_PROTOCOL_T1: "T=1"}.get(
            self.protocol or 0, "none"
        )

    def wait_for_card(self, timeout: float) -> bytes:
        """Wait up to ``timeout`` seconds for a card, power it and return its ATR."""
        if self._card is not None and self.atr is not None:
            return self.atr
        context = self._require_context()
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            remaining = deadline - time.monotonic()
            wait_ms = max(0, int(min(remaining, 1.0) * 1000))
            hresult, states = scard.SCardGetStatusChange(
                context, wait_ms, [(self.reader_name, state)]
            )
            if hresult == scard.SCARD_S_SUCCESS:
                _name, event_state, _atr = states[0]
                if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    raise CardTransportError(
                        f"Reader '{self.reader_name}' was disconnected; plug it back in."
                    )
                if event_state & scard.SCARD_STATE_PRESENT:
                    if event_state & scard.SCARD_STATE_MUTE:
                        raise CardTransportError(
                            f"The card in '{self.reader_name}' does not answer; remove it and "
                            "insert it again, chip first."
                        )
                    return self._connect()
                state = event_state & ~scard.SCARD_STATE_CHANGED
            elif hresult in _READER_GONE:
                raise CardTransportError(
                    f"Reader '{self.reader_name}' was disconnected; plug it back in."
                )
            elif hresult in _SERVICE_GONE:
                raise CardTransportError(_no_service_sentence(hresult))
            elif hresult != scard.SCARD_E_TIMEOUT:
                raise CardTransportError(
                    f"Cannot watch reader '{self.reader_name}' ({_message(hresult)})."
                )
            if time.monotonic() >= deadline:
                verb = "presented to" if self.interface == "contactless" else "inserted in"
                raise NoCardError(
                    f"No card was {verb} reader '{self.reader_name}' within {timeout:g} s; "
                    "present the card and try again."
                )

    def transmit(self, apdu: bytes) -> bytes:
        """One raw command/response exchange; the response includes SW1 SW2."""
        if self._card is None or self.protocol is None:
            raise CardTransportError(
                f"No card is connected in reader '{self.reader_name}'; wait for a card first."
            )
        hresult, response = scard.SCardTransmit(self._card, self.protocol, list(apdu))
        if hresult == scard.SCARD_S_SUCCESS:
            if len(response) >= 2:
                return bytes(response)
            # vpcd (and some USB readers) report success with no bytes when the card is
            # pulled mid-exchange: a response without SW1 SW2 is a link failure.
            hresult = scard.SCARD_F_COMM_ERROR
        if hresult in _REMOVED or (hresult in _LINK_ERRORS and self._card_left()):
            self._drop_card()
            raise CardRemovedError(
                f"The card left reader '{self.reader_name}' during the exchange; "
                "present it again to restart the transaction."
            )
        self._drop_card()
        if hresult in _SERVICE_GONE:
            raise CardTransportError(_no_service_sentence(hresult))
        if hresult in _READER_GONE:
            raise CardTransportError(
                f"Reader '{self.reader_name}' was disconnected; plug it back in."
            )
        raise CardTransportError(
            f"Reader '{self.reader_name}' could not exchange data with the card "
            f"({_message(hresult)}); remove the card and try again."
        )

    def close(self) -> None:
        """Power the card down and release the PC/SC context."""
        self.disconnect()
        self._release_context()

    def disconnect(self) -> None:
        """Power the card down (the next :meth:`wait_for_card` connects again)."""
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_UNPOWER_CARD)
        self._drop_card()

    def __enter__(self) -> PcscReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------

    def _require_context(self) -> Any:
        if self._context is None:
            raise CardTransportError(f"Reader '{self.reader_name}' was closed.")
        return self._context

    def _connect(self) -> bytes:
        hresult, card, protocol = scard.SCardConnect(
            self._require_context(),
            self.reader_name,
            scard.SCARD_SHARE_EXCLUSIVE,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult == scard.SCARD_E_SHARING_VIOLATION:
            raise CardTransportError(
                f"Reader '{self.reader_name}' is in use by another program; close it and try again."
            )
        if hresult in _REMOVED:
            raise CardRemovedError(
                f"The card left reader '{self.reader_name}' while it was being powered; "
                "present it again."
            )
        if hresult != scard.SCARD_S_SUCCESS:
            raise CardTransportError(
                f"Cannot power the card in '{self.reader_name}' ({_message(hresult)}); "
                "remove it and insert it again."
            )
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(card)
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            if hresult in _REMOVED:
                raise CardRemovedError(
                    f"The card left reader '{self.reader_name}' while it was being powered; "
                    "present it again."
                )
            raise CardTransportError(
                f"Cannot read the ATR in '{self.reader_name}' ({_message(hresult)})."
            )
        self._card = card
        self.protocol = protocol
        self.atr = bytes(atr)
        return self.atr

    def _card_left(self) -> bool:
        """After a link error: does pcscd see the card gone within the settle time?"""
        context = self._context
        if context is None:
            return False
        deadline = time.monotonic() + REMOVAL_SETTLE_SECONDS
        state = scard.SCARD_STATE_UNAWARE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            hresult, states = scard.SCardGetStatusChange(
                context, int(remaining * 1000), [(self.reader_name, state)]
            )
            if hresult == scard.SCARD_E_TIMEOUT:
                return False
            if hresult != scard.SCARD_S_SUCCESS:
                return hresult in _READER_GONE
            _name, event_state, _atr = states[0]
            if event_state & scard.SCARD_STATE_EMPTY:
                return True
            state = event_state & ~scard.SCARD_STATE_CHANGED

    def _drop_card(self) -> None:
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
        self._card = None
        self.protocol = None
        self.atr = None

    def _release_context(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None
