"""Submitting URLs: validate every one, store the QUEUED rows, then wake the workers.

With a deduplication window, a URL whose normalised form was submitted within the window
returns the job already made for it (unless that job FAILED, TIMED_OUT or was DISCARDED)
instead of a new one; so does a repeat of a URL inside one batch.
"""

from __future__ import annotations

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
from worker.store.lineage import insert_lineage
from worker.submit.backpressure import check_room
from worker.submit.children import DEFAULT_LIMITS, ChildLimits, recent_trees, root_lineages
from worker.submit.dedup import ExistingJob, recent_jobs
from worker.submit.ids import new_job_id
from worker.urls import normalise_url, url_host, validate_url

#: Actor name written in the audit row of a submission.
SUBMIT_ACTOR = "submit"


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
    depth: int = 0,
    max_children: int | None = None,
    child_limits: ChildLimits = DEFAULT_LIMITS,
    clock: Clock = utcnow,
) -> list[Submission]:
    """Store one QUEUED job per new URL and dispatch them; return a submission per URL.

    Every URL is validated before anything is written: one bad URL raises ``InvalidURL`` and
    nothing at all is stored. Rows are committed before dispatch, so a worker never wakes for a
    row it can't see; if dispatch fails the rows stay QUEUED for the reconciler. A zero
    ``dedup_window`` makes a new job for every URL. With ``max_queued`` (``MAX_QUEUED_JOBS``;
    0: no limit), a batch whose new jobs would put more than that many jobs in QUEUED raises
    ``QueueFull`` and stores nothing. With ``depth`` above 0 each new job is the root of a tree
    of child scans (``worker.submit.children``), ``max_children`` per scan
    (``child_limits.default_children`` if ``None``), and is folded only into an earlier job
    that makes as many.
    """
    if priority not in PRIORITIES:
        raise UsageError(f"unknown priority {priority!r} (use one of {', '.join(PRIORITIES)})")
    children = child_limits.check(depth=depth, max_children=max_children)
    checked = [(url, normalise_url(url)) for url in (validate_url(url) for url in urls)]
    if not checked:
        return []
    now = clock()

    def store(connection: Connection) -> list[Submission]:
        reusable: dict[str, ExistingJob] = {}
        if dedup_window > timedelta(0):
            keys = {key for _, key in checked}
            since = now - dedup_window
            reusable = (
                recent_trees(connection, keys, since=since, depth=depth, max_children=children)
                if depth > 0
                else recent_jobs(connection, keys, since=since)
            )
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
        roots = root_lineages([job.job_id for job in new_jobs], depth=depth, max_children=children)
        insert_lineage(connection, roots, now=now)
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
    depth: int = 0,
    max_children: int | None = None,
    child_limits: ChildLimits = DEFAULT_LIMITS,
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
        depth=depth,
        max_children=max_children,
        child_limits=child_limits,
        clock=clock,
    )
    return [submission.job_id for submission in submissions]


__all__ = ["SUBMIT_ACTOR", "Submission", "new_job_id", "submit_batch", "submit_urls"]
