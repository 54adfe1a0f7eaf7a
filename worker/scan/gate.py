"""Staying polite to the hosts scanbox scans: ask the rate limiter before claiming a job.

A worker that takes a job asks ``HostGate.admit`` first. If the job's host has a token, the
worker claims and runs it as usual. If not, the job is deferred (``worker.queue.deferral``): it
stays QUEUED, nothing is written, and the worker moves on to its next job at once instead
of waiting. When a target answers 429, ``observe`` holds its host for the ``Retry-After`` it
gave (or a default when it gave none), capped so that no target can park scans for long.
"""

from __future__ import annotations

from dataclasses import dataclass

from fetcher.retry import parse_retry_after
from statemachine.states import State
from worker.analysis.report import FetchReport
from worker.clock import Clock, utcnow
from worker.logs import get_logger
from worker.queue.deferral import Deferrals
from worker.queue.ratelimit import RateLimiter
from worker.store.database import Database
from worker.store.jobs import read_due_job
from worker.urls import url_host

#: The status a target answers with when it wants fewer requests.
TOO_MANY_REQUESTS = 429


@dataclass(frozen=True, kw_only=True)
class HoldLimits:
    """How long a host that answered 429 is held: without ``Retry-After``, and at most."""

    default_s: float
    maximum_s: float

    def seconds(self, retry_after: str | None, *, now: float) -> float:
        """The hold a 429 with ``retry_after`` (the header, if any) asks for, at Unix ``now``."""
        asked = parse_retry_after(retry_after, now=now)
        return min(self.default_s if asked is None else asked, self.maximum_s)


class HostGate:
    """Admits a queued job when its host may be fetched, and defers it otherwise."""

    def __init__(
        self,
        *,
        db: Database,
        limiter: RateLimiter,
        deferrals: Deferrals,
        holds: HoldLimits,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.limiter = limiter
        self.deferrals = deferrals
        self.holds = holds
        self.clock = clock

    def admit(self, job_id: str) -> bool:
        """Whether the worker may go on to claim ``job_id`` now.

        ``False`` means this wake of the job is done with: it was deferred, or it is a
        duplicate of a deferral still to come. Jobs that are not QUEUED, or not due yet (retry
        backoff), are admitted without taking a token; the claim then finds them not ours.
        """
        row = read_due_job(self.db, job_id, now=self.clock())
        if row is None:
            return True
        log = get_logger(job_id=job_id)
        if self.deferrals.pending(job_id):
            log.debug("wake_dropped", reason="a deferral of this job is still to come")
            return False
        host = url_host(row.url)
        wait_s = self.limiter.acquire(host)
        if wait_s <= 0:
            return True
        self.deferrals.defer(
            job_id, priority=row.priority, attempt=row.attempts + 1, delay_s=wait_s
        )
        log.info("job_deferred", state=State.QUEUED.value, host=host, delay_s=wait_s)
        return False

    def observe(self, url: str, report: FetchReport) -> None:
        """Hold the host that answered ``report`` if it answered 429 (too many requests)."""
        if report.status_code != TOO_MANY_REQUESTS:
            return
        host = url_host(report.final_url or url)
        seconds = self.holds.seconds(
            report.headers.get("retry-after"), now=self.clock().timestamp()
        )
        self.limiter.hold(host, seconds=seconds)
        get_logger().info("host_held", host=host, seconds=seconds)
