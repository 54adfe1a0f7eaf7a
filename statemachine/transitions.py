"""The one function through which every state write goes.

A transition is a conditional ``UPDATE … WHERE id = ? AND state = ? AND version = ?`` that bumps
``version`` and ``updated_at``, plus one audit row, in the caller's transaction. Zero rows
matched means another writer got there first: the caller is told "not mine" (``None``) and
nothing is written. A move the table forbids raises before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from statemachine.errors import IllegalTransition
from statemachine.states import TERMINAL, State, is_allowed
from statemachine.tables import AUDIT, HTTP_MODE, JOBS

#: Columns a transition may set besides state, version and timestamps.
_MUTABLE = frozenset(
    {
        "attempts",
        "available_at",
        "lease_expires_at",
        "started_at",
        "worker_id",
        "container_id",
        "exit_code",
        "oom_killed",
        "error_code",
        "error_message",
        "timeout_ms",
        "memory_limit_mb",
        "cpu_limit",
        "pids_limit",
        "verdict",
    }
)


class NewJob(NamedTuple):
    """A job to create: its id, its URL, the URL's normalised form (for deduplication), its
    host (for searches) and how it is scanned."""

    job_id: str
    url: str
    url_key: str | None = None
    host: str | None = None
    #: ``http`` or ``browser``.
    mode: str = HTTP_MODE


def create_job(
    connection: Connection,
    *,
    job_id: str,
    url: str,
    priority: str,
    max_attempts: int,
    actor: str,
    now: datetime,
    url_key: str | None = None,
    host: str | None = None,
    mode: str = HTTP_MODE,
) -> None:
    """Insert a new job in QUEUED at version 1, with its first audit row.

    ``url_key`` is the normalised URL that deduplication of submissions matches on; ``host``
    the URL's host, that searches match on.
    """
    create_jobs(
        connection,
        jobs=[NewJob(job_id=job_id, url=url, url_key=url_key, host=host, mode=mode)],
        priority=priority,
        max_attempts=max_attempts,
        actor=actor,
        now=now,
    )


def create_jobs(
    connection: Connection,
    *,
    jobs: Sequence[NewJob],
    priority: str,
    max_attempts: int,
    actor: str,
    now: datetime,
) -> None:
    """Insert new jobs in QUEUED at version 1, each with its first audit row.

    Two statements for the whole batch (one per table, executed once per row by the driver):
    building a statement per row costs more than the rows themselves.
    """
    if not jobs:
        return
    connection.execute(
        JOBS.insert(),
        [
            {
                "id": job.job_id,
                "url": job.url,
                "url_key": job.url_key,
                "host": job.host,
                "mode": job.mode,
                "state": State.QUEUED.value,
                "version": 1,
                "attempts": 0,
                "max_attempts": max_attempts,
                "priority": priority,
                "created_at": now,
                "updated_at": now,
            }
            for job in jobs
        ],
    )
    connection.execute(
        AUDIT.insert(),
        [
            {
                "job_id": job.job_id,
                "from_state": None,
                "to_state": State.QUEUED.value,
                "version": 1,
                "actor": actor,
                "at": now,
                "detail": None,
            }
            for job in jobs
        ],
    )


def transition(
    connection: Connection,
    *,
    job_id: str,
    source: State,
    target: State,
    version: int,
    actor: str,
    now: datetime,
    changes: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int | None:
    """Move ``job_id`` from ``source`` (at ``version``) to ``target``.

    Returns the new version, or ``None`` when the job is no longer at ``source``/``version``
    (another writer won). Raises ``IllegalTransition`` for a move the table forbids.
    """
    if not is_allowed(source, target):
        raise IllegalTransition(job_id, source.value, target.value)
    changes = dict(changes or {})
    unknown = changes.keys() - _MUTABLE
    if unknown:
        raise ValueError(f"a transition can't set {sorted(unknown)}")
    if target in TERMINAL:
        changes.update(finished_at=now, lease_expires_at=None)
    result = connection.execute(
        JOBS.update()
        .where(JOBS.c.id == job_id, JOBS.c.state == source.value, JOBS.c.version == version)
        .values(state=target.value, version=JOBS.c.version + 1, updated_at=now, **changes)
    )
    if result.rowcount != 1:
        return None
    new_version = version + 1
    connection.execute(
        AUDIT.insert().values(
            job_id=job_id,
            from_state=source.value,
            to_state=target.value,
            version=new_version,
            actor=actor,
            at=now,
            detail=dict(detail) if detail else None,
        )
    )
    return new_version


def renew_lease(
    connection: Connection, *, job_id: str, state: State, version: int, until: datetime
) -> bool:
    """Extend the lease of a claimed job that is still at ``state``/``version``.

    The one write to a job that is not a transition: it changes neither state nor version, so
    the worker's version token stays valid. Returns ``False`` when the job has moved on (the
    claim was taken back), and then writes nothing.
    """
    result = connection.execute(
        JOBS.update()
        .where(JOBS.c.id == job_id, JOBS.c.state == state.value, JOBS.c.version == version)
        .values(lease_expires_at=until)
    )
    return result.rowcount == 1
