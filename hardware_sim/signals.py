"""Serve until Ctrl-C or SIGTERM, in a process that also runs threads.

CPython runs a Python signal handler only in the main thread, and only once that thread is
back in the interpreter.  The kernel may deliver a process-directed SIGTERM to *any* thread
that does not block it.  When it lands on a serving thread while the main thread sits in an
untimed ``Event.wait()``, nothing interrupts the main thread's lock wait: the handler never
runs and the process ignores the stop for ever (seen in CI: ``pos sim pinpad`` outliving its
SIGTERM).  :func:`wait_for_stop` waits in short slices instead, so a tripped handler runs
within :data:`POLL_SECONDS` whichever thread the signal reached.
"""

from __future__ import annotations

import signal
import threading

POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> threading.Event:
    """An event set by any of ``signals``; install it before the device or socket appears,
    so a signal right after start-up is already a clean stop.  Main thread only."""
    stop = threading.Event()
    for sig in signals:
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block until ``stop`` is set, coming back to the interpreter every POLL_SECONDS so the
    main thread runs a signal handler even when another thread took the signal."""
    while not stop.wait(POLL_SECONDS):
        pass
