"""Putting a queued job back to sleep: a delayed dispatch that leaves the job's row alone.

A job whose host can't be fetched yet stays QUEUED at its version (no write, no audit row) and
is dispatched again after a delay, through the ``Dispatcher`` like a retry (an RQ job of its
own, which the reconciler counts as the job's pending dispatch).

While a deferral is pending, any other wake of the same job comes too early and is dropped
(a job dispatched twice, or re-dispatched by the reconciler), so that it neither takes a token
nor adds another deferral. A Redis key per job, expiring just before the deferral is due,
says so. If the deferred dispatch is lost anyway, the key expires and the next dispatch of
the job goes through.
"""

from __future__ import annotations

from typing import Protocol

from redis import Redis

from worker.queue.dispatch import Dispatcher

#: The marker of a pending deferral expires this much before the deferral is due, so that
#: the deferred dispatch itself never finds it (RQ runs it at its time or later).
EARLY_MARGIN_S = 0.5


class Deferrals(Protocol):
    """Whatever puts a queued job back to sleep and remembers that it did."""

    def pending(self, job_id: str) -> bool:
        """Whether a deferral of ``job_id`` is still to come (so this wake is a duplicate)."""

    def defer(self, job_id: str, *, priority: str, attempt: int, delay_s: float) -> None:
        """Dispatch ``attempt`` of ``job_id`` again in ``delay_s`` seconds."""


class RedisDeferrals:
    """Deferrals through ``dispatcher``, marked in Redis under ``namespace``."""

    def __init__(self, *, dispatcher: Dispatcher, redis: Redis, namespace: str) -> None:
        self.dispatcher = dispatcher
        self.redis = redis
        self.namespace = namespace

    def key(self, job_id: str) -> str:
        """The Redis key marking a pending deferral of ``job_id``."""
        return f"{self.namespace}:{job_id}"

    def pending(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.key(job_id)))

    def defer(self, job_id: str, *, priority: str, attempt: int, delay_s: float) -> None:
        self.dispatcher.dispatch([job_id], priority=priority, attempt=attempt, delay_s=delay_s)
        marker_ms = int((delay_s - EARLY_MARGIN_S) * 1000)
        if marker_ms > 0:
            self.redis.set(self.key(job_id), attempt, px=marker_ms)
