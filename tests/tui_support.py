"""Helpers for driving the cashier app with Textual's pilot (tests/test_tui_*.py)."""

from __future__ import annotations

from textual.widgets import Static

from terminal.tui.app import PosApp

SIZE = (100, 30)


def on(app: PosApp) -> str:
    """The screen the cashier is looking at (each screen class has a NAME), once it is built.

    A screen switched to from the payment worker is on the stack a moment before its widgets
    are composed and its ``on_mount`` has run; until then it reads as "" so that
    ``wait_for(pilot, lambda: on(app) == X)`` followed by a query never races the mount.
    """
    screen = app.screen
    return getattr(screen, "NAME", "") if screen.is_mounted else ""


def text(app: PosApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def wait_for(pilot, predicate, timeout: float = 90.0) -> None:
    """Let the worker thread and the UI run until ``predicate()`` holds.

    The deadline is generous on purpose: a slow, loaded CI machine must never fail a test.
    """
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.02)
    screen = pilot.app.screen
    detail = screen.query("#reason").first(Static).content if screen.query("#reason") else ""
    raise AssertionError(f"screen never got there; now on {getattr(screen, 'NAME', '')!r} {detail}")


async def type_amount(pilot, digits: str) -> None:
    for ch in digits:
        await pilot.press(ch)


async def enter_pin(pilot, app: PosApp, pin: str) -> None:
    await wait_for(pilot, lambda: on(app) == "pin-entry")
    assert "DEMO - insecure keyboard PIN entry" in text(app, "#pin-warning")
    for ch in pin:
        await pilot.press(ch)
    await pilot.press("enter")


async def choose_card(pilot, app: PosApp, profile: str) -> None:
    await wait_for(pilot, lambda: on(app) == "card")
    index = [s.name for s in app.screen.sources].index(profile)
    key = app.screen._key(index)
    assert key.strip(), f"{profile} has no shortcut key"
    await pilot.press(key)


async def tap_card(pilot, app: PosApp, profile: str) -> None:
    await wait_for(pilot, lambda: on(app) == "card")
    index = [s.name for s in app.screen.sources].index(profile)
    key = app.screen._key(index)
    assert key.isalpha(), "contactless cards take the letter keys"
    await pilot.press(key)
