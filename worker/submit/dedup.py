"""Deduplication of submissions: the same normalised URL within a window is the same job."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.tables import HTTP_MODE
from worker.store.models import JOBS

#: Jobs a new submission is never folded into: they ended without a result worth repeating.
NOT_REUSED = frozenset({State.FAILED, State.TIMED_OUT, State.DISCARDED})
#: URL keys looked up per query (well under every backend's limit on bound parameters).
LOOKUP_CHUNK = 500


@dataclass(frozen=True, kw_only=True)
class ExistingJob:
    """A job a submission of the same normalised URL is folded into."""

    job_id: str
    state: State


def recent_jobs(
    connection: Connection, url_keys: Collection[str], *, since: datetime, mode: str = HTTP_MODE
) -> dict[str, ExistingJob]:
    """The newest job created at or after ``since`` for each of ``url_keys`` that has one,
    scanned in ``mode`` (a browser scan is not folded into a fetch of the same URL).

    Run it in the transaction that inserts the new jobs, so that on SQLite (whose write
    transactions are serialised) two submissions of one URL can't both miss each other.
    """
    keys = sorted(url_keys)
    found: dict[str, tuple[datetime, ExistingJob]] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        rows = connection.execute(
            sa.select(JOBS.c.id, JOBS.c.url_key, JOBS.c.state, JOBS.c.created_at).where(
                JOBS.c.url_key.in_(keys[start : start + LOOKUP_CHUNK]),
                JOBS.c.created_at >= since,
                JOBS.c.state.not_in([state.value for state in NOT_REUSED]),
                JOBS.c.mode == mode,
            )
        )
        for row in rows:
            known = found.get(row.url_key)
            if known is None or row.created_at > known[0]:
                job = ExistingJob(job_id=row.id, state=State(row.state))
                found[row.url_key] = (row.created_at, job)
    return {key: job for key, (_, job) in found.items()}
