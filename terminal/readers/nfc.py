"""Contactless reader through nfcpy: implements :class:`emv.ports.CardTransport`.

The same code drives a PN532 on a Raspberry Pi UART (``tty:AMA0:pn532`` / ``tty:S0:pn532``),
a USB reader nfcpy knows (``usb``, ``usb:054c:06c3``) and, in tests, nfcpy's UDP radio
simulation (``udp:HOST:PORT``) with :class:`hardware_sim.nfc_card.NfcType4ACard` as the card.

Activation follows ISO/IEC 14443-3 Type A polling and ISO/IEC 14443-4 5 (RATS/ATS); the
block protocol (ISO/IEC 14443-4 7: chaining, R(NAK) retries, S(WTX)) is nfcpy's
``IsoDepInitiator``.  EMV Contactless Book D collision handling is out of reach of nfcpy
(it reports one target), so "one card only" relies on the kernel's outcome.

Errors: a card that leaves the field raises :class:`emv.errors.CardRemovedError`; anything
else (no device, no card in time, protocol breach) raises
:class:`emv.errors.CardTransportError` whose message is one sentence with the fix.
"""

from __future__ import annotations

import errno
import logging
import socket
import statistics
import time
from dataclasses import dataclass

import nfc
import nfc.clf
import nfc.tag
import nfc.tag.tt4

from emv.errors import CardRemovedError, CardTransportError

# nfcpy logs whole frames (PAN, track 2) at DEBUG and chatty retry warnings: keep frames out
# of every log (PCI DSS) and keep warnings off a cashier's console unless logging is set up.
logging.getLogger("nfc").setLevel(logging.INFO)
logging.getLogger("nfc").addHandler(logging.NullHandler())

DEFAULT_DEVICE = "udp:localhost:54321"
HELP = "see docs/hardware-nfc.md"
SAK_ISO14443_4 = 0x20  # SAK bit 6: the PICC speaks ISO/IEC 14443-4 (EMV Book D 5.4.2)
S_DESELECT = b"\xc2"


class CardNotPresentedError(CardTransportError):
    """No contactless card was presented within the allowed time."""


class NfcReader:
    """One nfcpy contactless front end; ``transmit`` exchanges one APDU over ISO-DEP."""

    def __init__(self, device: str = DEFAULT_DEVICE, *, poll_interval: float = 0.05) -> None:
        self.device = device
        self.poll_interval = poll_interval
        self.uid: bytes | None = None
        self._clf: nfc.ContactlessFrontend | None = None
        self._tag: nfc.tag.tt4.Type4Tag | None = None

    # ----------------------------------------------------------------- device
    def open(self) -> nfc.ContactlessFrontend:
        """Open the device now (``wait_for_card`` does it on demand)."""
        if self._clf is not None:
            return self._clf
        try:
            self._clf = nfc.ContactlessFrontend(self.device)
        except socket.gaierror as exc:
            raise CardTransportError(
                f"Cannot resolve the host in '{self.device}'; use udp:HOST:PORT with a "
                "reachable host."
            ) from exc
        except OSError as exc:
            raise CardTransportError(_open_error(self.device, exc.errno)) from exc
        except (ValueError, TypeError, ImportError) as exc:
            raise CardTransportError(
                f"'{self.device}' is not an NFC device path; use usb, tty:PORT:pn532 or "
                f"udp:HOST:PORT ({HELP})."
            ) from exc
        return self._clf

    def close(self) -> None:
        """Deselect the card (S(DESELECT), ISO/IEC 14443-4 8) and switch the field off."""
        self.deselect()
        if self._clf is not None:
            try:
                self._clf.close()
            except OSError:
                pass
            self._clf = None

    def __enter__(self) -> NfcReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- activation
    def wait_for_card(self, timeout: float) -> bytes:
        """Poll for a Type 4A card, activate it (RATS) and return its UID.

        A simulated (UDP) field answers each poll within 1 s, so very short timeouts are
        rounded up to one poll.
        """
        clf = self.open()
        self._tag = None
        self.uid = None
        deadline = time.monotonic() + timeout
        saw_other_card = False
        while True:
            target = self._sense(clf)
            if target is not None:
                if target.sel_res and target.sel_res[0] & SAK_ISO14443_4:
                    tag = self._activate(clf, target)
                    if tag is not None:
                        self._tag = tag
                        self.uid = bytes(target.sdd_res or b"")
                        return self.uid
                else:
                    saw_other_card = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(self.poll_interval, remaining))
        if saw_other_card:
            raise CardNotPresentedError(
                "A card is in the field but it is not a contactless payment card "
                "(no ISO 14443-4); present a payment card or phone."
            )
        raise CardNotPresentedError(
            f"No contactless card was presented within {timeout:g} s; tap the card and try again."
        )

    def _sense(self, clf: nfc.ContactlessFrontend) -> nfc.clf.RemoteTarget | None:
        try:
            return clf.sense(nfc.clf.RemoteTarget("106A"), iterations=1)
        except nfc.clf.UnsupportedTargetError as exc:
            raise CardTransportError(
                f"The NFC device at '{self.device}' cannot poll for Type A cards ({HELP})."
            ) from exc
        except nfc.clf.CommunicationError:
            return None  # a collision or a garbled answer: poll again
        except OSError as exc:
            self._drop_device()
            raise CardTransportError(_lost_device(self.device)) from exc

    def _activate(
        self, clf: nfc.ContactlessFrontend, target: nfc.clf.RemoteTarget
    ) -> nfc.tag.tt4.Type4Tag | None:
        try:
            tag = nfc.tag.activate(clf, target)
        except OSError as exc:
            self._drop_device()
            raise CardTransportError(_lost_device(self.device)) from exc
        except (IndexError, ValueError, nfc.clf.CommunicationError):
            return None  # a malformed ATS: poll again as EMV Book D 5.2 asks
        return tag if isinstance(tag, nfc.tag.tt4.Type4Tag) else None

    # ----------------------------------------------------------------- exchange
    def transmit(self, apdu: bytes) -> bytes:
        """Send one C-APDU and return the R-APDU including SW1 SW2."""
        tag = self._tag
        if tag is None:
            raise CardTransportError(
                "No contactless card is active; call wait_for_card and tap the card first."
            )
        try:
            response = tag.transceive(bytearray(apdu))
        except nfc.tag.tt4.Type4TagCommandError as exc:
            self._tag = None
            if exc.errno in (nfc.tag.TIMEOUT_ERROR, nfc.tag.RECEIVE_ERROR):
                raise CardRemovedError(
                    "The card left the reader field during the exchange; tap it again."
                ) from exc
            raise CardTransportError(
                "The contactless card broke the ISO 14443-4 protocol; tap the card again."
            ) from exc
        except (nfc.clf.TimeoutError, nfc.clf.BrokenLinkError) as exc:
            self._tag = None
            raise CardRemovedError(
                "The card left the reader field during the exchange; tap it again."
            ) from exc
        except (nfc.clf.CommunicationError, IndexError) as exc:
            self._tag = None
            raise CardTransportError(
                "The contactless link failed during the exchange; tap the card again."
            ) from exc
        except OSError as exc:
            self._tag = None
            self._drop_device()
            raise CardTransportError(_lost_device(self.device)) from exc
        if response is None or len(response) < 2:
            self._tag = None
            raise CardTransportError(
                "The contactless card answered without a status word; tap the card again."
            )
        return bytes(response)

    def card_present(self) -> bool:
        """ISO-DEP presence check with R(NAK) (ISO/IEC 14443-4 7.5.6.2 / EMV Book D 9.4)."""
        if self._tag is None:
            return False
        try:
            present = bool(self._tag.is_present)
        except OSError:
            present = False
        if not present:
            self._tag = None
        return present

    def deselect(self) -> None:
        """Send S(DESELECT) so the card leaves the protocol cleanly; errors are ignored."""
        tag, self._tag = self._tag, None
        if tag is None or self._clf is None:
            return
        try:
            self._clf.exchange(bytearray(S_DESELECT), 0.1)
        except (nfc.clf.CommunicationError, OSError):
            pass

    def _drop_device(self) -> None:
        clf, self._clf = self._clf, None
        self._tag = None
        if clf is not None:
            try:
                clf.close()
            except OSError:
                pass


def _open_error(device: str, code: int | None) -> str:
    if code == errno.EACCES:
        return (
            f"Permission denied for the NFC device '{device}': add this user to the 'dialout' "
            f"(serial) or 'plugdev' (USB) group or install the udev rule ({HELP})."
        )
    if code == errno.EBUSY:
        return (
            f"The NFC device '{device}' is busy: stop pcscd or unload the kernel's pn533 "
            f"driver, which claim the reader first ({HELP})."
        )
    if code == errno.ETIMEDOUT:
        return (
            f"The device at '{device}' did not answer as an NFC reader: check the wiring, the "
            f"driver name and that the serial port is enabled ({HELP})."
        )
    return f"No NFC device at '{device}': plug in the PN532/ACR122U or check permissions ({HELP})."


def _lost_device(device: str) -> str:
    return f"The NFC device '{device}' stopped responding; check its cable or power ({HELP})."


# --------------------------------------------------------------------------- benchmark
@dataclass(frozen=True)
class NfcBenchResult:
    apdus: int
    apdus_per_second: float
    median_ms: float
    p95_ms: float
    activation_ms: float
    response_bytes: int


class _EchoCard:
    """A minimal card application for the benchmark: returns the command data + 9000."""

    def power_on(self) -> None:
        return None

    def process(self, apdu: bytes) -> bytes:
        size = apdu[4] if len(apdu) > 4 else 0
        return apdu[5 : 5 + size] + b"\x90\x00"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bench_nfc(n: int = 2000, *, data_size: int = 16) -> NfcBenchResult:
    """APDU round trips per second and per-APDU latency over nfcpy's UDP driver.

    Runs the real :class:`NfcReader` against :class:`hardware_sim.nfc_card.NfcType4ACard`
    in this process; ``data_size`` 249-255 makes every exchange chain in both directions
    (a frame carries at most 253 bytes of INF with FSD/FSC 256).
    """
    if not 0 <= data_size <= 255:
        raise ValueError("data_size must be 0-255 (a short APDU)")
    from hardware_sim.nfc_card import NfcType4ACard

    port = _free_udp_port()
    card = NfcType4ACard(_EchoCard(), "localhost", port)
    card.start()
    reader = NfcReader(f"udp:localhost:{port}")
    try:
        started = time.perf_counter()
        reader.wait_for_card(5.0)
        activation = time.perf_counter() - started
        apdu = bytes.fromhex("80CA0000") + bytes([data_size]) + bytes(range(256))[:data_size]
        samples = []
        total_start = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            reader.transmit(apdu)
            samples.append(time.perf_counter() - t0)
        total = time.perf_counter() - total_start
    finally:
        reader.close()
        card.stop()
    samples.sort()
    return NfcBenchResult(
        apdus=n,
        apdus_per_second=n / total,
        median_ms=statistics.median(samples) * 1000,
        p95_ms=samples[int(0.95 * (len(samples) - 1))] * 1000,
        activation_ms=activation * 1000,
        response_bytes=data_size + 2,
    )
