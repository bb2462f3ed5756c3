"""Starting and stopping real simulator processes in tests without racing a slow machine.

Every wait here is generous on purpose: a loaded 2-core CI machine must never fail a test by
being slow, and a process that does not stop is killed so it cannot outlive the test.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable

EXIT_WAIT = 60.0  # seconds for a simulator to stop after SIGTERM (a clean stop takes < 1 s)
START_WAIT = 60.0  # seconds for a freshly started interpreter to get ready


def wait_until(ready: Callable[[], bool], seconds: float = START_WAIT) -> bool:
    """Poll ``ready()`` every 50 ms until it holds or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def finish(proc: subprocess.Popen[str], *, terminate: bool = True) -> tuple[str, str]:
    """SIGTERM ``proc`` (unless told not to), collect its output, and kill it if it hangs.

    Returns (stdout, stderr) with "" for a stream that was not piped; ``proc.returncode`` is
    the exit status of the clean stop, or -9 when it had to be killed.
    """
    out = err = None
    try:
        if terminate and proc.poll() is None:
            proc.terminate()
        out, err = proc.communicate(timeout=EXIT_WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            # bounded: a grandchild (a host worker) may still hold the pipes open
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=EXIT_WAIT)
    return out or "", err or ""
