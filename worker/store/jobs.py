"""Reading the ``scan_jobs`` row a worker acts on: a queued job that is due for its next attempt.

Claiming a job and putting it back to sleep (a host over its rate, an engine that is away)
both start from the same read, so it is written once: in a claim's write transaction, or in a
read of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from worker.store.database import Database
from worker.store.models import JOBS


class DueJob(NamedTuple):
    """A job's columns that an attempt of it runs with: a QUEUED job that is due, or (in a
    ``LeasedJob``) one whose running attempt lost its worker."""

    job_id: str
    url: str
    version: int
    #: Attempts claimed so far; the next one is ``attempts + 1``.
    attempts: int
    max_attempts: int
    priority: str
    #: ``http`` or ``browser``.
    mode: str = "http"


class LeasedJob(NamedTuple):
    """A job in a running state whose lease has passed: its worker is gone."""

    job: DueJob
    state: str
    worker_id: str | None


#: The columns of a ``DueJob`` besides the id, read in one place.
_ATTEMPT_COLUMNS = DueJob._fields[1:]


def due_job(connection: Connection, job_id: str, *, now: datetime) -> DueJob | None:
    """``job_id`` if it is QUEUED and due at ``now``; ``None`` if it is not ours to run.

    A job in retry backoff is not due: its delayed dispatch is still to come.
    """
    row = connection.execute(
        sa.select(
            *(JOBS.c[name] for name in _ATTEMPT_COLUMNS), JOBS.c.state, JOBS.c.available_at
        ).where(JOBS.c.id == job_id)
    ).one_or_none()
    if row is None or row.state != State.QUEUED:
        return None
    if row.available_at is not None and row.available_at > now:
        return None
    return DueJob(job_id, *(getattr(row, name) for name in _ATTEMPT_COLUMNS))


def read_due_job(db: Database, job_id: str, *, now: datetime) -> DueJob | None:
    """``due_job`` in a read transaction of its own (no write lock taken)."""
    with db.read() as session:
        return due_job(session.connection(), job_id, now=now)


def expired_leases(
    db: Database, *, states: tuple[str, ...], now: datetime, limit: int
) -> list[LeasedJob]:
    """At most ``limit`` jobs in ``states`` whose lease passed before ``now``."""
    with db.read() as session:
        rows = session.execute(
            sa.select(
                JOBS.c.id,
                *(JOBS.c[name] for name in _ATTEMPT_COLUMNS),
                JOBS.c.state,
                JOBS.c.worker_id,
            )
            .where(JOBS.c.state.in_(states), JOBS.c.lease_expires_at < now)
            .limit(limit)
        ).all()
    return [LeasedJob(DueJob(*row[:-2]), state=row.state, worker_id=row.worker_id) for row in rows]
