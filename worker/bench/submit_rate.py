"""How fast ``worker.submit.submit_urls`` stores jobs and dispatches them, alone or in batches.

No worker listens on the queues while this runs; the caller empties them afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from worker.bench.stats import Summary, summarize
from worker.queue.dispatch import Dispatcher
from worker.store.database import Database
from worker.submit.batch import submit_urls

#: Milliseconds in a second.
MS = 1000.0


@dataclass(frozen=True, kw_only=True)
class SubmitRate:
    """URLs per second into the database and the queue, and the cost of one submit."""

    single_per_s: float
    single: Summary
    batched_per_s: float
    batch_size: int
    batch: Summary


def measure_submit_rate(
    db: Database, dispatcher: Dispatcher, *, url: str, count: int, batch_size: int
) -> SubmitRate:
    """``count`` single submits, then ``count`` URLs (at least one batch) in batches."""
    singles = []
    started = time.perf_counter()
    for _ in range(count):
        before = time.perf_counter()
        submit_urls([url], db=db, dispatcher=dispatcher)
        singles.append((time.perf_counter() - before) * MS)
    single_s = time.perf_counter() - started
    batches = []
    batch_count = max(count // batch_size, 1)
    started = time.perf_counter()
    for _ in range(batch_count):
        before = time.perf_counter()
        submit_urls([url] * batch_size, db=db, dispatcher=dispatcher)
        batches.append((time.perf_counter() - before) * MS)
    batched_s = time.perf_counter() - started
    return SubmitRate(
        single_per_s=count / single_s,
        single=summarize(singles),
        batched_per_s=batch_count * batch_size / batched_s,
        batch_size=batch_size,
        batch=summarize(batches),
    )
