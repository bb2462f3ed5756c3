"""Device status for the receipt printer: a network ESC/POS printer on a local socket that
answers the paper sensor query (DLE EOT 4) like a real one, with paper and without."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

import pytest

from terminal.tui.screens.devices import printer_state
from tests.net_support import refusing_tcp_port

PAPER_PRESENT = 0x12  # DLE EOT 4 answer: fixed bits only
PAPER_OUT = 0x12 | 0x60  # bits 5-6: paper roll end detected


def serve_status(answer: int) -> tuple[int, threading.Thread]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                query = b""
                while len(query) < 3:
                    chunk = conn.recv(3 - len(query))
                    if not chunk:
                        return
                    query += chunk
                if query == b"\x10\x04\x04":
                    conn.sendall(bytes([answer]))
                conn.recv(64)  # until the terminal closes

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


@pytest.mark.parametrize(
    ("answer", "ok", "reason"),
    [
        (PAPER_PRESENT, True, "tcp:127.0.0.1:{port} is ready."),
        (PAPER_OUT, False, "The printer is out of paper; load a new roll."),
    ],
)
def test_network_printer_paper_sensor(answer, ok, reason):
    port, thread = serve_status(answer)
    session = SimpleNamespace(printer=f"tcp:127.0.0.1:{port}", demo=False)
    state = printer_state(session)
    assert (state.ok, state.reason) == (ok, reason.format(port=port))
    thread.join(10)


def test_no_printer_outside_demo_is_red_with_what_to_do(monkeypatch):
    monkeypatch.delenv("POS_PRINTER", raising=False)
    state = printer_state(SimpleNamespace(printer=None, demo=False))
    assert not state.ok
    assert state.reason == (
        "No receipt printer is configured, so receipts are shown on screen only; "
        "start with --printer SPEC."
    )


def test_unreachable_printer_is_red():
    with refusing_tcp_port() as port:
        state = printer_state(SimpleNamespace(printer=f"tcp:127.0.0.1:{port}", demo=False))
    assert not state.ok
    assert state.reason.startswith(f"The printer tcp:127.0.0.1:{port} cannot be opened (")
    assert state.reason.endswith("); check its cable and power.")
