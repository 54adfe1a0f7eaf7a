"""Submitting URLs: validate every one, store the QUEUED rows, then wake the workers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from statemachine.transitions import create_job
from worker.clock import Clock, utcnow
from worker.db import Database
from worker.dispatch import PRIORITIES, Dispatcher
from worker.errors import UsageError
from worker.urls import validate_url

#: Actor name written in the audit row of a submission.
SUBMIT_ACTOR = "submit"


def new_job_id() -> str:
    """A fresh, unguessable job id (32 hex digits)."""
    return uuid.uuid4().hex


def submit_urls(
    urls: Sequence[str],
    *,
    db: Database,
    dispatcher: Dispatcher,
    priority: str = "normal",
    max_attempts: int = 3,
    clock: Clock = utcnow,
) -> list[str]:
    """Store one QUEUED job per URL and dispatch them; return their ids in order.

    Every URL is validated before anything is written: one bad URL raises ``InvalidURL`` and
    nothing at all is stored. Rows are committed before dispatch, so a worker never wakes for a
    row it can't see; if dispatch fails the rows stay QUEUED for the reconciler.
    """
    if priority not in PRIORITIES:
        raise UsageError(f"unknown priority {priority!r} (use one of {', '.join(PRIORITIES)})")
    checked = [validate_url(url) for url in urls]
    if not checked:
        return []
    jobs = [(new_job_id(), url) for url in checked]
    now = clock()

    def store(connection: Connection) -> None:
        for job_id, url in jobs:
            create_job(
                connection,
                job_id=job_id,
                url=url,
                priority=priority,
                max_attempts=max_attempts,
                actor=SUBMIT_ACTOR,
                now=now,
            )

    db.run_write(store)
    job_ids = [job_id for job_id, _ in jobs]
    dispatcher.dispatch(job_ids, priority=priority)
    return job_ids
