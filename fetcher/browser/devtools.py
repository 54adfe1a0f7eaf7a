"""What a page's own DevTools session says that Playwright's events do not: who started each
request, and why each navigation of a frame was requested.

One CDP session per page listens to ``Network.requestWillBeSent`` (its ``initiator``) and
``Page.frameRequestedNavigation`` (its ``reason``: ``metaTagRefresh``, ``scriptInitiated``,
``httpHeaderRefresh``, ...). Initiators are joined to the request log by URL and method, in
order; with site isolation off every frame of the page is in the session's renderer.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, NamedTuple

from playwright.async_api import BrowserContext, CDPSession, Error, Page

from fetcher.browser.requestlog import RequestRecord

#: Most navigation requests recorded per capture.
MAX_REQUESTED_NAVIGATIONS = 100
#: Most initiators held while waiting to be joined.
MAX_INITIATORS = 2000
#: Longest URL kept in an initiator.
MAX_INITIATOR_URL_CHARS = 2048


class RequestedNavigation(NamedTuple):
    """A frame asked to navigate: to where, why, and when (seconds into the capture)."""

    frame_id: str
    url: str
    reason: str
    disposition: str
    at_s: float


class DevTools:
    """The DevTools listeners of a capture's pages."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._sessions: list[CDPSession] = []
        self._initiators: dict[tuple[str, str], deque[dict[str, Any]]] = defaultdict(deque)
        self._held = 0
        self.navigations: list[RequestedNavigation] = []
        #: The main frame's DevTools id of each page, in the order pages were attached.
        self.main_frames: list[str] = []
        #: Called with each requested navigation as it is recorded.
        self.on_navigation: Callable[[RequestedNavigation], object] | None = None

    async def attach(self, context: BrowserContext, page: Page) -> None:
        """Listen to ``page``'s DevTools events (before it navigates, to miss none)."""
        session = await context.new_cdp_session(page)
        self._sessions.append(session)
        session.on("Network.requestWillBeSent", self._on_request)
        session.on("Page.frameRequestedNavigation", self._on_navigation)
        await session.send("Network.enable")
        await session.send("Page.enable")
        tree = await session.send("Page.getFrameTree")
        self.main_frames.append(str(tree["frameTree"]["frame"]["id"]))

    def join(self, records: list[RequestRecord]) -> None:
        """Give each record the initiator DevTools reported for the same URL and method."""
        for record in records:
            queue = self._initiators.get((record.method, record.url))
            if queue:
                record.initiator = queue.popleft()

    def main_frame_navigations(self) -> list[RequestedNavigation]:
        """The navigations the captured page's main frame requested, in order."""
        if not self.main_frames:
            return []
        main = self.main_frames[0]
        return [navigation for navigation in self.navigations if navigation.frame_id == main]

    async def detach(self) -> None:
        """End every session."""
        for session in self._sessions:
            try:
                await session.detach()
            except Error:
                continue

    def _now(self) -> float:
        return self._clock() - self._started

    def _on_request(self, event: dict[str, Any]) -> None:
        if self._held >= MAX_INITIATORS:
            return
        request = event.get("request") or {}
        key = (str(request.get("method", "")), str(request.get("url", "")))
        self._initiators[key].append(initiator_summary(event.get("initiator") or {}))
        self._held += 1

    def _on_navigation(self, event: dict[str, Any]) -> None:
        if len(self.navigations) >= MAX_REQUESTED_NAVIGATIONS:
            return
        navigation = RequestedNavigation(
            frame_id=str(event.get("frameId", "")),
            url=str(event.get("url", "")),
            reason=str(event.get("reason", "")),
            disposition=str(event.get("disposition", "")),
            at_s=self._now(),
        )
        self.navigations.append(navigation)
        if self.on_navigation is not None:
            self.on_navigation(navigation)


def initiator_summary(initiator: dict[str, Any]) -> dict[str, Any]:
    """The parts of a DevTools ``Network.Initiator`` the report keeps: its type, and the URL
    and line of the script or document that started the request."""
    url = initiator.get("url")
    line = initiator.get("lineNumber")
    stack = initiator.get("stack") or {}
    while url is None and stack:
        for call in stack.get("callFrames") or []:
            if call.get("url"):
                url, line = call["url"], call.get("lineNumber")
                break
        else:
            stack = stack.get("parent") or {}
            continue
        break
    return {
        "type": str(initiator.get("type", "other")),
        "url": None if url is None else str(url)[:MAX_INITIATOR_URL_CHARS],
        "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
    }
