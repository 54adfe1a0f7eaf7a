"""The trees of child scans in the database: lineage rows, the children of a scan, ancestry.

A job belongs to a tree when it has a ``scan_lineage`` row: the job submitted with
``--depth`` (its root, at depth 0, without a parent) and every child job made for a scan of
it. What each completed scan of a tree led to is a ``scan_children`` row per child, in the
order the scan found them; a child that existed already (scanned recently, or an ancestor) is
such a row too, marked as not ``created``. Every write here runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from worker.store.models import CHILDREN, JOBS, LINEAGE
from worker.store.rows import insert_records

#: Job ids looked up per query (well under every backend's limit on bound parameters).
LOOKUP_CHUNK = 500


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """A job's place in its tree (its fields are the columns of its ``scan_lineage`` row)."""

    job_id: str
    parent_id: str | None
    depth: int
    max_depth: int
    max_children: int

    @property
    def levels_left(self) -> int:
        """Levels of children still allowed below this job."""
        return max(self.max_depth - self.depth, 0)


@dataclass(frozen=True, kw_only=True)
class ChildRow:
    """One child of a scan as stored: the job, the URL that led to it, and how (its fields
    are the columns of its ``scan_children`` row)."""

    parent_id: str
    job_id: str
    url: str
    via: str
    created: bool
    position: int


def _lineage(row: Any) -> Lineage:
    return Lineage(
        job_id=row[0], parent_id=row[1], depth=row[2], max_depth=row[3], max_children=row[4]
    )


_LINEAGE_COLUMNS = (
    LINEAGE.c.job_id,
    LINEAGE.c.parent_id,
    LINEAGE.c.depth,
    LINEAGE.c.max_depth,
    LINEAGE.c.max_children,
)


def insert_lineage(connection: Connection, rows: Sequence[Lineage], *, now: datetime) -> None:
    """Store the lineage of new jobs."""
    insert_records(connection, LINEAGE, rows, now=now)


def insert_children(connection: Connection, rows: Sequence[ChildRow], *, now: datetime) -> None:
    """Store what a scan led to."""
    insert_records(connection, CHILDREN, rows, now=now)


def lineages(connection: Connection, job_ids: Collection[str]) -> dict[str, Lineage]:
    """The lineage of each of ``job_ids`` that has one."""
    ids = sorted(job_ids)
    found: dict[str, Lineage] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = connection.execute(
            sa.select(*_LINEAGE_COLUMNS).where(
                LINEAGE.c.job_id.in_(ids[start : start + LOOKUP_CHUNK])
            )
        )
        for row in rows:
            found[row[0]] = _lineage(row)
    return found


def lineage_of(connection: Connection, job_id: str) -> Lineage | None:
    """The lineage of ``job_id``, or ``None`` when it is in no tree."""
    return lineages(connection, [job_id]).get(job_id)


def lineage_keys(connection: Connection, lineage: Lineage) -> dict[str, str | None]:
    """The URL key of ``lineage``'s job and of each of its ancestors, by job id, nearest first.

    The walk takes at most ``depth`` steps up, and stops at a parent that is gone.
    """
    found: dict[str, str | None] = {}
    job_id: str | None = lineage.job_id
    for _ in range(lineage.depth + 1):
        if job_id is None or job_id in found:
            break
        row = connection.execute(
            sa.select(JOBS.c.url_key, LINEAGE.c.parent_id)
            .select_from(JOBS.outerjoin(LINEAGE, LINEAGE.c.job_id == JOBS.c.id))
            .where(JOBS.c.id == job_id)
        ).first()
        if row is None:
            break
        found[job_id] = row[0]
        job_id = row[1]
    return found


def children_of(connection: Connection, parent_ids: Iterable[str]) -> dict[str, list[ChildRow]]:
    """The children of each of ``parent_ids``, in the order their scan found them."""
    ids = sorted(set(parent_ids))
    found: dict[str, list[ChildRow]] = {parent: [] for parent in ids}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = connection.execute(
            sa.select(
                CHILDREN.c.parent_id,
                CHILDREN.c.job_id,
                CHILDREN.c.url,
                CHILDREN.c.via,
                CHILDREN.c.created,
                CHILDREN.c.position,
            )
            .where(CHILDREN.c.parent_id.in_(ids[start : start + LOOKUP_CHUNK]))
            .order_by(CHILDREN.c.parent_id, CHILDREN.c.position)
        )
        for row in rows:
            found[row.parent_id].append(
                ChildRow(
                    parent_id=row.parent_id,
                    job_id=row.job_id,
                    url=row.url,
                    via=row.via,
                    created=bool(row.created),
                    position=row.position,
                )
            )
    return found


def forget(connection: Connection, job_ids: Collection[str]) -> tuple[int, int]:
    """Delete the lineage of ``job_ids`` and the child rows they are in; return both counts.

    For retention: a child whose parent is deleted keeps its own lineage row, which then
    names a parent that is gone.
    """
    ids = list(job_ids)
    if not ids:
        return 0, 0
    children = connection.execute(
        sa.delete(CHILDREN).where(sa.or_(CHILDREN.c.parent_id.in_(ids), CHILDREN.c.job_id.in_(ids)))
    )
    lineage = connection.execute(sa.delete(LINEAGE).where(LINEAGE.c.job_id.in_(ids)))
    return int(lineage.rowcount), int(children.rowcount)
