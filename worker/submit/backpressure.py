"""Back-pressure: a submission that would put more than ``MAX_QUEUED_JOBS`` jobs in QUEUED is
refused whole, before anything of it is written.

The count reads the ``(state, created_at)`` index and stops one row past the limit, so it costs
at most ``limit`` index entries however many jobs the table holds. It runs in the submission's
write transaction: SQLite and libSQL serialise those (``BEGIN IMMEDIATE``); on PostgreSQL an
advisory lock held to the end of the transaction serialises the submissions that count, so
two of them can't both fit into the last free places.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from worker.errors import QueueFull
from worker.store.models import JOBS

#: PostgreSQL advisory lock key of submissions that count the queue (``scanbox`` in ASCII).
SUBMIT_LOCK_KEY = 0x7363616E626F78


def queued_jobs(connection: Connection, *, cap: int) -> int:
    """How many jobs are QUEUED, counted no further than ``cap``."""
    queued = (
        sa.select(sa.literal(1)).where(JOBS.c.state == State.QUEUED.value).limit(cap).subquery()
    )
    return int(connection.execute(sa.select(sa.func.count()).select_from(queued)).scalar_one())


def check_room(connection: Connection, *, new_jobs: int, limit: int) -> None:
    """Raise ``QueueFull`` unless ``new_jobs`` more QUEUED jobs stay within ``limit`` (0: none)."""
    if limit <= 0 or new_jobs <= 0:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SUBMIT_LOCK_KEY)))
    queued = queued_jobs(connection, cap=limit + 1)
    if queued + new_jobs > limit:
        raise QueueFull(queued=queued, submitted=new_jobs, limit=limit)
