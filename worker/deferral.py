"""Putting a queued job back to sleep: a delayed dispatch that leaves the job's row alone.

A job whose host can't be fetched yet stays QUEUED at its version (no write, no audit row) and
is dispatched again after a delay, as an RQ job of its own, ``<job id>-<attempt>_d<token>``:
RQ deletes the RQ job that is running now as soon as it returns, so the delayed one can't
reuse that id.

While a deferral is pending, any other wake of the same job comes too early and is dropped:
the reconciler re-dispatching a QUEUED job it finds no RQ job for, or a job dispatched twice.
A Redis key per job, expiring just before the deferral is due, says so. If the deferred RQ
job is lost anyway, the key expires and the reconciler's next dispatch goes through.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Protocol

from worker.dispatch import FAILURE_TTL_S, TASK, RQDispatcher, rq_job_id

#: The marker of a pending deferral expires this much before the deferral is due, so that
#: the deferred dispatch itself never finds it (RQ runs it at its time or later).
EARLY_MARGIN_S = 0.5


class Deferrals(Protocol):
    """Whatever puts a queued job back to sleep and remembers that it did."""

    def pending(self, job_id: str) -> bool:
        """Whether a deferral of ``job_id`` is still to come (so this wake is a duplicate)."""

    def defer(self, job_id: str, *, priority: str, attempt: int, delay_s: float) -> None:
        """Dispatch ``attempt`` of ``job_id`` again in ``delay_s`` seconds."""


class RQDeferrals:
    """Deferrals through the RQ scheduler, on the dispatcher's own queues."""

    def __init__(self, *, dispatcher: RQDispatcher, namespace: str) -> None:
        self.dispatcher = dispatcher
        self.namespace = namespace

    def key(self, job_id: str) -> str:
        """The Redis key marking a pending deferral of ``job_id``."""
        return f"{self.namespace}:{job_id}"

    def pending(self, job_id: str) -> bool:
        return bool(self.dispatcher.redis.exists(self.key(job_id)))

    def defer(self, job_id: str, *, priority: str, attempt: int, delay_s: float) -> None:
        self.dispatcher.queues[priority].enqueue_in(
            timedelta(seconds=delay_s),
            TASK,
            job_id,
            job_id=f"{rq_job_id(job_id, attempt)}_d{secrets.token_hex(4)}",
            job_timeout=self.dispatcher.job_timeout_s,
            result_ttl=0,
            failure_ttl=FAILURE_TTL_S,
        )
        marker_ms = int((delay_s - EARLY_MARGIN_S) * 1000)
        if marker_ms > 0:
            self.dispatcher.redis.set(self.key(job_id), attempt, px=marker_ms)
