"""Submitting URLs: check every one, store the QUEUED rows, then wake the workers.

With a deduplication window, a URL whose normalised form was submitted within the window
returns the job already made for it (unless that job FAILED, TIMED_OUT or was DISCARDED)
instead of a new one; so does a repeat of a URL inside one batch. A request id seen before
returns the job its first submission made (``worker.submit.plan``). A request with a callback
URL stores it with the job; folded into a job that is already terminal, it gets its webhook
at once (``worker.store.outbox``). With ``max_queued`` (``MAX_QUEUED_JOBS``; 0: no limit), a
batch whose new jobs would put more than that many jobs in QUEUED raises ``QueueFull`` and
stores nothing (``worker.submit.backpressure``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import TERMINAL, State
from statemachine.tables import HTTP_MODE, MODES
from statemachine.transitions import NewJob, create_jobs
from worker.clock import Clock, utcnow
from worker.errors import UsageError
from worker.queue.dispatch import PRIORITIES, Dispatcher
from worker.store.database import Database
from worker.store.lineage import insert_lineage
from worker.store.models import JOBS
from worker.store.outbox import queue_webhooks
from worker.store.requests import Callback, NewRequest, insert_requests
from worker.submit.backpressure import check_room
from worker.submit.callbacks import CallbackRules
from worker.submit.children import DEFAULT_LIMITS, ChildLimits, root_lineages
from worker.submit.ids import new_job_id
from worker.submit.plan import Planned, Request, check_requests, plan_requests
from worker.urls import url_host

#: Actor name written in the audit row of a submission.
SUBMIT_ACTOR = "submit"
#: Times a batch is stored again after another writer stored one of its request ids first.
REQUEST_ID_RACES = 3


@dataclass(frozen=True, kw_only=True)
class Submission:
    """One submitted URL and the job that scans it."""

    job_id: str
    url: str
    state: State
    #: The job already existed: the same normalised URL within the deduplication window, or
    #: the same request id.
    duplicate: bool = False
    #: The request id was stored before: nothing was stored for this submission now.
    repeated: bool = False
    request_id: str | None = None


def check_mode(mode: str) -> None:
    """``UsageError`` unless ``mode`` is a scan mode (``http``, ``browser``)."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")


def _check_priority(priority: str) -> None:
    if priority not in PRIORITIES:
        raise UsageError(f"unknown priority {priority!r} (use one of {', '.join(PRIORITIES)})")


def submit_requests(
    requests: Sequence[Request],
    *,
    db: Database,
    dispatcher: Dispatcher,
    priority: str = "normal",
    max_attempts: int = 3,
    dedup_window: timedelta = timedelta(0),
    max_queued: int = 0,
    callbacks: CallbackRules | None = None,
    depth: int = 0,
    max_children: int | None = None,
    child_limits: ChildLimits = DEFAULT_LIMITS,
    mode: str = HTTP_MODE,
    clock: Clock = utcnow,
) -> list[Submission]:
    """Store one QUEUED job per new request and dispatch them; return a submission per request.

    Every request is checked before anything is written: one bad URL, callback or request id
    raises (``InvalidURL``, ``UsageError``) and nothing at all is stored. Rows are committed
    before dispatch, so a worker never wakes for a row it can't see; if dispatch fails the
    rows stay QUEUED for the reconciler. A zero ``dedup_window`` makes a new job for every URL
    (request ids still fold repeats). With ``depth`` above 0 each new job is the root of a tree
    of child scans (``worker.submit.children``), ``max_children`` per scan
    (``child_limits.default_children`` if ``None``), and is folded by URL only into an earlier
    job that makes as many.
    """
    _check_priority(priority)
    check_mode(mode)
    children = child_limits.check(depth=depth, max_children=max_children)
    checked = check_requests(requests, callbacks=callbacks or CallbackRules())
    if not checked:
        return []

    def store(connection: Connection) -> list[Planned]:
        now = clock()
        since = now - dedup_window if dedup_window > timedelta(0) else None
        planned = plan_requests(
            connection, checked, since=since, depth=depth, max_children=children, mode=mode
        )
        new_jobs = [
            NewJob(
                job_id=plan.job_id,
                url=plan.request.url,
                url_key=plan.request.url_key,
                host=url_host(plan.request.url),
                mode=mode,
            )
            for plan in planned
            if plan.new
        ]
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
        insert_requests(
            connection,
            [
                NewRequest(
                    job_id=plan.job_id,
                    request_id=plan.request.request_id,
                    callback_url=plan.request.callback_url,
                    entry_id=plan.request.entry_id,
                )
                for plan in planned
                if not plan.repeated
                and (plan.request.request_id is not None or plan.request.callback_url)
            ],
            now=now,
        )
        for plan in planned:
            if plan.new or plan.repeated or plan.request.callback_url is None:
                continue
            _call_back_if_terminal(connection, plan, now=now)
        return planned

    planned = _store(db, store, retry=any(item.request_id for item in checked))
    new = [plan.job_id for plan in planned if plan.new]
    if new:
        dispatcher.dispatch(new, priority=priority)
    return [
        Submission(
            job_id=plan.job_id,
            url=plan.request.url,
            state=plan.state,
            duplicate=not plan.new,
            repeated=plan.repeated,
            request_id=plan.request.request_id,
        )
        for plan in planned
    ]


def _store(
    db: Database, store: Callable[[Connection], list[Planned]], *, retry: bool
) -> list[Planned]:
    """Run ``store`` in a write transaction; again if a request id was stored meanwhile.

    Two writers may both find a request id new and both insert it: the unique constraint
    lets one commit, and the other's next run finds the id stored and folds into its job.
    """
    for attempt in range(REQUEST_ID_RACES):
        try:
            return db.run_write(store)
        except sa.exc.IntegrityError:
            if not retry or attempt == REQUEST_ID_RACES - 1:
                raise
    raise AssertionError("unreachable: the last race re-raises")


def _call_back_if_terminal(connection: Connection, plan: Planned, *, now: datetime) -> None:
    """Queue the webhook of a request folded into a job that is terminal already.

    The job's row is read under a row lock (PostgreSQL; SQLite's write transactions are
    serial already), so a worker's terminal move either committed before this read, and its
    webhook is queued here, or waits for this transaction and then sees this request.
    """
    state = connection.execute(
        sa.select(JOBS.c.state).where(JOBS.c.id == plan.job_id).with_for_update()
    ).scalar_one()
    if State(state) not in TERMINAL:
        return
    assert plan.request.callback_url is not None
    queue_webhooks(
        connection,
        job_id=plan.job_id,
        now=now,
        callbacks=[Callback(request_id=plan.request.request_id, url=plan.request.callback_url)],
    )


class SubmitArguments(TypedDict, total=False):
    """What ``submit_batch`` and ``submit_urls`` pass on to ``submit_requests``, whose
    defaults hold for whatever is left out."""

    priority: str
    max_attempts: int
    dedup_window: timedelta
    max_queued: int
    callbacks: CallbackRules | None
    depth: int
    max_children: int | None
    child_limits: ChildLimits
    mode: str
    clock: Clock


def submit_batch(
    urls: Sequence[str],
    *,
    db: Database,
    dispatcher: Dispatcher,
    callback_url: str | None = None,
    **arguments: Unpack[SubmitArguments],
) -> list[Submission]:
    """``submit_requests`` for plain URLs, each with ``callback_url`` if given."""
    return submit_requests(
        [Request(url=url, callback_url=callback_url) for url in urls],
        db=db,
        dispatcher=dispatcher,
        **arguments,
    )


def submit_urls(
    urls: Sequence[str],
    *,
    db: Database,
    dispatcher: Dispatcher,
    callback_url: str | None = None,
    **arguments: Unpack[SubmitArguments],
) -> list[str]:
    """``submit_batch``, returning only the job ids, in the order of ``urls``.

    ``callback_url`` is where each job's terminal state is POSTed (a Python producer passes
    ``WEBHOOK_URL`` itself, if it wants it); ``callbacks`` the address rules it is checked
    against (``FETCHER_ALLOW_NETWORKS``, ``FETCHER_ALLOWED_PORTS``; none given: no private
    address, the default ports). The other arguments are ``submit_requests``' own.
    """
    submissions = submit_batch(
        urls, db=db, dispatcher=dispatcher, callback_url=callback_url, **arguments
    )
    return [submission.job_id for submission in submissions]


__all__ = [
    "SUBMIT_ACTOR",
    "Request",
    "Submission",
    "SubmitArguments",
    "check_mode",
    "new_job_id",
    "submit_batch",
    "submit_requests",
    "submit_urls",
]
