"""Producers' requests: the ids that make a submission idempotent, and where to call back.

A request id names one submission whatever happens to it: submitted again (a producer's
retry, a stream entry read twice after a crash), it returns the job it made the first time
and stores nothing. The ``UNIQUE`` constraint on ``request_id`` holds that across every
writer; the lookup here is how a writer finds out before it inserts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from worker.errors import UnknownRequest
from worker.store.database import Database
from worker.store.models import JOBS, REQUESTS
from worker.store.rows import insert_records

#: Request ids looked up per query (well under every backend's limit on bound parameters).
LOOKUP_CHUNK = 500


@dataclass(frozen=True, kw_only=True)
class KnownRequest:
    """A request id already stored, with the job it belongs to and that job's state now."""

    request_id: str
    job_id: str
    state: State


@dataclass(frozen=True, kw_only=True)
class NewRequest:
    """A request row to store with its submission (its fields are the row's columns)."""

    job_id: str
    request_id: str | None = None
    callback_url: str | None = None
    entry_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Callback:
    """Where one request of a job asked to be told that the job is terminal."""

    request_id: str | None
    url: str


def known_requests(connection: Connection, request_ids: Collection[str]) -> dict[str, KnownRequest]:
    """The stored requests among ``request_ids``, by request id."""
    ids = sorted(request_ids)
    found: dict[str, KnownRequest] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = connection.execute(
            sa.select(REQUESTS.c.request_id, REQUESTS.c.job_id, JOBS.c.state)
            .join(JOBS, JOBS.c.id == REQUESTS.c.job_id)
            .where(REQUESTS.c.request_id.in_(ids[start : start + LOOKUP_CHUNK]))
        )
        for row in rows:
            found[row.request_id] = KnownRequest(
                request_id=row.request_id, job_id=row.job_id, state=State(row.state)
            )
    return found


def insert_requests(
    connection: Connection, requests: Sequence[NewRequest], *, now: datetime
) -> None:
    """Store ``requests`` (in the transaction that stores their jobs)."""
    insert_records(connection, REQUESTS, requests, now=now)


def callbacks_of(connection: Connection, job_id: str) -> list[Callback]:
    """Every callback the requests of ``job_id`` asked for, oldest request first."""
    rows = connection.execute(
        sa.select(REQUESTS.c.request_id, REQUESTS.c.callback_url)
        .where(REQUESTS.c.job_id == job_id, REQUESTS.c.callback_url.is_not(None))
        .order_by(REQUESTS.c.id)
    )
    return [Callback(request_id=row.request_id, url=row.callback_url) for row in rows]


def request_ids_of(db: Database, job_ids: Collection[str]) -> dict[str, list[str]]:
    """The request ids of the submissions each of ``job_ids`` was made by or folded into,
    oldest first; a job that has none is left out."""
    ids = sorted(set(job_ids))
    found: dict[str, list[str]] = {}
    with db.read() as session:
        for start in range(0, len(ids), LOOKUP_CHUNK):
            rows = session.execute(
                sa.select(REQUESTS.c.job_id, REQUESTS.c.request_id)
                .where(
                    REQUESTS.c.job_id.in_(ids[start : start + LOOKUP_CHUNK]),
                    REQUESTS.c.request_id.is_not(None),
                )
                .order_by(REQUESTS.c.id)
            )
            for row in rows:
                found.setdefault(row.job_id, []).append(row.request_id)
    return found


def job_request_ids(db: Database, job_id: str) -> list[str]:
    """The request ids of the submissions ``job_id`` was made by or folded into, oldest first."""
    return request_ids_of(db, [job_id]).get(job_id, [])


def job_of_request(db: Database, request_id: str) -> str:
    """The job the submission with ``request_id`` made or was folded into; ``UnknownRequest``."""
    with db.read() as session:
        job_id = session.execute(
            sa.select(REQUESTS.c.job_id).where(REQUESTS.c.request_id == request_id)
        ).scalar_one_or_none()
    if job_id is None:
        raise UnknownRequest(request_id)
    return str(job_id)
