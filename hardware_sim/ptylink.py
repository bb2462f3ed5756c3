"""A simulated serial device's end of a pseudo-terminal (the device owns the master).

``PtyDevice`` opens a pty in raw mode, optionally publishes its slave path as a symlink (so
``pos sim pinpad --pty /tmp/pinpad`` gives the terminal a stable PATH), and offers byte
reads with a timeout.  ``unplug()`` closes the master: the terminal's next read fails the
way a pulled USB-serial cable does.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from typing import Self


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
        """Close both ends we hold: the terminal sees EIO/hang-up, like a pulled cable."""
        if self.unplugged:
            return
        self.unplugged = True
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        self.unplug()
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
