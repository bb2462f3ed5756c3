"""Device status: readers, PIN pad, fingerprint sensor, printer, host link and the
store-and-forward queue, each green or red with the reason in one sentence.

T tests the host link with an ISO 8583 0800 network echo (``AcquirerClient.echo()``,
ISO 8583:1987 network management, DE 70 = 301).  The checks run in a worker thread holding
the session's payment lock: the PIN pad, the sensor and the acquirer client serve one
caller at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from terminal.tui.screens.title_bar import TitleBar

if TYPE_CHECKING:
    from terminal.tui.app import PosApp
    from terminal.tui.wiring import TerminalSession

DEVICES = ("readers", "pinpad", "fingerprint", "printer", "host", "saf")


@dataclass(frozen=True)
class DeviceState:
    name: str
    ok: bool
    reason: str  # one sentence: what is there, or what is wrong and what to do


def _why(exc: BaseException) -> str:
    return str(exc).strip().rstrip(".") or type(exc).__name__


def reader_state(session: TerminalSession) -> DeviceState:
    try:
        status = session.reader_status()
    except Exception as exc:  # noqa: BLE001 - one sentence for the cashier
        return DeviceState("Card readers", False, f"Readers cannot be listed ({_why(exc)}).")
    live = [r for r in status if r.live]
    parts = "; ".join(f"{r.name}: {'live' if r.live else 'off'} ({r.detail})" for r in status)
    if not live:
        return DeviceState(
            "Card readers", False, f"No card reader is live - {parts}; plug one in ('pos doctor')."
        )
    return DeviceState("Card readers", True, f"{parts}.")


def pinpad_state(session: TerminalSession) -> DeviceState:
    pad = getattr(session.device, "pinpad", None)
    if pad is not None:
        try:
            status = pad.status()
        except Exception as exc:  # noqa: BLE001 - PeripheralError or a dead port
            return DeviceState(
                "PIN pad",
                False,
                f"The PIN pad does not answer ({_why(exc)}); check its cable and power, "
                "then restart 'pos run'.",
            )
        if not status.ksn:
            return DeviceState(
                "PIN pad", False, "The PIN pad has no PIN key loaded; load a DUKPT key (LK)."
            )
        return DeviceState(
            "PIN pad", True, f"{status.model} serial {status.serial_number}, next KSN {status.ksn}."
        )
    if session.demo:
        return DeviceState(
            "PIN pad", True, "Demo soft PIN pad (TEST-ONLY keys, PIN typed on the keyboard)."
        )
    return DeviceState(
        "PIN pad",
        False,
        "No PIN pad is connected, so PIN cards cannot be verified; start with --pinpad PORT.",
    )


def fingerprint_state(session: TerminalSession) -> DeviceState:
    sensor = getattr(session.device, "fingerprint", None)
    if sensor is None:
        return DeviceState(
            "Fingerprint sensor",
            False,
            "No fingerprint sensor is connected; biometric cards fall back to PIN "
            "(start with --fingerprint PORT).",
        )
    try:
        sensor.handshake()
        count = sensor.template_count()
    except Exception as exc:  # noqa: BLE001 - PeripheralError or a dead port
        return DeviceState(
            "Fingerprint sensor",
            False,
            f"The sensor does not answer ({_why(exc)}); check its cable and 3.3 V power.",
        )
    return DeviceState("Fingerprint sensor", True, f"R30x sensor answered, {count} template(s).")


def printer_state(session: TerminalSession) -> DeviceState:
    """The receipt printer the receipt screen uses (``pos run --printer SPEC`` or
    ``POS_PRINTER``); its paper sensor is read where the link can answer (DLE EOT 4)."""
    import os

    spec = getattr(session, "printer", None) or os.environ.get("POS_PRINTER")
    if not spec or not isinstance(spec, str):
        if session.demo:
            return DeviceState(
                "Printer", True, "Demo: receipts are written as ESC/POS files in the data folder."
            )
        return DeviceState(
            "Printer",
            False,
            "No receipt printer is configured, so receipts are shown on screen only; "
            "start with --printer SPEC.",
        )
    if spec.startswith("file:"):
        return DeviceState("Printer", True, f"Receipts are written to the file {spec[5:]}.")
    from terminal.receipts.escpos_out import open_printer, paper_status

    try:
        printer, kind = open_printer(spec)
        try:
            paper = paper_status(printer, kind)
        finally:
            printer.close()
    except Exception as exc:  # noqa: BLE001 - escpos raises many kinds
        return DeviceState(
            "Printer",
            False,
            f"The printer {spec} cannot be opened ({_why(exc)}); check its cable and power.",
        )
    if paper == 0:
        return DeviceState("Printer", False, "The printer is out of paper; load a new roll.")
    if paper == 1:
        return DeviceState("Printer", True, f"{spec} is ready; the paper roll is nearly empty.")
    return DeviceState("Printer", True, f"{spec} is ready.")


def host_state(session: TerminalSession) -> DeviceState:
    """Send one 0800 echo; green when the host answers it with 00."""
    try:
        client: Any = session.service().authoriser
    except Exception as exc:  # noqa: BLE001 - the link could not even be opened
        return DeviceState(
            "Host link",
            False,
            f"The host link cannot be opened ({_why(exc)}); check the network and [host] address.",
        )
    if client is None:
        return DeviceState("Host link", False, "No acquirer host is configured ([host] address).")
    where = (
        "the embedded host simulator"
        if session.host_address == "embedded"
        else (session.host_address)
    )
    started = time.perf_counter()
    try:
        answer = client.echo()
    except Exception as exc:  # noqa: BLE001 - OnlineUnavailable and friends
        return DeviceState(
            "Host link",
            False,
            f"{where} did not answer the echo ({_why(exc)}); check the network cable and "
            "the host address, then press T.",
        )
    ms = (time.perf_counter() - started) * 1000
    code = str(answer.get("39", "00"))
    if code != "00":
        return DeviceState(
            "Host link", False, f"{where} answered the echo with code {code}; call the acquirer."
        )
    return DeviceState("Host link", True, f"{where} answered the echo in {ms:.0f} ms.")


def saf_state(session: TerminalSession) -> DeviceState:
    try:
        client: Any = session.service().authoriser
    except Exception as exc:  # noqa: BLE001 - the queue lives with the link
        return DeviceState("Store-and-forward", False, f"The queue cannot be read ({_why(exc)}).")
    store = getattr(client, "advices", None)
    if client is None or store is None:
        return DeviceState("Store-and-forward", True, "No queue: offline approvals are off.")
    advices = len(store.advices())
    reversals = len(client.reversals.due())
    if advices or reversals:
        return DeviceState(
            "Store-and-forward",
            False,
            f"{advices} advice(s) and {reversals} reversal(s) wait for the host; they are sent "
            "automatically - test the host link with T.",
        )
    return DeviceState("Store-and-forward", True, "Empty: nothing waits for the host.")


def check_all(session: TerminalSession) -> list[DeviceState]:
    # The host first: opening it attaches the serial PIN pad and sensor to the session.
    host = host_state(session)
    return [
        reader_state(session),
        pinpad_state(session),
        fingerprint_state(session),
        printer_state(session),
        host,
        saf_state(session),
    ]


class DevicesScreen(Screen[None]):
    NAME = "devices"  # what the cashier is looking at (tests, logs)
    BINDINGS = [
        Binding("t", "test_host", "Test host link"),
        Binding("r", "refresh", "Check again"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, DeviceState] = {}
        self.busy = False

    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="devices-box"):
            yield Static("DEVICE STATUS", id="devices-title")
            for key in DEVICES:
                yield Static("○ checking ...", id=f"dev-{key}", classes="device", markup=False)
            yield Static("", id="devices-help")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def _run(self, work: Any, note: str) -> None:
        if self.busy:
            return
        self.busy = True
        self.query_one("#devices-help", Static).update(note)
        app = self.pos_app
        session = app.session

        def worker() -> None:
            try:
                with session.payment_busy:
                    states = work(session)
            except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
                sentence = f"The device check stopped ({type(exc).__name__}); call support."
                app.invoke_later(self._stopped, sentence)
                return
            app.invoke_later(self._show, states)

        self.run_worker(worker, thread=True, exclusive=True, group="devices")

    def action_refresh(self) -> None:
        self._run(check_all, "Checking every device ...")

    def action_test_host(self) -> None:
        self._run(lambda s: {"host": host_state(s), "saf": saf_state(s)}, "Sending an echo ...")

    def _show(self, states: list[DeviceState] | dict[str, DeviceState]) -> None:
        self.busy = False
        pairs = dict(zip(DEVICES, states, strict=True)) if isinstance(states, list) else states
        for key, state in pairs.items():
            self.states[key] = state
            row = self.query_one(f"#dev-{key}", Static)
            row.update(f"{'●' if state.ok else '○'} {state.name}: {state.reason}")
            row.set_class(state.ok, "good")
            row.set_class(not state.ok, "bad")
        self.query_one("#devices-help", Static).update(
            "Green works, red says what to do. T tests the host link, R checks again, "
            "Esc goes back."
        )

    def _stopped(self, sentence: str) -> None:
        self.busy = False
        self.query_one("#devices-help", Static).update(sentence)

    def action_back(self) -> None:
        self.app.pop_screen()
