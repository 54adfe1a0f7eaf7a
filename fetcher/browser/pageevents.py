"""What a page says while it runs: console messages, uncaught errors and dialogs, bounded.

Dialogs (``alert``, ``confirm``, ``prompt``, ``beforeunload``) would stop the page until
answered: each is recorded and dismissed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import ConsoleMessage, Dialog, Error, Page

from fetcher.browser.frames import FrameTable

#: Most characters of one message kept.
MAX_MESSAGE_CHARS = 2000


class PageEvents:
    """Console messages, page errors and dialogs of every page of the capture."""

    def __init__(
        self,
        *,
        frames: FrameTable,
        max_messages: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._frames = frames
        self._max = max_messages
        self._clock = clock
        self._started = clock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.messages: list[dict[str, Any]] = []
        #: Messages past ``max_messages``, counted only.
        self.dropped = 0

    def attach(self, page: Page) -> None:
        """Record what ``page`` says."""
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._on_page_error(page, error))
        page.on("dialog", self._on_dialog)

    def _add(self, message: dict[str, Any]) -> None:
        if len(self.messages) >= self._max:
            self.dropped += 1
            return
        message["at_ms"] = round((self._clock() - self._started) * 1000, 1)
        self.messages.append(message)

    def _on_console(self, message: ConsoleMessage) -> None:
        location = message.location
        page = message.page
        self._add(
            {
                "type": message.type,
                "text": message.text[:MAX_MESSAGE_CHARS],
                "url": location.get("url") or None,
                "line": location.get("lineNumber"),
                "page": None if page is None else self._frames.page_number(page),
            }
        )

    def _on_page_error(self, page: Page, error: Error) -> None:
        self._add(
            {
                "type": "pageerror",
                "text": f"{error.name}: {error.message}"[:MAX_MESSAGE_CHARS],
                "url": None,
                "line": None,
                "page": self._frames.page_number(page),
            }
        )

    def _on_dialog(self, dialog: Dialog) -> None:
        page = dialog.page
        self._add(
            {
                "type": f"dialog:{dialog.type}",
                "text": dialog.message[:MAX_MESSAGE_CHARS],
                "url": None,
                "line": None,
                "page": None if page is None else self._frames.page_number(page),
            }
        )
        task = asyncio.get_running_loop().create_task(_dismiss(dialog))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _dismiss(dialog: Dialog) -> None:
    try:
        await dialog.dismiss()
    except Error:
        return
