"""``pos run`` without ``--demo``: real PC/SC readers.  With no pcscd reachable the cashier
sees one sentence on the card screen and after Enter, never a traceback.

libpcsclite reads PCSCLITE_CSOCK_NAME once per process, so the app runs in a fresh
subprocess pointed at a socket path where no pcscd listens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, time
    from textual.widgets import Static
    from terminal.config import load_settings
    from terminal.tui.app import PosApp
    from terminal.tui.wiring import TerminalSession

    def on(app):
        # "" until the screen is composed and mounted (see tests/tui_support.on)
        return getattr(app.screen, "NAME", "") if app.screen.is_mounted else ""

    async def wait_for(app, pilot, names):
        deadline = time.monotonic() + 90  # generous: a loaded CI machine must not fail this
        while on(app) not in names and time.monotonic() < deadline:
            await pilot.pause(0.02)

    async def main():
        app = PosApp(TerminalSession(load_settings(None), demo=False))
        seen = {}
        async with app.run_test(size=(100, 30)) as pilot:
            for key in "1234":
                await pilot.press(key)
            await pilot.press("enter")
            await wait_for(app, pilot, ("card",))
            seen["card_screen"] = on(app)
            seen["status"] = str(app.screen.query_one("#reader-status", Static).content)
            seen["help"] = str(app.screen.query_one("#card-help", Static).content)
            await pilot.press("enter")
            await wait_for(app, pilot, ("error", "result"))
            seen["end_screen"] = on(app)
            seen["reason"] = str(app.screen.query_one("#reason", Static).content)
        print(json.dumps(seen))

    asyncio.run(main())
    """
)


def test_no_pcscd_gives_one_clear_sentence(tmp_path):
    env = dict(os.environ)
    env["PCSCLITE_CSOCK_NAME"] = str(tmp_path / "no-pcscd.comm")
    env["POS_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["card_screen"] == "card"
    assert "○ chip (PC/SC): off - The PC/SC service pcscd cannot be reached" in seen["status"]
    assert seen["help"].startswith("No card reader is ready: The PC/SC service pcscd")
    assert seen["end_screen"] == "error"
    assert seen["reason"].startswith("The PC/SC service pcscd cannot be reached")
    assert seen["reason"].count(".") >= 1 and "Traceback" not in done.stderr
