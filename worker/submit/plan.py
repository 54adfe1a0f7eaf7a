"""Deciding what a batch of submissions becomes: a new job, or one that already exists.

Each request is checked first, all of them before anything is read or written. Then, in the
transaction that will store the batch (or a read of its own, for a dry run), each one is
folded into an existing job when:

- its request id was stored before (``repeated``): the job that request made, whatever its
  state, and nothing new is stored for it;
- its normalised URL was submitted within the deduplication window (``duplicate``): the job
  made then, unless that job FAILED, TIMED_OUT or was DISCARDED;
- it repeats an earlier request of the same batch, by request id or (with a window) by URL.

Everything else gets a new job id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.tables import HTTP_MODE
from worker.errors import UsageError
from worker.store.requests import known_requests
from worker.submit.callbacks import CallbackRules, check_callback_url
from worker.submit.children import recent_trees
from worker.submit.dedup import recent_jobs
from worker.submit.ids import new_job_id
from worker.urls import checked_url

#: Longest request id a producer may give.
MAX_REQUEST_ID = 200
#: What a request id may hold: printable ASCII, no white space.
_REQUEST_ID = re.compile(r"[\x21-\x7e]+")
#: A Redis stream entry id: a request id of this form is a stream entry's own.
ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")


@dataclass(frozen=True, kw_only=True)
class Request:
    """One URL to submit, and what its producer asked for with it."""

    url: str
    #: Where to POST the job's terminal state (already resolved to ``WEBHOOK_URL`` if unset).
    callback_url: str | None = None
    #: The producer's idempotency key (a stream entry's own id when it gives none).
    request_id: str | None = None
    #: The stream entry this request came from.
    entry_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Checked:
    """A request whose URL, callback and request id passed every check."""

    url: str
    url_key: str
    callback_url: str | None
    request_id: str | None
    entry_id: str | None


@dataclass(frozen=True, kw_only=True)
class Planned:
    """What one checked request becomes."""

    request: Checked
    job_id: str
    state: State
    #: A new job is made for it (``job_id`` is fresh).
    new: bool
    #: Folded into a job made before for the same normalised URL.
    duplicate: bool = False
    #: Its request id was seen before: that request's job, and nothing is stored now.
    repeated: bool = False


def check_request_id(request_id: str, *, entry_id: str | None = None) -> str:
    """Return ``request_id``, or raise ``UsageError`` saying why it can't be one."""
    if not 0 < len(request_id) <= MAX_REQUEST_ID or not _REQUEST_ID.fullmatch(request_id):
        raise UsageError(
            f"invalid request id {request_id[:100]!r}: 1 to {MAX_REQUEST_ID} printable ASCII "
            "characters without spaces"
        )
    if ENTRY_ID.fullmatch(request_id) and request_id != entry_id:
        raise UsageError(
            f"invalid request id {request_id!r}: ids of the form N-N are stream entry ids"
        )
    return request_id


def check_requests(requests: Sequence[Request], *, callbacks: CallbackRules) -> list[Checked]:
    """Check every request; the first bad one raises (``InvalidURL``, ``UsageError``)."""
    checked = []
    for request in requests:
        url, url_key = checked_url(request.url)
        checked.append(
            Checked(
                url=url,
                url_key=url_key,
                callback_url=None
                if request.callback_url is None
                else check_callback_url(request.callback_url, rules=callbacks),
                request_id=None
                if request.request_id is None
                else check_request_id(request.request_id, entry_id=request.entry_id),
                entry_id=request.entry_id,
            )
        )
    return checked


def plan_requests(
    connection: Connection,
    checked: Sequence[Checked],
    *,
    since: datetime | None,
    depth: int = 0,
    max_children: int = 0,
    mode: str = HTTP_MODE,
) -> list[Planned]:
    """What each of ``checked`` becomes; ``since`` is the deduplication window's start
    (``None``: no deduplication by URL). Run it in the transaction that stores the batch.

    With ``depth`` above 0 a request is folded by URL only into a job whose tree of child
    scans goes as deep, with at least ``max_children`` children per scan.
    """
    request_ids = {item.request_id for item in checked if item.request_id is not None}
    known = known_requests(connection, request_ids) if request_ids else {}
    reusable = {}
    if since is not None:
        keys = {item.url_key for item in checked}
        reusable = (
            recent_trees(
                connection, keys, since=since, depth=depth, max_children=max_children, mode=mode
            )
            if depth > 0
            else recent_jobs(connection, keys, since=since, mode=mode)
        )
    by_request: dict[str, Planned] = {}
    by_key: dict[str, Planned] = {}
    planned = []
    for item in checked:
        request_id = item.request_id
        if request_id is not None and request_id in known:
            found = known[request_id]
            plan = Planned(request=item, job_id=found.job_id, state=found.state, new=False)
            planned.append(_as_repeat(plan))
            continue
        if request_id is not None and request_id in by_request:
            planned.append(_as_repeat(by_request[request_id], request=item))
            continue
        existing = reusable.get(item.url_key)
        if existing is not None:
            plan = Planned(
                request=item,
                job_id=existing.job_id,
                state=existing.state,
                new=False,
                duplicate=True,
            )
        elif since is not None and item.url_key in by_key:
            first = by_key[item.url_key]
            plan = Planned(
                request=item, job_id=first.job_id, state=first.state, new=False, duplicate=True
            )
        else:
            plan = Planned(request=item, job_id=new_job_id(), state=State.QUEUED, new=True)
            by_key[item.url_key] = plan
        if request_id is not None:
            by_request[request_id] = plan
        planned.append(plan)
    return planned


def _as_repeat(plan: Planned, *, request: Checked | None = None) -> Planned:
    return Planned(
        request=request or plan.request,
        job_id=plan.job_id,
        state=plan.state,
        new=False,
        duplicate=True,
        repeated=True,
    )
