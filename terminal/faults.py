"""TEST-ONLY fault hook: kill the terminal right after a journal event is durably written.

The crash test (``tests/test_crash_sigkill.py``) sets ``POS_CRASH_AFTER=<kind>[:<n>]`` in the
environment of a ``pos`` subprocess; :meth:`terminal.journal.Journal.append` calls
:func:`after_journal_event` once its ``COMMIT`` has returned (``synchronous=FULL``), and the
n-th event of that kind (default the first) makes the process send itself SIGKILL.  That
stands for a power cut at that exact step: no ``finally`` block, no ``atexit``, no flush runs.

When ``POS_CRASH_AFTER`` is unset (every real deployment) the hook only reads one
environment variable and returns.  A malformed value is ignored rather than crashing a
terminal that happens to have it set.
"""

from __future__ import annotations

import os
import signal

ENV = "POS_CRASH_AFTER"

_seen: dict[str, int] = {}


def parse_spec(spec: str) -> tuple[str, int] | None:
    """``"host_response:2"`` -> ``("host_response", 2)``; ``None`` when not usable."""
    kind, _, count = spec.strip().partition(":")
    if not kind:
        return None
    if not count:
        return kind, 1
    if not count.isdigit() or int(count) < 1:
        return None
    return kind, int(count)


def after_journal_event(kind: str) -> None:
    """Called after each journal event is committed; SIGKILLs on the configured one."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    parsed = parse_spec(spec)
    if parsed is None or parsed[0] != kind:
        return
    _seen[kind] = _seen.get(kind, 0) + 1
    if _seen[kind] == parsed[1]:
        os.kill(os.getpid(), signal.SIGKILL)
