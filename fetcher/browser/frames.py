"""Numbers for the frames of a capture, so requests and messages can name the frame they
came from."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Frame, Page

#: Most frames numbered; requests from frames past it carry no frame number.
MAX_FRAMES = 200


class FrameTable:
    """The frames seen so far, numbered in the order they were first seen."""

    def __init__(self) -> None:
        self._numbers: dict[int, int] = {}
        self._frames: list[Frame] = []
        self._pages: list[Page] = []
        #: Frames seen but not numbered (past MAX_FRAMES).
        self.unnumbered = 0

    def page_number(self, page: Page) -> int:
        """The page's number: 0 for the captured page, then popups in order."""
        for number, known in enumerate(self._pages):
            if known is page:
                return number
        self._pages.append(page)
        return len(self._pages) - 1

    def number(self, frame: Frame | None) -> int | None:
        """The frame's number, given on first sight; ``None`` past the limit or for none."""
        if frame is None:
            return None
        known = self._numbers.get(id(frame))
        if known is not None:
            return known
        if len(self._frames) >= MAX_FRAMES:
            self.unnumbered += 1
            return None
        parent = frame.parent_frame
        if parent is not None:
            self.number(parent)
        self._numbers[id(frame)] = len(self._frames)
        self._frames.append(frame)
        return self._numbers[id(frame)]

    def describe(self) -> list[dict[str, Any]]:
        """Each numbered frame: its number, parent, page, name, last URL and whether it is
        still attached."""
        described = []
        for number, frame in enumerate(self._frames):
            parent = frame.parent_frame
            described.append(
                {
                    "frame": number,
                    "parent": None if parent is None else self._numbers.get(id(parent)),
                    "page": self.page_number(frame.page),
                    "name": frame.name,
                    "url": frame.url,
                    "detached": frame.is_detached(),
                }
            )
        return described
