"""The queue can only ask for a scan: every RQ job a worker takes is vetted before RQ acts on it.

A queued RQ job is data in Redis, and whoever can write to Redis can write one. RQ imports and
calls whatever it names: the job's function, and its success, failure and stopped callbacks
(the failure callback even when RQ's maintenance finds the job abandoned in a registry, without
running it). A worker holds the Docker socket, so that would be root on its host.

So a worker's RQ jobs are ``VettedJob``: its function is ``worker.task.run_scan`` itself,
imported by scanbox and never resolved by name, and only for a job that passes ``refusal``;
its callbacks resolve to nothing. ``VettingWorker`` refuses a job that fails the vetting before
RQ starts it: the job is never imported or called, is logged at error level with its RQ id and
the callable it named, and is moved out of the queues into the queue's failed registry.

A job passes when its data is the JSON serializer's ``[func, instance, args, kwargs]`` with
``func`` the task, no instance, exactly one scan-job id as argument and no keyword arguments,
and when it has no callbacks and no dependencies.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from rq import Queue, SimpleWorker
from rq.job import Job

from worker.errors import ScanboxError
from worker.logs import get_logger
from worker.task import run_scan

#: Dotted path of the one task a queued job may name.
TASK = f"{run_scan.__module__}.{run_scan.__qualname__}"
#: A scan job id, the task's one argument.
SCAN_JOB_ID = re.compile(r"[0-9a-f]{32}")
#: Characters of a refused job's callable name kept in the log line.
NAME_SHOWN = 200
#: How long a refused job stays visible in the failed registry.
REFUSED_TTL_S = 7 * 24 * 3600


class RefusedJob(ScanboxError):
    """An RQ job a worker will not run: it asks for something other than one scan."""

    def __init__(self, *, rq_id: str, callable_name: str | None, reason: str) -> None:
        super().__init__(f"RQ job {rq_id[:100]!r} refused: {reason}")
        self.rq_id = rq_id
        self.callable_name = callable_name
        self.reason = reason


def _named_callable(job: Job) -> str | None:
    """The callable ``job`` names, as written in Redis (``None`` if its data is unreadable)."""
    try:
        data = json.loads(job.data)
    except (ValueError, TypeError):
        return None
    if isinstance(data, list) and data and isinstance(data[0], str):
        return data[0][:NAME_SHOWN]
    return None


def _data_refusal(raw: bytes) -> str | None:
    try:
        data: Any = json.loads(raw)
    except (ValueError, TypeError):
        return "its data is not the JSON serializer's"
    if not isinstance(data, list) or len(data) != 4:
        return "its data is not [function, instance, args, kwargs]"
    func, instance, args, kwargs = data
    if func != TASK:
        return f"it names {str(func)[:NAME_SHOWN]!r}, not {TASK}"
    if instance is not None:
        return "it names a method of an instance"
    if kwargs != {}:
        return "it has keyword arguments"
    if not isinstance(args, list) or len(args) != 1:
        return "it does not have exactly one argument"
    if not isinstance(args[0], str) or not SCAN_JOB_ID.fullmatch(args[0]):
        return "its argument is not a scan job id"
    return None


def refusal(job: Job) -> str | None:
    """Why a worker must not run ``job``, or ``None`` when it asks for exactly one scan."""
    for kind in ("success", "failure", "stopped"):
        if getattr(job, f"_{kind}_callback_name", None):
            return f"it has a {kind} callback"
    if job._dependency_ids:
        return "it depends on other jobs"
    try:
        raw = job.data
    except Exception:
        return "its data can't be read"
    return _data_refusal(raw)


class VettedJob(Job):
    """An RQ job whose function is the scan task, resolved by scanbox, with no callbacks."""

    @property
    def func(self) -> Any:
        reason = refusal(self)
        if reason is not None:
            raise RefusedJob(rq_id=self.id, callable_name=_named_callable(self), reason=reason)
        return run_scan

    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None


def refuse(job: Job, queue: Queue, *, reason: str) -> None:
    """Log ``job`` at error level and move it to ``queue``'s failed registry, unrun."""
    get_logger().error(
        "queue_job_refused",
        rq_id=job.id,
        queue=queue.name,
        callable=_named_callable(job),
        reason=reason,
    )
    try:
        queue.failed_job_registry.add(
            job, ttl=REFUSED_TTL_S, exc_string=f"refused by scanbox: {reason}"
        )
    except Exception:
        queue.connection.delete(job.key)


def refuse_unreadable(rq_id: str, queue: Queue, *, reason: str) -> None:
    """Log a job RQ could not load and move its id to ``queue``'s failed registry, unrun."""
    get_logger().error(
        "queue_job_refused", rq_id=rq_id[:100], queue=queue.name, callable=None, reason=reason
    )
    registry = queue.failed_job_registry
    queue.connection.zadd(registry.key, {rq_id: time.time() + REFUSED_TTL_S})


class VettingWorker(SimpleWorker):
    """An RQ worker that runs only ``VettedJob``s that ask for one scan, and refuses the rest."""

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        while True:
            try:
                result: tuple[Job, Queue] | None = super().dequeue_job_and_maintain_ttl(
                    timeout, max_idle_time
                )
            except Exception as error:
                # RQ names the job it could not even load (another serializer's data, say):
                # it is taken off the queue already, and is refused by its id alone.
                rq_id, queue = getattr(error, "job_id", None), getattr(error, "queue", None)
                if not isinstance(rq_id, str) or not isinstance(queue, Queue):
                    raise
                refuse_unreadable(rq_id, queue, reason=f"it can't be read: {type(error).__name__}")
                continue
            if result is None:
                return None
            job, queue = result
            reason = refusal(job)
            if reason is None:
                return result
            refuse(job, queue, reason=reason)
