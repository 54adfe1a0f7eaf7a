"""Waking workers: putting ``run_scan(job_id)`` on the RQ queues, JSON-serialised.

Jobs are serialised with RQ's JSON serializer, never pickle, so that whoever can write to
Redis can't make a worker run code. The database stays the source of truth: losing what is
in Redis delays jobs but loses none (the reconciler re-dispatches from the rows).

Every dispatch is an RQ job of its own, ``<job id>-<attempt>-<token>``: RQ deletes a finished
RQ job as soon as its task returns, so a retry or deferral dispatched from inside the running
task must not reuse its id. Dispatching a job twice is harmless: the second claim finds the job
gone. The scan job id is the part of an RQ job id before its first ``-``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

#: Dotted path of the task RQ runs; a string, so producers need not import the worker.
TASK = "worker.task.run_scan"
#: Priorities, highest first; workers listen to their queues in this order.
PRIORITIES = ("high", "normal", "low")
#: How long a failed RQ job (a worker crash inside the task) stays visible in Redis.
FAILURE_TTL_S = 24 * 3600


def queue_names(base: str) -> list[str]:
    """The RQ queue names for ``base``, highest priority first (``normal`` is ``base`` itself)."""
    return [base if priority == "normal" else f"{base}:{priority}" for priority in PRIORITIES]


def rq_job_id(job_id: str, attempt: int) -> str:
    """A new RQ job id for a dispatch of ``attempt`` of the scan job ``job_id``."""
    return f"{job_id}-{attempt}-{secrets.token_hex(4)}"


def scan_job_id(rq_id: str) -> str:
    """The scan job an RQ job id belongs to."""
    return rq_id.split("-", 1)[0]


class Dispatcher(Protocol):
    """Whatever tells workers that jobs are waiting."""

    def dispatch(
        self, job_ids: Sequence[str], *, priority: str, attempt: int = 1, delay_s: float = 0
    ) -> None:
        """Ask a worker to run ``attempt`` of each of ``job_ids``, no sooner than ``delay_s``."""


class RQDispatcher:
    """Dispatch through RQ queues on Redis."""

    def __init__(self, *, redis: Redis, base_queue: str, job_timeout_s: int) -> None:
        self.redis = redis
        self.job_timeout_s = job_timeout_s
        self.queues = {
            priority: Queue(name, connection=redis, serializer=JSONSerializer)
            for priority, name in zip(PRIORITIES, queue_names(base_queue), strict=True)
        }

    def dispatch(
        self, job_ids: Sequence[str], *, priority: str, attempt: int = 1, delay_s: float = 0
    ) -> None:
        queue = self.queues[priority]
        if delay_s > 0:
            for job_id in job_ids:
                queue.enqueue_in(
                    timedelta(seconds=delay_s),
                    TASK,
                    job_id,
                    job_id=rq_job_id(job_id, attempt),
                    job_timeout=self.job_timeout_s,
                    result_ttl=0,
                    failure_ttl=FAILURE_TTL_S,
                )
            return
        data = [
            Queue.prepare_data(
                TASK,
                args=(job_id,),
                job_id=rq_job_id(job_id, attempt),
                timeout=self.job_timeout_s,
                result_ttl=0,
                failure_ttl=FAILURE_TTL_S,
            )
            for job_id in job_ids
        ]
        with self.redis.pipeline() as pipe:
            queue.enqueue_many(data, pipeline=pipe)
            pipe.execute()

    def pending_job_ids(self, *, overdue_before: datetime | None = None) -> set[str]:
        """Scan job ids with an RQ job that is still to run: waiting on a queue, or scheduled.

        RQ jobs that RQ counts as running are left out: a worker claims its job moments after
        taking it, so a job the database still has QUEUED while its RQ job "runs" was taken by
        a worker that died before claiming it (RQ keeps such a job "started" until its
        timeout). So are scheduled RQ jobs due before ``overdue_before``: no scheduler is
        moving them to their queue (the worker holding RQ's scheduler lock died).
        """
        pending: set[str] = set()
        for queue in self.queues.values():
            scheduled = queue.scheduled_job_registry
            overdue: set[str] = set()
            if overdue_before is not None:
                overdue = set(scheduled.get_jobs_to_schedule(int(overdue_before.timestamp())))
            for rq_id in (*queue.get_job_ids(), *scheduled.get_job_ids()):
                if rq_id not in overdue:
                    pending.add(scan_job_id(rq_id))
        return pending
