"""Redis is not the source of truth: re-dispatch QUEUED jobs that Redis has lost.

A QUEUED job is waiting for an RQ job: queued, or scheduled (backoff, deferral). If Redis has
none for it (flushed, restarted without persistence, or a dispatch that never happened), or
only one that can no longer run (taken by a worker that died before claiming it, or scheduled
long ago with no scheduler left to move it), the job is dispatched again, keeping what is left
of its backoff. Dispatching twice is harmless: a second claim of the same attempt finds the
job gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from statemachine.states import State
from worker.logs import get_logger
from worker.queue.dispatch import RQDispatcher
from worker.store.database import Database
from worker.store.models import JOBS

#: Jobs read per query; a pass reads every QUEUED job, a batch at a time.
RECONCILE_BATCH = 1000


def reconcile(
    *,
    db: Database,
    dispatcher: RQDispatcher,
    now: datetime,
    older_than: timedelta,
) -> list[str]:
    """Re-dispatch QUEUED jobs (unchanged for ``older_than``) with no waiting RQ job.

    Every such job is looked at, oldest first, a batch at a time: with a backlog longer than
    a batch, the lost ones are rarely the oldest.
    """
    pending: set[str] | None = None
    redispatched: list[str] = []
    after: tuple[datetime, str] | None = None
    while True:
        query = (
            sa.select(
                JOBS.c.id, JOBS.c.attempts, JOBS.c.priority, JOBS.c.available_at, JOBS.c.updated_at
            )
            .where(JOBS.c.state == State.QUEUED.value, JOBS.c.updated_at < now - older_than)
            .order_by(JOBS.c.updated_at, JOBS.c.id)
            .limit(RECONCILE_BATCH)
        )
        if after is not None:
            query = query.where(sa.tuple_(JOBS.c.updated_at, JOBS.c.id) > after)
        with db.read() as session:
            rows = session.execute(query).all()
        if not rows:
            break
        if pending is None:
            pending = dispatcher.pending_job_ids(overdue_before=now - older_than)
        for row in rows:
            if row.id in pending:
                continue
            delay = 0.0
            if row.available_at is not None and row.available_at > now:
                delay = (row.available_at - now).total_seconds()
            dispatcher.dispatch(
                [row.id], priority=row.priority, attempt=row.attempts + 1, delay_s=delay
            )
            redispatched.append(row.id)
        if len(rows) < RECONCILE_BATCH:
            break
        after = (rows[-1].updated_at, rows[-1].id)
    if redispatched:
        get_logger().info("jobs_redispatched", count=len(redispatched), job_ids=redispatched[:20])
    return redispatched
