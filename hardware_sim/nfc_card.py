"""A simulated ISO/IEC 14443-4 Type 4A contactless card on nfcpy's UDP driver.

nfcpy ships no Type 4A card emulator, so this module plays the card (PICC) end itself:

* ISO/IEC 14443-3 Type A anticollision is answered by nfcpy's ``listen_tta`` from the
  ATQA / UID / SAK we give it (SAK ``20``: ISO/IEC 14443-4 compliant, EMV Book D 5.4).
* ISO/IEC 14443-4 section 5: RATS is answered with an ATS at once (nfcpy waits only 30 ms).
* ISO/IEC 14443-4 section 7 (half-duplex block transmission protocol) is implemented by the
  sans-I/O :class:`IsoDepPicc`: I-blocks with block numbering (rules A, B, 10-13), chaining in
  both directions, R(NAK) presence checks, S(DESELECT) and S(WTX) for a slow card.

The card object behind it is anything with ``power_on()`` and ``process(apdu) -> rapdu``
(``hardware_sim.card.load_card`` or a test double). Frames travel as ``"106A <hex>"`` UDP
datagrams, capped at 290 bytes by the driver; there is no CRC on the wire, but frame sizes are
still counted the ISO way (PCB + INF + 2 CRC bytes <= FSD).

TEST EQUIPMENT ONLY: the simulated card listens on all interfaces of the given UDP port.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import nfc
import nfc.clf

log = logging.getLogger(__name__)

# ISO/IEC 14443-4 5.2.3 / 5.2.4 (FSDI/FSCI -> frame size, 2016 edition adds 9-C).
FRAME_SIZES = (16, 24, 32, 40, 48, 64, 96, 128, 256, 384, 512, 1024, 2048, 4096)
UDP_FRAME_LIMIT = 290  # nfcpy's UDP driver caps every frame at 290 bytes
PROLOGUE_EPILOGUE = 3  # PCB + 2-byte CRC_A, counted in FSD/FSC even though UDP carries no CRC
CARRIER_HZ = 13.56e6

# Protocol control bytes (ISO/IEC 14443-4 7.1.1.1), without CID/NAD.
PCB_I = 0x02
PCB_CHAINING = 0x10
PCB_CID = 0x08
PCB_NAD = 0x04
PCB_R_ACK = 0xA2
PCB_R_NAK = 0xB2
PCB_S_DESELECT = 0xC2
PCB_S_WTX = 0xF2

DEFAULT_UID = bytes.fromhex("08A1B2C3")  # 08xxxxxx: a random single-size UID (ISO 14443-3 6.5.4)
SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"
REQA, WUPA = b"\x26", b"\x52"  # ISO/IEC 14443-3 6.3: never valid ISO-DEP blocks


class SimulatedCard(Protocol):
    """The card application behind the contactless front end."""

    def power_on(self) -> object: ...

    def process(self, apdu: bytes) -> bytes: ...


class NfcCardSimError(RuntimeError):
    """The simulated card could not take its place in the field (e.g. UDP port in use)."""


def frame_size(index: int) -> int:
    """FSDI/FSCI to bytes; RFU codes (D-F) mean 256 for a PICC (ISO 14443-4 5.2.3)."""
    return FRAME_SIZES[index] if index < len(FRAME_SIZES) else 256


def frame_waiting_time(fwi: int) -> float:
    """FWT = (256 x 16 / fc) x 2^FWI seconds (ISO/IEC 14443-4 7.2)."""
    return 256 * 16 / CARRIER_HZ * (1 << fwi)


def build_ats(fsci: int = 8, fwi: int = 10, sfgi: int = 0, historical: bytes = b"") -> bytes:
    """Answer To Select (ISO/IEC 14443-4 5.2): TL T0 TA TB TC historical-bytes.

    TA=80: 106 kbit/s only, same divisor both ways.  TC=00: no NAD, no CID.
    The default ``05 78 80 A0 00`` announces FSC 256 and FWT ~309 ms; EMV Book D 5.2 wants
    FWI <= 7 on a real card, but over UDP on a shared CI machine a late answer would be
    duplicated by the reader's R(NAK) retry, so the simulator defaults to a roomier FWT and
    still asks for more time with S(WTX) when the application is slow.
    """
    if not (0 <= fsci <= 8 and 0 <= fwi <= 14 and 0 <= sfgi <= 14):
        raise ValueError("FSCI must be 0-8, FWI and SFGI 0-14")
    body = bytes([0x70 | fsci, 0x80, (fwi << 4) | sfgi, 0x00]) + historical
    return bytes([len(body) + 1]) + body


@dataclass(frozen=True)
class Process:
    """The PICC has a complete command APDU for the application."""

    apdu: bytes


@dataclass
class IsoDepStats:
    """What the PICC saw and did during one activation (tests assert on these)."""

    i_blocks_received: int = 0
    i_blocks_sent: int = 0
    acks_sent: int = 0
    acks_received: int = 0
    naks_received: int = 0
    retransmissions: int = 0
    ignored_blocks: int = 0
    deselected: bool = False


@dataclass
class IsoDepPicc:
    """The PICC half of the ISO/IEC 14443-4 7.5 block protocol, without I/O.

    ``receive(frame)`` returns the frame to send back, ``None`` to stay silent, or a
    :class:`Process` request; the caller runs the APDU and calls ``respond(rapdu)``.
    """

    fsd: int = 256
    block_number: int = 1  # rule A: the PICC block number starts at 1
    stats: IsoDepStats = field(default_factory=IsoDepStats)
    _rx_chain: bytearray = field(default_factory=bytearray)
    _tx_chunks: list[bytes] = field(default_factory=list)
    _last_block: bytes | None = None

    @property
    def max_inf(self) -> int:
        return min(self.fsd, UDP_FRAME_LIMIT) - PROLOGUE_EPILOGUE

    @property
    def deselected(self) -> bool:
        return self.stats.deselected

    @property
    def sending_chain(self) -> bool:
        return bool(self._tx_chunks)

    def receive(self, frame: bytes) -> bytes | Process | None:
        if not frame:
            self._ignore()
            return None
        pcb = frame[0]
        if pcb & PCB_CID:
            self._ignore()
            return None  # 7.1.1.2: a PICC without CID support ignores CID blocks
        if pcb & 0xE2 == PCB_I:
            return self._i_block(pcb, frame[1:])
        if pcb & 0xE6 == PCB_R_ACK:
            return self._r_block(pcb)
        if pcb == PCB_S_DESELECT:
            self.stats.deselected = True
            self._tx_chunks.clear()
            return bytes([PCB_S_DESELECT])
        self._ignore()
        return None  # an S(WTX) answer out of turn or an invalid block

    def respond(self, rapdu: bytes) -> bytes:
        """Start sending a response APDU, chaining it in FSD-sized I-blocks (7.5.2.1)."""
        step = self.max_inf
        chunks = [rapdu[i : i + step] for i in range(0, len(rapdu), step)] or [b""]
        self._tx_chunks = chunks[1:]
        return self._send_i(chunks[0])

    def _ignore(self) -> None:
        self.stats.ignored_blocks += 1
        return None

    def _i_block(self, pcb: int, inf: bytes) -> bytes | Process:
        if pcb & PCB_NAD:
            inf = inf[1:]
        self.stats.i_blocks_received += 1
        self._tx_chunks.clear()  # a new command ends any response chain (7.5.4.3)
        self.block_number ^= 1  # rule B
        if pcb & PCB_CHAINING:  # rule 2: acknowledge a chained command block
            self._rx_chain += inf
            self.stats.acks_sent += 1
            return self._remember(bytes([PCB_R_ACK | self.block_number]))
        apdu = bytes(self._rx_chain) + inf
        self._rx_chain.clear()
        return Process(apdu)

    def _r_block(self, pcb: int) -> bytes | None:
        number = pcb & 0x01
        nak = bool(pcb & 0x10)
        if nak:
            self.stats.naks_received += 1
        else:
            self.stats.acks_received += 1
        if number == self.block_number:  # rule 11: re-transmit the last block
            if self._last_block is None:
                self._ignore()
                return None
            self.stats.retransmissions += 1
            return self._last_block
        if nak:  # rule 12: R(NAK) with another number (a presence check) gets R(ACK)
            self.stats.acks_sent += 1
            return bytes([PCB_R_ACK | self.block_number])
        if self._tx_chunks:  # rule 13: R(ACK) with another number continues our chain
            self.block_number ^= 1
            return self._send_i(self._tx_chunks.pop(0))
        self._ignore()
        return None

    def _send_i(self, inf: bytes) -> bytes:
        more = PCB_CHAINING if self._tx_chunks else 0
        self.stats.i_blocks_sent += 1
        return self._remember(bytes([PCB_I | more | self.block_number]) + inf)

    def _remember(self, block: bytes) -> bytes:
        self._last_block = block
        return block


@dataclass
class CardSessionStats:
    """Counters across activations of one :class:`NfcType4ACard`."""

    activations: int = 0
    apdus: int = 0
    wtx_sent: int = 0
    card_errors: list[str] = field(default_factory=list)
    last_activation: IsoDepStats | None = None


class NfcType4ACard:
    """Presents ``card`` as a Type 4A PICC on nfcpy's UDP driver (``udp:HOST:PORT``).

    ``remove_after_apdus``: after that many answered APDUs in one activation the card leaves
    the field (stops answering), so the reader times out as with a card pulled away.
    """

    def __init__(
        self,
        card: SimulatedCard,
        udp_host: str = "localhost",
        udp_port: int = 54321,
        *,
        uid: bytes = DEFAULT_UID,
        remove_after_apdus: int | None = None,
        fwi: int = 10,
        fsci: int = 8,
        historical_bytes: bytes = b"",
        idle_timeout: float = 30.0,
    ) -> None:
        if len(uid) not in (4, 7, 10):
            raise ValueError("a Type A UID is 4, 7 or 10 bytes (ISO/IEC 14443-3 6.5.4)")
        self.card = card
        self.udp_host = udp_host
        self.udp_port = udp_port
        self.uid = bytes(uid)
        self.remove_after_apdus = remove_after_apdus
        self.ats = build_ats(fsci=fsci, fwi=fwi, historical=historical_bytes)
        self.fwt = frame_waiting_time(fwi)
        self.wtx_after = self.fwt / 3  # ask for more time well before the reader gives up
        self.wtx_multiplier = 4
        self.idle_timeout = idle_timeout
        self.stats = CardSessionStats()
        self.removed = False
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clf: nfc.ContactlessFrontend | None = None
        self._link_lock = threading.Lock()
        self._processing_since: float | None = None
        self._link_lost = False

    # ----------------------------------------------------------------- lifecycle
    def _frontend(self) -> nfc.ContactlessFrontend:
        if self._clf is None:
            try:
                self._clf = nfc.ContactlessFrontend(f"udp:{self.udp_host}:{self.udp_port}")
            except OSError as exc:
                raise NfcCardSimError(
                    f"cannot open the UDP field at {self.udp_host}:{self.udp_port} ({exc})"
                ) from exc
        return self._clf

    def close(self) -> None:
        if self._clf is not None:
            self._clf.close()
            self._clf = None

    def start(self) -> None:
        """Put the card in the field: serve activations in a background thread until
        :meth:`stop` or removal.  After a removal, ``start()`` again is a fresh tap."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.removed = False
        self._check_port_free()  # fail here, in the caller's thread, not in the card's
        self._frontend()
        self._thread = threading.Thread(
            target=self._run, name=f"nfc-card-{self.udp_port}", daemon=True
        )
        self._thread.start()
        self._wait_until_listening(2.0)

    def _wait_until_listening(self, timeout: float) -> None:
        """Return once the card's UDP port is bound, so the reader's first poll is heard."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.error is None:
            clf = self._clf
            sock = getattr(getattr(clf, "device", None), "socket", None)
            try:
                if sock is not None and sock.getsockname()[1] == self.udp_port:
                    return
            except OSError:
                pass  # the socket was being replaced
            time.sleep(0.001)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread; re-raises anything that crashed it."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            deadline = time.monotonic() + timeout
            while thread.is_alive() and time.monotonic() < deadline:
                self._wake()  # repeated: one may land while the listener re-binds its port
                thread.join(0.05)
            if thread.is_alive():
                raise NfcCardSimError("the simulated NFC card thread did not stop in time")
            self._thread = None
        self.close()
        if self.error is not None:
            error, self.error = self.error, None
            raise NfcCardSimError(f"the simulated NFC card failed: {error!r}") from error

    def _check_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", self.udp_port))
            except OSError as exc:
                raise NfcCardSimError(
                    f"UDP port {self.udp_port} is already in use; give the simulated card "
                    "another port"
                ) from exc

    def _run(self) -> None:
        try:
            self.serve_forever(self._stop)
        except BaseException as exc:  # noqa: BLE001 - handed to stop() in the test's thread
            self.error = exc

    def _wake(self) -> None:
        """Unblock a pending receive with a frame no reader would send (ignored, then stop)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(b"106A 00", ("127.0.0.1", self.udp_port))
            except OSError:
                pass

    def serve_forever(self, stop: threading.Event | None = None) -> None:
        """Answer activations until ``stop`` is set or the card has been removed."""
        stop = stop or self._stop
        while not stop.is_set() and not self.removed:
            self.serve_once(0.5, stop=stop)  # the port stays bound between slices
        self.close()

    # ----------------------------------------------------------------- one activation
    def serve_once(self, timeout: float, *, stop: threading.Event | None = None) -> bool:
        """Wait up to ``timeout`` s for RATS, then run ISO-DEP until DESELECT or field off."""
        stop = stop or self._stop
        clf = self._frontend()
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            target = self._listen(clf, remaining)
            if target is None:
                self._check_bound(clf)
                return False
            rats = bytes(target.tt4_cmd or b"")
            if len(rats) == 2 and rats[0] == 0xE0:
                self._activation(clf, rats, stop)
                return True
            # anything else (a stale R(NAK) after a removal, a wake-up frame): listen again
        return False

    def _listen(self, clf: nfc.ContactlessFrontend, timeout: float) -> nfc.clf.LocalTarget | None:
        """``clf.listen`` closes and re-binds the UDP port, and frames sent in that gap are lost
        (a re-tap right after DESELECT would then wait out the reader's 1 s poll).  Once bound,
        keep the socket and run the UDP driver's Type A listener on it directly."""
        device = clf.device
        sock = getattr(device, "socket", None)
        listen_tta = getattr(device, "_listen_tta", None)
        if sock is not None and listen_tta is not None and sock.getsockname()[1] == self.udp_port:
            with clf.lock:
                clf.target = listen_tta(self._local_target(), time.time() + timeout)
                return clf.target
        return clf.listen(self._local_target(), timeout)

    def _local_target(self) -> nfc.clf.LocalTarget:
        target = nfc.clf.LocalTarget("106A")
        # ATQA bits 7-8 give the UID size: single 04 00, double 44 00, triple 84 00.
        target.sens_res = bytearray([{4: 0x04, 7: 0x44, 10: 0x84}[len(self.uid)], 0x00])
        target.sdd_res = bytearray(self.uid)
        target.sel_res = bytearray([0x20])  # SAK: ISO/IEC 14443-4 compliant, complete UID
        return target

    def _check_bound(self, clf: nfc.ContactlessFrontend) -> None:
        sock = getattr(clf.device, "socket", None)
        if sock is None or sock.getsockname()[1] != self.udp_port:
            raise NfcCardSimError(
                f"UDP port {self.udp_port} is already in use; give the simulated card another port"
            )

    def _activation(self, clf: nfc.ContactlessFrontend, rats: bytes, stop: threading.Event) -> None:
        clf.exchange(bytearray(self.ats), 0)  # answer RATS first: the reader waits only 30 ms
        picc = IsoDepPicc(fsd=frame_size(rats[1] >> 4))
        self.stats.activations += 1
        self.stats.last_activation = picc.stats
        self._link_lost = False
        self.card.power_on()
        answered = 0
        if self.remove_after_apdus == 0:
            self.removed = True
            return
        watchdog_stop = threading.Event()
        watchdog = threading.Thread(target=self._watchdog, args=(clf, watchdog_stop), daemon=True)
        watchdog.start()
        try:
            reply: bytes | None = None
            idle_until = time.monotonic() + self.idle_timeout
            while not stop.is_set():
                send = bytearray(reply) if reply is not None else None
                reply = None
                wait = min(0.5, idle_until - time.monotonic())
                if wait <= 0:
                    return  # the field went quiet: treat as removed from the field
                try:
                    frame = clf.exchange(send, wait)
                except nfc.clf.TimeoutError:
                    continue
                except nfc.clf.BrokenLinkError:
                    return  # RFOFF: the reader switched its field off
                except nfc.clf.CommunicationError:
                    continue  # a garbled datagram: the PICC ignores it
                if frame is None or bytes(frame) in (REQA, WUPA):
                    return  # a new poll: the reader restarted its field without RFOFF
                idle_until = time.monotonic() + self.idle_timeout
                result = picc.receive(bytes(frame))
                if isinstance(result, Process):
                    rapdu = self._process(result.apdu)
                    if self._link_lost:
                        return
                    answered += 1
                    self.stats.apdus += 1
                    reply = picc.respond(rapdu)
                else:
                    reply = result
                leaving = (
                    self.remove_after_apdus is not None
                    and answered >= self.remove_after_apdus
                    and not picc.sending_chain
                )
                if picc.deselected or leaving:
                    if reply is not None:
                        clf.exchange(bytearray(reply), 0)
                    self.removed = self.removed or leaving
                    return
        finally:
            watchdog_stop.set()
            watchdog.join(2.0)

    # ----------------------------------------------------------------- the application + WTX
    def _process(self, apdu: bytes) -> bytes:
        self._processing_since = time.monotonic()
        try:
            rapdu = bytes(self.card.process(apdu))
        except Exception as exc:  # noqa: BLE001 - a card bug must not kill the field
            self.stats.card_errors.append(f"{type(exc).__name__}: {exc}")
            log.warning("simulated card raised %s; answering 6F00", type(exc).__name__)
            rapdu = SW_NO_PRECISE_DIAGNOSIS
        finally:
            self._processing_since = None
        with self._link_lock:  # wait for a WTX round in flight to finish
            pass
        if len(rapdu) < 2:
            self.stats.card_errors.append("response shorter than SW1 SW2")
            rapdu = SW_NO_PRECISE_DIAGNOSIS
        return rapdu

    def _watchdog(self, clf: nfc.ContactlessFrontend, done: threading.Event) -> None:
        """Send S(WTX) while the application is busy (ISO/IEC 14443-4 7.3)."""
        poll = self.wtx_after / 2
        while not done.wait(poll):
            started = self._processing_since
            if started is None or time.monotonic() - started < self.wtx_after:
                continue
            with self._link_lock:
                if self._processing_since is None:
                    continue
                if not self._send_wtx(clf):
                    self._link_lost = True
                    return
                self._processing_since = time.monotonic()

    def _send_wtx(self, clf: nfc.ContactlessFrontend) -> bool:
        request = bytearray([PCB_S_WTX, self.wtx_multiplier])
        self.stats.wtx_sent += 1
        deadline = time.monotonic() + self.fwt
        send: bytearray | None = request
        while (wait := deadline - time.monotonic()) > 0:
            try:
                frame = clf.exchange(send, wait)
            except nfc.clf.TimeoutError:
                return False
            except nfc.clf.BrokenLinkError:
                return False
            except nfc.clf.CommunicationError:
                frame = None
            send = None
            if frame and frame[0] == PCB_S_WTX:
                return True
            # an R(NAK) sent by a reader that lost patience: the WTX request answers it
        return False
