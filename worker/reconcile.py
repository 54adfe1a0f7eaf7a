"""Redis is not the source of truth: re-dispatch QUEUED jobs that Redis has lost.

A QUEUED job is waiting for the RQ job of its next attempt (``<job id>-<attempts + 1>``).
If Redis has no such RQ job waiting (flushed, restarted without persistence, or a dispatch
that never happened), the job is dispatched again, keeping what is left of its backoff.
Dispatching twice is harmless: a second claim of the same attempt finds the job gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from redis import Redis
from rq.job import Job

from statemachine.states import State
from worker.db import Database
from worker.dispatch import Dispatcher, rq_job_id
from worker.logs import get_logger
from worker.models import ScanJob

_jobs = ScanJob.__table__  # type: ignore[attr-defined]
#: RQ job statuses that mean the dispatch is still on its way to a worker.
WAITING = frozenset({b"queued", b"scheduled", b"deferred", b"started"})
#: Most jobs looked at in one pass.
RECONCILE_BATCH = 1000


def reconcile(
    *,
    db: Database,
    redis: Redis,
    dispatcher: Dispatcher,
    now: datetime,
    older_than: timedelta,
) -> list[str]:
    """Re-dispatch QUEUED jobs (unchanged for ``older_than``) with no waiting RQ job."""
    with db.read() as session:
        rows = session.execute(
            sa.select(_jobs.c.id, _jobs.c.attempts, _jobs.c.priority, _jobs.c.available_at)
            .where(_jobs.c.state == State.QUEUED.value, _jobs.c.updated_at < now - older_than)
            .order_by(_jobs.c.updated_at)
            .limit(RECONCILE_BATCH)
        ).all()
    if not rows:
        return []
    with redis.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.hget(Job.key_for(rq_job_id(row.id, row.attempts + 1)), "status")
        statuses = pipe.execute()
    redispatched: list[str] = []
    for row, status in zip(rows, statuses, strict=True):
        if status in WAITING:
            continue
        delay = 0.0
        if row.available_at is not None and row.available_at > now:
            delay = (row.available_at - now).total_seconds()
        dispatcher.dispatch(
            [row.id], priority=row.priority, attempt=row.attempts + 1, delay_s=delay
        )
        redispatched.append(row.id)
    if redispatched:
        get_logger().info("jobs_redispatched", count=len(redispatched), job_ids=redispatched[:20])
    return redispatched
