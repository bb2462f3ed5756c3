"""The one-line title bar at the top of every screen.

Textual's ``Header`` watches the app title with a coroutine that can run after a quickly
replaced screen is gone (a race seen on a loaded machine).  The terminal's title never
changes while a screen is up, so a plain ``Static`` rendered once is enough and race-free.
"""

from __future__ import annotations

from textual.widgets import Static


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
        text-style: bold;
        content-align: center middle;
    }
    """

    def on_mount(self) -> None:
        app = self.app
        title = f"{app.title} — {app.sub_title}" if app.sub_title else app.title
        self.update(title)
