"""A simulated serial device's end of a pseudo-terminal (the device owns the master).

``PtyDevice`` opens a pty in raw mode, optionally publishes its slave path as a symlink (so
``pos sim pinpad --pty /tmp/pinpad`` gives the terminal a stable PATH), and offers byte
reads with a timeout.  ``unplug()`` closes the master: the terminal's next read fails and
the slave's /dev/pts node disappears, the way a pulled USB-serial cable does.  The device
keeps its slave fd until :meth:`close`, so the kernel cannot hand the same /dev/pts/N to a
new pty while this one is "unplugged" (a test that probes the dead path must not find a
live device of a parallel test there).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from typing import Self

#: Longest wait in :meth:`PtyDevice.unplug` for the kernel to remove the slave's node.
UNPLUG_SETTLE_S = 5.0


class PtyDevice:
    def __init__(self, link_path: str | None = None) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.link_path = link_path
        if link_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link_path)
            os.symlink(self.path, link_path)
        self._lock = threading.Lock()
        self.unplugged = False

    @property
    def port(self) -> str:
        return self.link_path or self.path

    def read_byte(self, timeout: float) -> int | None:
        """One byte from the terminal, or None after ``timeout`` seconds (or once unplugged)."""
        deadline = time.monotonic() + timeout
        while not self.unplugged:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                ready, _, _ = select.select([self.master], [], [], min(remaining, 0.05))
            except (OSError, ValueError):
                return None
            if ready:
                try:
                    data = os.read(self.master, 1)
                except OSError:
                    return None
                if data:
                    return data[0]
        return None

    def write(self, data: bytes) -> None:
        with self._lock:
            if not self.unplugged:
                os.write(self.master, data)

    def unplug(self) -> None:
        """Close the master: the terminal sees EIO/hang-up and the path is gone, like a
        pulled cable.  The slave fd stays open (until :meth:`close`) to hold the pty index."""
        if self.unplugged:
            return
        self.unplugged = True
        with contextlib.suppress(OSError):
            os.close(self.master)
        # A serving thread blocked in select() on the master holds the file open for up to
        # one 50 ms slice after the close; the pty (and its node) is torn down only then.
        # Return once the cable is truly "pulled", so a caller probing the path sees it gone.
        deadline = time.monotonic() + UNPLUG_SETTLE_S
        while os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        self.unplug()
        if self._slave >= 0:
            with contextlib.suppress(OSError):
                os.close(self._slave)
            self._slave = -1
        if self.link_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link_path)


class PtyDeviceSimulator:
    """Start/stop plumbing shared by the serial device simulators: one thread serving
    ``self._serve`` on ``self.dev`` until :meth:`stop`; usable as a context manager."""

    dev: PtyDevice

    def _init_thread(self, name: str) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:  # pragma: no cover - every simulator defines its own loop
        raise NotImplementedError

    @property
    def port(self) -> str:
        return self.dev.port

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.dev.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
