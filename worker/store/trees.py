"""Reading trees of child scans for people and programs: a job's parent and children, its tree.

A tree is read from its root down, one query per level, following only the children made for
each parent: a child linked to a job that existed (scanned recently, or an ancestor) is shown
but not entered, so a cycle is drawn once and every tree is finite. Depth and breadth are
bounded by what the tree was allowed to make, and again by ``MAX_LEVELS``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from worker.store.database import Database
from worker.store.lineage import ChildRow, Lineage, children_of, lineage_of
from worker.store.models import JOBS

#: Levels read below a root, whatever its rows say (``MAX_SCAN_DEPTH`` is at most 10).
MAX_LEVELS = 10


@dataclass(frozen=True, kw_only=True)
class JobBrief:
    """A job as a tree shows it: id, URL, state (``None`` when the job is gone)."""

    job_id: str
    url: str | None
    state: str | None


@dataclass(frozen=True, kw_only=True)
class Child:
    """One child of a scan: how the scan led to it, and the job."""

    job: JobBrief
    url: str
    via: str
    created: bool


@dataclass(frozen=True, kw_only=True)
class Family:
    """A job's place in its tree: its lineage, its parent, its children."""

    lineage: Lineage | None
    parent: JobBrief | None
    children: list[Child]


@dataclass(kw_only=True)
class TreeNode:
    """A job of a tree and, when it was made for its parent (or is the root), its children."""

    job: JobBrief
    via: str | None = None
    url: str | None = None
    created: bool = True
    children: list[TreeNode] = field(default_factory=list)


def _briefs(connection: Connection, job_ids: Collection[str]) -> dict[str, JobBrief]:
    ids = list(job_ids)
    if not ids:
        return {}
    rows = connection.execute(
        sa.select(JOBS.c.id, JOBS.c.url, JOBS.c.state).where(JOBS.c.id.in_(ids))
    )
    found = {row.id: JobBrief(job_id=row.id, url=row.url, state=row.state) for row in rows}
    return {
        job_id: found.get(job_id, JobBrief(job_id=job_id, url=None, state=None)) for job_id in ids
    }


def _child(row: ChildRow, briefs: dict[str, JobBrief]) -> Child:
    return Child(job=briefs[row.job_id], url=row.url, via=row.via, created=row.created)


def job_family(db: Database, job_id: str) -> Family:
    """The lineage, parent and children of ``job_id`` (empty when it is in no tree)."""
    with db.read() as session:
        connection = session.connection()
        lineage = lineage_of(connection, job_id)
        rows = children_of(connection, [job_id])[job_id]
        wanted = {row.job_id for row in rows}
        if lineage is not None and lineage.parent_id is not None:
            wanted.add(lineage.parent_id)
        briefs = _briefs(connection, wanted)
    parent = None
    if lineage is not None and lineage.parent_id is not None:
        parent = briefs[lineage.parent_id]
    return Family(lineage=lineage, parent=parent, children=[_child(row, briefs) for row in rows])


def root_of(connection: Connection, job_id: str) -> str:
    """The root of ``job_id``'s tree (the job itself when it is in none, or its parent is gone)."""
    current = job_id
    seen = {current}
    for _ in range(MAX_LEVELS):
        lineage = lineage_of(connection, current)
        if lineage is None or lineage.parent_id is None or lineage.parent_id in seen:
            break
        if not _briefs(connection, [lineage.parent_id])[lineage.parent_id].state:
            break
        current = lineage.parent_id
        seen.add(current)
    return current


def job_tree(db: Database, job_id: str) -> TreeNode:
    """The whole tree ``job_id`` is in, from its root down."""
    with db.read() as session:
        connection = session.connection()
        root_id = root_of(connection, job_id)
        root = TreeNode(job=_briefs(connection, [root_id])[root_id])
        level = [root]
        for _ in range(MAX_LEVELS):
            expand = {node.job.job_id: node for node in level if node.created}
            if not expand:
                break
            rows = children_of(connection, expand)
            briefs = _briefs(connection, {row.job_id for found in rows.values() for row in found})
            level = []
            for parent_id, found in rows.items():
                for row in found:
                    node = TreeNode(
                        job=briefs[row.job_id], via=row.via, url=row.url, created=row.created
                    )
                    expand[parent_id].children.append(node)
                    level.append(node)
    return root
