"""A submission through the API: the CLI's validation and deduplication, callbacks, request
ids and child scans, back-pressure, and the transitions counted in ``/metrics``."""

from __future__ import annotations

from datetime import timedelta

from worker.api.parts import ApiParts
from worker.api.problems import Problem
from worker.api.schemas import ScanItem, ScanRequest
from worker.submit.batch import Request, Submission, submit_requests


def requests_of(body: ScanRequest, *, default_callback: str | None) -> list[Request]:
    """The requests ``body`` asks for: each URL with its callback (its own, else the body's,
    else ``default_callback``) and its request id. ``Problem`` for a body of the wrong shape."""
    if (body.url is None) == (body.urls is None):
        raise Problem("invalid-request", "give either url (one URL) or urls (a batch), not both")
    callback = body.callback_url or default_callback
    if body.url is not None:
        return [Request(url=body.url, callback_url=callback, request_id=body.request_id)]
    if body.request_id is not None:
        raise Problem(
            "invalid-request",
            "request_id names one URL: give it with url, or one in each item of urls",
        )
    items = [ScanItem(url=item) if isinstance(item, str) else item for item in body.urls or []]
    return [
        Request(
            url=item.url,
            callback_url=item.callback_url or callback,
            request_id=item.request_id,
        )
        for item in items
    ]


def submit(parts: ApiParts, body: ScanRequest) -> list[Submission]:
    """Submit ``body``'s URLs as ``scanbox submit`` would; nothing is stored if one is bad."""
    options = parts.submit
    requests = requests_of(body, default_callback=options.callback_url)
    submissions = submit_requests(
        requests,
        db=parts.db,
        dispatcher=parts.dispatcher,
        priority=body.priority,
        max_attempts=options.max_attempts,
        dedup_window=timedelta(0) if body.force else options.dedup_window,
        max_queued=options.max_queued,
        callbacks=options.callbacks,
        depth=body.depth,
        max_children=body.max_children,
        child_limits=options.child_limits,
        mode=body.mode,
        clock=parts.clock,
    )
    created = sum(1 for item in submissions if not item.duplicate)
    parts.metrics.count_transitions([(None, "QUEUED")] * created)
    return submissions
