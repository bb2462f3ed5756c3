"""A simulator told to stop stops, whichever of its threads the kernel hands the SIGTERM to.

The kernel may deliver a process-directed signal to any thread.  CPython then only trips a
flag; the main thread must come back to the interpreter to run the handler.  These tests
send SIGTERM straight to a *serving* thread (tgkill), the case that left ``pos sim pinpad``
running for ever in CI, and expect a clean exit 0.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from terminal.peripherals.pinpad import SerialPinPad
from tests.process_support import finish, wait_until


def _serving_threads(pid: int) -> list[int]:
    """Thread ids of ``pid`` other than its main thread (waits until there is one)."""

    def others() -> list[int]:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]

    assert wait_until(lambda: bool(others())), "the simulator started no serving thread"
    return others()


def _sigterm_thread(pid: int, tid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, tid, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")


def test_pinpad_stops_when_the_signal_lands_on_its_serving_thread(tmp_path: Path) -> None:
    link = tmp_path / "pinpad"
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal", "sim", "pinpad", "--pty", str(link)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_until(link.is_symlink)
        with SerialPinPad.open(str(link)) as pad:
            assert pad.status().model == "SIM-PP100"
        _sigterm_thread(proc.pid, _serving_threads(proc.pid)[0])
    finally:
        out, err = finish(proc, terminate=False)  # the tgkill is the stop
    assert proc.returncode == 0, err
    assert "PIN pad SIM-PP100 on" in out
    assert not link.exists()


def _start_host(*extra: str) -> tuple[subprocess.Popen[str], int]:
    """A plain-TCP host simulator process, once it says it listens; and its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hardware_sim.host", "--plain", "--listen", "127.0.0.1:0",
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    if not ready.startswith("listening on 127.0.0.1:"):
        finish(proc)
        raise AssertionError(f"the host did not start: {ready!r}")
    return proc, int(ready.rsplit(":", 1)[1])


def test_host_stops_when_the_signal_lands_on_a_server_thread() -> None:
    proc, _ = _start_host()
    try:
        _sigterm_thread(proc.pid, _serving_threads(proc.pid)[0])
    finally:
        out, err = finish(proc, terminate=False)  # the tgkill is the stop
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_wait_for_stop_returns_once_set_from_another_thread() -> None:
    from hardware_sim.signals import wait_for_stop

    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    wait_for_stop(stop)
    assert stop.is_set()


def test_prefork_host_stopped_right_after_it_says_listening_leaves_no_worker() -> None:
    """SIGTERM at once after "listening": the parent must stop cleanly and take its workers
    with it (before, the signal could land before the parent's handler: default action, the
    parent died with -15 and the forked workers served on as orphans)."""
    proc, port = _start_host("--workers", "2")
    proc.terminate()
    _, err = finish(proc, terminate=False)
    assert proc.returncode == 0, err
    # no worker is left accepting on the shared listener
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
