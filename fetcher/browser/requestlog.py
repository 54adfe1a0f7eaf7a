"""The request log: every request of the capture's context, its response, size and body hash.

Playwright's context-wide events cover every page, frame and worker; each request is a
:class:`RequestRecord`, completed as its response arrives and its body is hashed. Bodies are
hashed as each request finishes, in a task of its own, so that a slow or huge body never holds
up the capture; collection awaits what is still running within the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import BrowserContext, Error, Frame, Page, Request, Response

from fetcher.browser.frames import FrameTable

#: Most response headers kept per request.
MAX_HEADERS = 100
#: Most characters of one header value kept.
MAX_HEADER_VALUE_CHARS = 1024


@dataclass
class RequestRecord:
    """What the log knows of one request; filled in as the request goes on."""

    index: int
    url: str
    method: str
    resource_type: str
    frame: int | None
    page: int | None
    navigation: bool
    redirected_from: int | None
    started_s: float
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    status: int | None = None
    status_text: str | None = None
    mime_type: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_s: float | None = None
    finished_s: float | None = None
    #: Decoded body bytes (known once hashed), and bytes received on the wire.
    size: int | None = None
    transfer_size: int | None = None
    sha256: str | None = None
    #: Why the body has no hash when it has none ("too_large", "unavailable"...).
    hash_missing: str | None = None
    failure: str | None = None
    initiator: dict[str, Any] | None = None


class RequestLog:
    """Records the requests of ``context`` as its events arrive."""

    def __init__(
        self,
        *,
        frames: FrameTable,
        max_requests: int,
        max_hashed_body_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._frames = frames
        self._max_requests = max_requests
        self._max_hashed = max_hashed_body_bytes
        self._clock = clock
        self._started = clock()
        self._by_request: dict[int, RequestRecord] = {}
        self._keep: list[Request] = []
        self._responses: dict[int, Response] = {}
        self._ignored_pages: list[Page] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.records: list[RequestRecord] = []
        #: Requests seen but not recorded (past ``max_requests``).
        self.dropped = 0

    def attach(self, context: BrowserContext) -> None:
        """Start recording ``context``'s requests."""
        context.on("request", self._on_request)
        context.on("response", self._on_response)
        context.on("requestfinished", self._on_finished)
        context.on("requestfailed", self._on_failed)

    def ignore(self, page: Page) -> None:
        """Leave out the requests of ``page`` (one the capture opens for itself)."""
        self._ignored_pages.append(page)

    def response_of(self, record: RequestRecord) -> Response | None:
        """The Playwright response of ``record``, when it had one."""
        return self._responses.get(record.index)

    async def settle(self, *, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the bodies still being hashed; cancel the rest."""
        pending = set(self._tasks)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=max(0.0, timeout_s))
            for task in late:
                task.cancel()
            for record in self.records:
                if record.finished_s is not None and record.sha256 is None:
                    record.hash_missing = record.hash_missing or "deadline"

    def _now(self) -> float:
        return self._clock() - self._started

    def _record_of(self, request: Request) -> RequestRecord | None:
        return self._by_request.get(id(request))

    def _on_request(self, request: Request) -> None:
        frame = _frame_of(request)
        page = None if frame is None else frame.page
        if page is not None and any(page is ignored for ignored in self._ignored_pages):
            return
        if len(self.records) >= self._max_requests:
            self.dropped += 1
            return
        previous = request.redirected_from
        previous_record = None if previous is None else self._record_of(previous)
        record = RequestRecord(
            index=len(self.records),
            url=request.url,
            method=request.method,
            resource_type=request.resource_type,
            frame=self._frames.number(frame),
            page=None if page is None else self._frames.page_number(page),
            navigation=request.is_navigation_request(),
            redirected_from=None if previous_record is None else previous_record.index,
            started_s=self._now(),
            request_headers=_headers(request.headers),
        )
        self.records.append(record)
        self._by_request[id(request)] = record
        self._keep.append(request)

    def _on_response(self, response: Response) -> None:
        record = self._record_of(response.request)
        if record is None:
            return
        record.status = response.status
        record.status_text = response.status_text
        record.response_s = self._now()
        record.response_headers = _headers(response.headers)
        record.mime_type = response.headers.get("content-type")
        self._responses[record.index] = response

    def _on_finished(self, request: Request) -> None:
        record = self._record_of(request)
        if record is None:
            return
        record.finished_s = self._now()
        task = asyncio.get_running_loop().create_task(self._hash(record, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_failed(self, request: Request) -> None:
        record = self._record_of(request)
        if record is None:
            return
        record.finished_s = self._now()
        record.failure = request.failure or "failed"

    async def _hash(self, record: RequestRecord, request: Request) -> None:
        try:
            sizes = await request.sizes()
            record.transfer_size = int(sizes["responseBodySize"])
            response = self._responses.get(record.index)
            if response is None or 300 <= response.status < 400:
                return
            if record.transfer_size > self._max_hashed:
                record.hash_missing = "too_large"
                return
            body = await response.body()
        except Error:
            record.hash_missing = "unavailable"
            return
        if len(body) > self._max_hashed:
            record.hash_missing = "too_large"
            record.size = len(body)
            return
        record.size = len(body)
        record.sha256 = hashlib.sha256(body).hexdigest()


def _frame_of(request: Request) -> Frame | None:
    # A service worker's request has no frame, and Playwright raises for it.
    with contextlib.suppress(Error):
        return request.frame
    return None


def _headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (name[:MAX_HEADER_VALUE_CHARS], value[:MAX_HEADER_VALUE_CHARS])
        for name, value in list(headers.items())[:MAX_HEADERS]
    ]
