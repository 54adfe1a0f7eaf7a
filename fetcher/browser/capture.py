"""One capture: navigate, watch the capture window, collect, and put the findings together.

The page is loaded (up to its first commit), then watched: the capture window closes once the
main frame has loaded and nothing happened to it for ``window_ms`` (a requested navigation, a
new document or a load starts the window again), or when only the collection time is left of
the deadline. A ``setTimeout`` redirect a few seconds after load is therefore followed, and a
page that never finishes loading or spins in script ends with the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from playwright.async_api import BrowserContext, Download, Error, Frame, Page, Response
from playwright.async_api import TimeoutError as PlaywrightTimeout

from fetcher.browser.collect import Collected, collect
from fetcher.browser.devtools import DevTools, RequestedNavigation
from fetcher.browser.downloads import Downloads
from fetcher.browser.errors import TIMEOUT_CODE, error_code
from fetcher.browser.frames import FrameTable
from fetcher.browser.options import BrowserOptions
from fetcher.browser.pageevents import PageEvents
from fetcher.browser.redirects import redirect_chain
from fetcher.browser.requestlog import RequestLog, RequestRecord
from fetcher.deadline import Deadline

#: Playwright's message when a navigation turned into a download.
DOWNLOAD_STARTING = "Download is starting"


class Recorder:
    """Everything that listens to a capture's context and pages."""

    def __init__(
        self,
        *,
        context: BrowserContext,
        options: BrowserOptions,
        downloads_dir: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.context = context
        self.frames = FrameTable()
        self.requests = RequestLog(
            frames=self.frames,
            max_requests=options.max_requests,
            max_hashed_body_bytes=options.max_hashed_body_bytes,
            clock=clock,
        )
        self.devtools = DevTools(clock=clock)
        self.events = PageEvents(
            frames=self.frames, max_messages=options.max_console_messages, clock=clock
        )
        self.downloads = Downloads(
            directory=downloads_dir,
            max_downloads=options.max_downloads,
            max_bytes=options.max_download_bytes,
            clock=clock,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._opening_own = 0

    async def attach(self, page: Page) -> None:
        """Listen to the context and to ``page``, the captured one, and to popups it opens."""
        self.requests.attach(self.context)
        await self._attach_page(page)
        self.context.on("page", self._on_page)

    async def _attach_page(self, page: Page) -> None:
        self.frames.page_number(page)
        self.frames.number(page.main_frame)
        page.on("frameattached", self._on_frame)
        self.events.attach(page)
        self.downloads.attach(page)
        await self.devtools.attach(self.context, page)

    def _on_frame(self, frame: Frame) -> None:
        self.frames.number(frame)

    async def own_page(self) -> Page:
        """A page for the capture's own use (loading the favicon), left out of the record."""
        self._opening_own += 1
        try:
            page = await self.context.new_page()
        finally:
            self._opening_own -= 1
        self.requests.ignore(page)
        return page

    def _on_page(self, page: Page) -> None:
        if self._opening_own:
            return
        task = asyncio.get_running_loop().create_task(self._attach_popup(page))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attach_popup(self, page: Page) -> None:
        try:
            await self._attach_page(page)
        except Error:
            return


class MainFrameWatch:
    """What happens to the captured page's main frame, as signals for the capture window."""

    def __init__(self, page: Page, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._page = page
        self._clock = clock
        self.loaded = False
        self.last_activity = clock()
        self.activity = asyncio.Event()
        page.on("load", self._on_load)
        page.on("framenavigated", self._on_navigated)
        page.on("download", self._on_download)

    def navigation_requested(self, navigation: RequestedNavigation) -> None:
        """A navigation of some frame was requested (only the main frame's count)."""
        self._signal(loaded=False)

    def _signal(self, *, loaded: bool) -> None:
        self.loaded = loaded
        self.last_activity = self._clock()
        self.activity.set()

    def _on_load(self, _page: Page) -> None:
        self._signal(loaded=True)

    def _on_navigated(self, frame: Frame) -> None:
        if frame is self._page.main_frame:
            self._signal(loaded=False)

    def _on_download(self, _download: Download) -> None:
        # A navigation that became a download leaves the current document in place.
        self._signal(loaded=True)

    async def watch(self, *, window_s: float, until: Deadline) -> bool:
        """Wait until the window closes; whether the page was loaded when it did."""
        while True:
            remaining = until.remaining()
            if remaining <= 0:
                return self.loaded
            if self.loaded:
                quiet = self._clock() - self.last_activity
                if quiet >= window_s:
                    return True
                wait_s = min(window_s - quiet, remaining)
            else:
                wait_s = remaining
            self.activity.clear()
            try:
                await asyncio.wait_for(self.activity.wait(), wait_s)
            except TimeoutError:
                continue


class Findings(NamedTuple):
    """What one capture found, before it is written as a report."""

    url: str
    final_url: str | None
    status: int | None
    loaded: bool
    error: dict[str, str] | None
    collected: Collected | None
    documents: list[RequestRecord]
    hops: list[dict[str, Any]]
    timings: dict[str, float]


async def capture(
    *,
    page: Page,
    url: str,
    recorder: Recorder,
    options: BrowserOptions,
    deadline: Deadline,
    clock: Callable[[], float] = time.monotonic,
) -> Findings:
    """Load ``url`` in ``page``, watch it, and collect what it did, all before ``deadline``."""
    started = clock()
    window_end = Deadline(clock=clock, seconds=(options.deadline_ms - options.collect_ms) / 1000)
    watch = MainFrameWatch(page, clock=clock)
    main_frame = recorder.devtools.main_frames[0] if recorder.devtools.main_frames else None

    def on_navigation(navigation: RequestedNavigation) -> None:
        if navigation.frame_id == main_frame:
            watch.navigation_requested(navigation)

    recorder.devtools.on_navigation = on_navigation
    error: dict[str, str] | None = None
    response: Response | None = None
    try:
        response = await page.goto(
            url, wait_until="commit", timeout=max(1.0, window_end.remaining() * 1000)
        )
    except Error as failure:
        message = failure.message
        if DOWNLOAD_STARTING in message:
            watch.loaded = True
        elif isinstance(failure, PlaywrightTimeout):
            error = {"code": TIMEOUT_CODE, "message": "the page did not answer within the deadline"}
        else:
            error = {"code": error_code(message), "message": message.splitlines()[0][:500]}
    committed = clock()
    loaded = False
    if response is not None or error is None:
        loaded = await watch.watch(window_s=options.window_ms / 1000, until=window_end)
    if response is not None and not loaded and error is None:
        error = {"code": TIMEOUT_CODE, "message": "the page did not finish loading in time"}
    window_closed = clock()
    documents = _main_documents(recorder)
    main_response = _last_response(recorder, documents) or response
    collected = None
    if response is not None:
        collected = await collect(
            open_page=recorder.own_page,
            context=recorder.context,
            page=page,
            main_response=main_response,
            options=options,
            deadline=deadline,
        )
    await recorder.downloads.settle(timeout_s=deadline.remaining())
    await recorder.requests.settle(timeout_s=deadline.remaining())
    recorder.devtools.join(recorder.requests.records)
    hops = redirect_chain(
        documents=documents, navigations=recorder.devtools.main_frame_navigations()
    )
    done = clock()
    return Findings(
        url=url,
        final_url=page.url if response is not None else None,
        status=None if main_response is None else main_response.status,
        loaded=loaded,
        error=error,
        collected=collected,
        documents=documents,
        hops=hops,
        timings={
            "commit_ms": round((committed - started) * 1000, 1),
            "window_ms": round((window_closed - committed) * 1000, 1),
            "collect_ms": round((done - window_closed) * 1000, 1),
            "capture_ms": round((done - started) * 1000, 1),
        },
    )


def _main_documents(recorder: Recorder) -> list[RequestRecord]:
    """The captured page's main-frame document requests, in order."""
    return [
        record
        for record in recorder.requests.records
        if record.navigation and record.page == 0 and record.frame == 0
    ]


def _last_response(recorder: Recorder, documents: list[RequestRecord]) -> Response | None:
    for record in reversed(documents):
        response = recorder.requests.response_of(record)
        if response is not None:
            return response
    return None
