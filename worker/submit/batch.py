"""Submitting URLs: validate every one, store the QUEUED rows, then wake the workers.

With a deduplication window, a URL whose normalised form was submitted within the window
returns the job already made for it (unless that job FAILED, TIMED_OUT or was DISCARDED)
instead of a new one; so does a repeat of a URL inside one batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.transitions import NewJob, create_jobs
from worker.clock import Clock, utcnow
from worker.errors import UsageError
from worker.queue.dispatch import PRIORITIES, Dispatcher
from worker.store.database import Database
from worker.submit.backpressure import check_room
from worker.submit.dedup import ExistingJob, recent_jobs
from worker.urls import normalise_url, url_host, validate_url

#: Actor name written in the audit row of a submission.
SUBMIT_ACTOR = "submit"


def new_job_id() -> str:
    """A fresh, unguessable job id (32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True)
class Submission:
    """One submitted URL and the job that scans it."""

    job_id: str
    url: str
    state: State
    #: The job already existed: the same normalised URL within the deduplication window.
    duplicate: bool = False


def submit_batch(
    urls: Sequence[str],
    *,
    db: Database,
    dispatcher: Dispatcher,
    priority: str = "normal",
    max_attempts: int = 3,
    dedup_window: timedelta = timedelta(0),
    max_queued: int = 0,
    clock: Clock = utcnow,
) -> list[Submission]:
    """Store one QUEUED job per new URL and dispatch them; return a submission per URL.

    Every URL is validated before anything is written: one bad URL raises ``InvalidURL`` and
    nothing at all is stored. Rows are committed before dispatch, so a worker never wakes for a
    row it can't see; if dispatch fails the rows stay QUEUED for the reconciler. A zero
    ``dedup_window`` makes a new job for every URL. With ``max_queued`` (``MAX_QUEUED_JOBS``;
    0: no limit), a batch whose new jobs would put more than that many jobs in QUEUED raises
    ``QueueFull`` and stores nothing.
    """
    if priority not in PRIORITIES:
        raise UsageError(f"unknown priority {priority!r} (use one of {', '.join(PRIORITIES)})")
    checked = [(url, normalise_url(url)) for url in (validate_url(url) for url in urls)]
    if not checked:
        return []
    now = clock()

    def store(connection: Connection) -> list[Submission]:
        reusable: dict[str, ExistingJob] = {}
        if dedup_window > timedelta(0):
            keys = {key for _, key in checked}
            reusable = recent_jobs(connection, keys, since=now - dedup_window)
        submissions = []
        new_jobs: list[NewJob] = []
        for url, key in checked:
            existing = reusable.get(key)
            if existing is not None:
                submissions.append(
                    Submission(
                        job_id=existing.job_id, url=url, state=existing.state, duplicate=True
                    )
                )
                continue
            job_id = new_job_id()
            new_jobs.append(NewJob(job_id=job_id, url=url, url_key=key, host=url_host(url)))
            submissions.append(Submission(job_id=job_id, url=url, state=State.QUEUED))
            if dedup_window > timedelta(0):
                reusable[key] = ExistingJob(job_id=job_id, state=State.QUEUED)
        check_room(connection, new_jobs=len(new_jobs), limit=max_queued)
        create_jobs(
            connection,
            jobs=new_jobs,
            priority=priority,
            max_attempts=max_attempts,
            actor=SUBMIT_ACTOR,
            now=now,
        )
        return submissions

    submissions = db.run_write(store)
    new = [submission.job_id for submission in submissions if not submission.duplicate]
    if new:
        dispatcher.dispatch(new, priority=priority)
    return submissions


def submit_urls(
    urls: Sequence[str],
    *,
    db: Database,
    dispatcher: Dispatcher,
    priority: str = "normal",
    max_attempts: int = 3,
    dedup_window: timedelta = timedelta(0),
    max_queued: int = 0,
    clock: Clock = utcnow,
) -> list[str]:
    """``submit_batch``, returning only the job ids, in the order of ``urls``."""
    submissions = submit_batch(
        urls,
        db=db,
        dispatcher=dispatcher,
        priority=priority,
        max_attempts=max_attempts,
        dedup_window=dedup_window,
        max_queued=max_queued,
        clock=clock,
    )
    return [submission.job_id for submission in submissions]
