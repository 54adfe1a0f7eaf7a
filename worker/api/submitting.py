"""A submission through the API: the CLI's validation and deduplication, back-pressure, and
the transitions counted in ``/metrics``."""

from __future__ import annotations

from datetime import timedelta

from worker.api.parts import ApiParts
from worker.api.problems import Problem
from worker.api.schemas import ScanRequest
from worker.errors import UsageError
from worker.submit.batch import Submission, submit_batch

#: The scan modes this scanbox has.
MODES = ("http",)


def submit(parts: ApiParts, request: ScanRequest) -> list[Submission]:
    """Submit ``request``'s URLs as ``scanbox submit`` would; nothing is stored if one is bad."""
    if (request.url is None) == (request.urls is None):
        raise Problem("invalid-request", "give either url (one URL) or urls (a batch), not both")
    if request.mode not in MODES:
        raise UsageError(f"unknown mode {request.mode[:20]!r} (use one of {', '.join(MODES)})")
    urls = [request.url] if request.url is not None else list(request.urls or [])
    options = parts.submit
    submissions = submit_batch(
        urls,
        db=parts.db,
        dispatcher=parts.dispatcher,
        priority=request.priority,
        max_attempts=options.max_attempts,
        dedup_window=timedelta(0) if request.force else options.dedup_window,
        max_queued=options.max_queued,
        clock=parts.clock,
    )
    created = sum(1 for item in submissions if not item.duplicate)
    parts.metrics.count_transitions([(None, "QUEUED")] * created)
    return submissions
