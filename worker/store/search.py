"""Searching jobs, newest first, a page at a time: by state, verdict, host, final host, peer
address, body hash and creation time.

Pages are keyset pages: each one starts strictly after the ``(created_at, id)`` of the last job
of the one before, so a page costs the same however deep it is, and jobs submitted meanwhile
neither repeat nor shift a page. Every filter has an index to match (revision ``0002``):

- no filter, ``since``: ``ix_scan_jobs_created_id``, walked backwards
- ``state``: ``ix_scan_jobs_state_created``; ``host``: ``ix_scan_jobs_host_created``;
  ``verdict``: ``ix_scan_jobs_verdict_created_id`` (the job carries its result's verdict, so a
  page of the commonest verdict reads 50 index entries, not every match)
- ``final_host``, ``sha256``: ``ix_scan_results_final_host``, ``ix_scan_results_sha256``;
  ``peer``: the key of ``scan_peers`` (revision ``0008``), which starts with the address;
  their matches are few, and sorted after they are found

A filter by result joins ``scan_results``; without one, a page reads jobs only and then the
results of its jobs by ``job_id``. ``peer`` matches any address the scan connected to: the
final answer's, and every connection of its egress session (a browser's subresources too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from statemachine.states import State
from worker.store.database import Database
from worker.store.models import JOBS, PEERS, RESULTS, ScanJob, ScanResult

#: Most jobs one page may hold.
MAX_PAGE = 200


@dataclass(frozen=True, kw_only=True)
class ScanFilter:
    """What a search keeps; every field set must match (``None``: any)."""

    state: State | None = None
    verdict: str | None = None
    #: The submitted URL's host, as ``worker.urls.host_key`` spells it.
    host: str | None = None
    #: The final URL's host (after redirects), spelled the same way.
    final_host: str | None = None
    #: An address the scan connected to, compressed (``worker.store.results.peer_address``):
    #: the final answer's or that of any connection of its egress session.
    peer: str | None = None
    #: The SHA-256 of the body, 64 lower-case hex digits.
    sha256: str | None = None
    #: Jobs created at or after this time.
    since: datetime | None = None

    def by_result(self) -> bool:
        """Whether a filter reads the result table."""
        return any(value is not None for value in (self.final_host, self.sha256))

    def as_dict(self) -> dict[str, str | None]:
        """The filter as strings, for binding a cursor to its search."""
        return {
            "state": None if self.state is None else self.state.value,
            "verdict": self.verdict,
            "host": self.host,
            "final_host": self.final_host,
            "peer": self.peer,
            "sha256": self.sha256,
            "since": None if self.since is None else self.since.isoformat(),
        }


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last job's creation time and id."""

    created_at: datetime
    job_id: str


@dataclass(frozen=True, kw_only=True)
class Page:
    """One page of a search: its jobs, newest first, their results, and where the next starts."""

    jobs: list[ScanJob]
    results: dict[str, ScanResult] = field(default_factory=dict)
    #: ``None`` when this page is the last.
    next: Position | None = None


def _conditions(filters: ScanFilter) -> list[Any]:
    conditions: list[Any] = []
    if filters.state is not None:
        conditions.append(JOBS.c.state == filters.state.value)
    if filters.host is not None:
        conditions.append(JOBS.c.host == filters.host)
    if filters.since is not None:
        conditions.append(JOBS.c.created_at >= filters.since)
    if filters.verdict is not None:
        conditions.append(JOBS.c.verdict == filters.verdict)
    if filters.final_host is not None:
        conditions.append(RESULTS.c.final_host == filters.final_host)
    if filters.peer is not None:
        peers = sa.select(PEERS.c.job_id).where(PEERS.c.peer_address == filters.peer)
        conditions.append(JOBS.c.id.in_(peers))
    if filters.sha256 is not None:
        conditions.append(RESULTS.c.sha256 == filters.sha256)
    return conditions


def search_query(
    filters: ScanFilter, *, after: Position | None, limit: int
) -> sa.Select[tuple[str, datetime]]:
    """The statement of one page: ids and creation times of up to ``limit`` jobs."""
    source: Any = JOBS
    if filters.by_result():
        source = JOBS.join(RESULTS, RESULTS.c.job_id == JOBS.c.id)
    conditions = _conditions(filters)
    if after is not None:
        conditions.append(
            sa.or_(
                JOBS.c.created_at < after.created_at,
                sa.and_(JOBS.c.created_at == after.created_at, JOBS.c.id < after.job_id),
            )
        )
    return (
        sa.select(JOBS.c.id, JOBS.c.created_at)
        .select_from(source)
        .where(*conditions)
        .order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc())
        .limit(limit)
    )


def search_jobs(
    db: Database, *, filters: ScanFilter, after: Position | None = None, limit: int = 50
) -> Page:
    """One page of the jobs ``filters`` keeps, newest first, starting after ``after``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be from 1 to {MAX_PAGE}")
    with db.read() as session:
        connection = session.connection()
        rows = connection.execute(search_query(filters, after=after, limit=limit + 1)).all()
        more = len(rows) > limit
        ids = [row.id for row in rows[:limit]]
        if not ids:
            return Page(jobs=[])
        found = {
            job.id: job for job in session.exec(select(ScanJob).where(col(ScanJob.id).in_(ids)))
        }
        results = {
            result.job_id: result
            for result in session.exec(select(ScanResult).where(col(ScanResult.job_id).in_(ids)))
        }
    jobs = [found[job_id] for job_id in ids if job_id in found]
    last = rows[limit - 1] if more else None
    return Page(
        jobs=jobs,
        results=results,
        next=None if last is None else Position(created_at=last.created_at, job_id=last.id),
    )
