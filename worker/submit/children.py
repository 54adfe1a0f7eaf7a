"""Child scans: the jobs a completed scan of a tree makes for the hosts its page led to.

A job submitted with ``--depth N`` (N above 0) is the root of a tree. When a scan of the tree
completes at a depth below N, its leads (``worker.scan.leads``: a redirect to another host,
then forms' actions and links, one per host) become its children, at most ``max_children``
of them, in the order found. Each lead is

- linked to an **ancestor** of the scan when its URL is one (a cycle ``A -> B -> A`` ends
  there, whatever the deduplication window),
- else linked to a **recent job** of the same normalised URL, as a submission would be
  (within the deduplication window, not FAILED, TIMED_OUT or DISCARDED),
- else made a **new job**: QUEUED, one priority step below its parent, with the parent's
  ``max_attempts``, its lineage (parent, depth + 1, the tree's limits) and its child row.

All of it is written by :meth:`ChildScans.spawn` in the transaction that moves the parent to
COMPLETED, so a crash neither loses nor doubles children; the new jobs are dispatched after
the commit (:meth:`ChildScans.dispatch`), and one whose dispatch is lost is QUEUED without an
RQ job, which the reconciler dispatches. Children are ordinary jobs from then on: the
per-host rate limit and everything else apply to them as to any job.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import redis.exceptions
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.tables import HTTP_MODE
from statemachine.transitions import NewJob, create_jobs
from worker.errors import InvalidURL, UsageError
from worker.logs import get_logger
from worker.queue.dispatch import PRIORITIES, Dispatcher
from worker.store.lineage import (
    LOOKUP_CHUNK,
    ChildRow,
    Lineage,
    insert_children,
    insert_lineage,
    lineage_keys,
    lineage_of,
)
from worker.store.models import JOBS, LINEAGE
from worker.submit.dedup import NOT_REUSED, ExistingJob, recent_jobs
from worker.submit.ids import new_job_id
from worker.urls import normalise_url, url_host

#: What led a scan to a child: a redirect's target, a form's action, a link.
Via = Literal["redirect", "form", "link"]

#: The deepest a tree may go unless the settings say otherwise (``MAX_SCAN_DEPTH``).
DEFAULT_MAX_DEPTH = 3
#: Children per scan when a submission names no number (``CHILD_SCANS_DEFAULT``).
DEFAULT_CHILDREN = 10
#: The most children per scan a submission may ask for (``CHILD_SCANS_MAX``).
DEFAULT_MAX_CHILDREN = 50


@dataclass(frozen=True, kw_only=True)
class Lead:
    """A URL a completed scan led to, and what led there."""

    url: str
    via: Via


@dataclass(frozen=True, kw_only=True)
class ChildLimits:
    """The hard limits on trees of child scans, from the settings."""

    max_depth: int = DEFAULT_MAX_DEPTH
    default_children: int = DEFAULT_CHILDREN
    max_children: int = DEFAULT_MAX_CHILDREN

    def check(self, *, depth: int, max_children: int | None) -> int:
        """The children per scan a submission of ``depth`` gets; ``UsageError`` past a limit."""
        if depth < 0 or depth > self.max_depth:
            raise UsageError(f"--depth must be from 0 to {self.max_depth} (MAX_SCAN_DEPTH)")
        children = self.default_children if max_children is None else max_children
        if children < 0 or children > self.max_children:
            raise UsageError(
                f"--max-children must be from 0 to {self.max_children} (CHILD_SCANS_MAX)"
            )
        return children


#: The limits when the settings don't give others.
DEFAULT_LIMITS = ChildLimits()


@dataclass(frozen=True, kw_only=True)
class Spawned:
    """The new child jobs of one completed scan, to dispatch once their transaction commits."""

    job_ids: tuple[str, ...] = ()
    priority: str = "low"
    #: Leads linked to a job that existed instead of a new one.
    linked: int = 0


def lower_priority(priority: str) -> str:
    """The priority one step below ``priority`` (``low`` stays ``low``)."""
    if priority not in PRIORITIES:
        return PRIORITIES[-1]
    return PRIORITIES[min(PRIORITIES.index(priority) + 1, len(PRIORITIES) - 1)]


def root_lineages(job_ids: Sequence[str], *, depth: int, max_children: int) -> list[Lineage]:
    """The lineage rows of newly submitted jobs that are roots of trees (none for depth 0)."""
    if depth <= 0:
        return []
    return [
        Lineage(job_id=job_id, parent_id=None, depth=0, max_depth=depth, max_children=max_children)
        for job_id in job_ids
    ]


def recent_trees(
    connection: Connection,
    url_keys: Collection[str],
    *,
    since: datetime,
    depth: int,
    max_children: int,
    mode: str = HTTP_MODE,
) -> dict[str, ExistingJob]:
    """``recent_jobs`` for a submission that asks for children: only jobs that will make them.

    The newest job created at or after ``since`` for each of ``url_keys`` whose tree still
    goes ``depth`` levels down with at least ``max_children`` children per scan.
    """
    keys = sorted(url_keys)
    found: dict[str, tuple[datetime, ExistingJob]] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        rows = connection.execute(
            sa.select(JOBS.c.id, JOBS.c.url_key, JOBS.c.state, JOBS.c.created_at)
            .select_from(JOBS.join(LINEAGE, LINEAGE.c.job_id == JOBS.c.id))
            .where(
                JOBS.c.url_key.in_(keys[start : start + LOOKUP_CHUNK]),
                JOBS.c.created_at >= since,
                JOBS.c.state.not_in([state.value for state in NOT_REUSED]),
                LINEAGE.c.max_depth - LINEAGE.c.depth >= depth,
                LINEAGE.c.max_children >= max_children,
                JOBS.c.mode == mode,
            )
        )
        for row in rows:
            known = found.get(row.url_key)
            if known is None or row.created_at > known[0]:
                found[row.url_key] = (
                    row.created_at,
                    ExistingJob(job_id=row.id, state=State(row.state)),
                )
    return {key: job for key, (_, job) in found.items()}


class ChildScans:
    """Makes the children of completed scans of trees, and dispatches them."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        limits: ChildLimits,
        dedup_window: timedelta,
    ) -> None:
        self.dispatcher = dispatcher
        self.limits = limits
        self.dedup_window = dedup_window

    def spawn(
        self,
        connection: Connection,
        *,
        parent_id: str,
        priority: str,
        max_attempts: int,
        leads: Sequence[Lead],
        actor: str,
        now: datetime,
        mode: str = HTTP_MODE,
    ) -> Spawned:
        """Write the children of ``parent_id``, which is being COMPLETED in ``connection``;
        they are scanned in the parent's ``mode``."""
        child_priority = lower_priority(priority)
        lineage = lineage_of(connection, parent_id)
        if lineage is None or lineage.depth >= min(lineage.max_depth, self.limits.max_depth):
            return Spawned(priority=child_priority)
        # The parent and its ancestors, by URL key: a lead back to one of them is a link to
        # it (or, for the parent itself, nothing at all).
        family = {key: job_id for job_id, key in lineage_keys(connection, lineage).items() if key}
        keyed = [(key, lead) for key, lead in _keyed(leads) if family.get(key) != parent_id]
        wanted = keyed[: min(lineage.max_children, self.limits.max_children)]
        if not wanted:
            return Spawned(priority=child_priority)
        recent = {}
        if self.dedup_window > timedelta(0):
            recent = recent_jobs(
                connection, {key for key, _ in wanted}, since=now - self.dedup_window, mode=mode
            )
        new_jobs: list[NewJob] = []
        rows: list[ChildRow] = []
        for position, (key, lead) in enumerate(wanted):
            existing = family.get(key) or (recent[key].job_id if key in recent else None)
            job_id = existing or new_job_id()
            if existing is None:
                new_jobs.append(
                    NewJob(
                        job_id=job_id,
                        url=lead.url,
                        url_key=key,
                        host=url_host(lead.url),
                        mode=mode,
                    )
                )
            rows.append(
                ChildRow(
                    parent_id=parent_id,
                    job_id=job_id,
                    url=lead.url,
                    via=lead.via,
                    created=existing is None,
                    position=position,
                )
            )
        create_jobs(
            connection,
            jobs=new_jobs,
            priority=child_priority,
            max_attempts=max_attempts,
            actor=actor,
            now=now,
        )
        insert_lineage(
            connection,
            [
                Lineage(
                    job_id=job.job_id,
                    parent_id=parent_id,
                    depth=lineage.depth + 1,
                    max_depth=lineage.max_depth,
                    max_children=lineage.max_children,
                )
                for job in new_jobs
            ],
            now=now,
        )
        insert_children(connection, rows, now=now)
        return Spawned(
            job_ids=tuple(job.job_id for job in new_jobs),
            priority=child_priority,
            linked=len(rows) - len(new_jobs),
        )

    def dispatch(self, spawned: Spawned, *, parent_id: str) -> None:
        """Wake workers for the new children; a lost dispatch is left to the reconciler."""
        if not spawned.job_ids:
            return
        log = get_logger(job_id=parent_id)
        try:
            self.dispatcher.dispatch(list(spawned.job_ids), priority=spawned.priority)
        except redis.exceptions.RedisError as error:
            log.warning(
                "children_not_dispatched",
                children=len(spawned.job_ids),
                error=str(error),
                reason="they stay QUEUED for the reconciler",
            )
            return
        log.info(
            "children_dispatched",
            children=len(spawned.job_ids),
            linked=spawned.linked,
            priority=spawned.priority,
        )


def _keyed(leads: Sequence[Lead]) -> list[tuple[str, Lead]]:
    """Each lead with its URL's normalised form, one per normalised URL; bad URLs dropped.

    A lead is page content: one that ``validate_url`` refuses is not followed.
    """
    seen: set[str] = set()
    keyed: list[tuple[str, Lead]] = []
    for lead in leads:
        try:
            key = normalise_url(lead.url)
        except InvalidURL:
            continue
        if key not in seen:
            seen.add(key)
            keyed.append((key, lead))
    return keyed
