"""The worker's tables: results and the addresses each scan connected to, URL validators,
run records and the trees of child scans.

The job and audit tables belong to the state machine (``statemachine.tables``), the
schedules' to :mod:`worker.store.schedule_tables`, the producers' to
:mod:`worker.store.producer_tables`; all are re-exported here, so that one import names every
table scanbox has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from statemachine.tables import AUDIT, JOBS, AuditLog, ScanJob, UTCDateTime, table_of, timestamp
from worker.store.producer_tables import (
    API_KEYS,
    DELIVERIES,
    REQUESTS,
    ApiKey,
    SubmitRequest,
    WebhookDelivery,
)
from worker.store.schedule_tables import SCHEDULES, TICKS, Schedule, ScheduleTick


class ScanResult(SQLModel, table=True):
    """What a completed scan found: the validated fetcher report and the verdict on it."""

    __tablename__ = "scan_results"
    __table_args__ = (
        # The searches by result (``worker.store.search``).
        sa.Index("ix_scan_results_final_host", "final_host"),
        sa.Index("ix_scan_results_sha256", "sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Unique: a job has at most one result, whatever retries or races happen.
    job_id: str = Field(foreign_key="scan_jobs.id", unique=True, max_length=32)
    attempt: int
    created_at: datetime = timestamp(nullable=False)
    status_code: int | None = None
    final_url: str | None = None
    title: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    fetch_error: str | None = None
    verdict: str = Field(max_length=16)
    score: int = 0
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    #: The fetcher's report as validated, for everything the columns above don't carry.
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    duration_ms: float | None = None
    #: The target answered 304 to a conditional re-scan: the content is that of the result
    #: ``previous_result_id``, whose verdict this row repeats; nothing else is copied.
    not_modified: bool = False
    previous_result_id: int | None = None
    #: The host of ``final_url`` as ``worker.urls.url_host`` spells it, for searches.
    final_host: str | None = None
    #: The address the final answer came from (``report.peer``), in its compressed form (the
    #: search by peer reads ``scan_peers``, which lists it with the scan's other addresses).
    peer_address: str | None = Field(default=None, max_length=64)
    #: What each connection of the scan's egress session did, as the proxy recorded it
    #: (``None``: the fetcher had a network of its own).
    egress: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    #: A browser scan's artifacts (screenshot, DOM, HAR, favicon): name, media type, size and
    #: sha256 each, the key of its bytes in the artifact store (``ARTIFACT_DIR``).
    artifacts: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))


class ScanPeer(SQLModel, table=True):
    """One address a completed scan connected to: the final answer's, and each connection
    its egress session made (a browser's subresources too), for the search by peer."""

    __tablename__ = "scan_peers"

    #: Compressed, as ``worker.store.results.peer_address`` spells it; first in the key, so
    #: that a search by address reads the key's index.
    peer_address: str = Field(primary_key=True, max_length=64)
    #: Indexed for retention, which deletes a job's rows by its id.
    job_id: str = Field(primary_key=True, index=True, max_length=32)


class UrlValidators(SQLModel, table=True):
    """What a URL's last full answer said to ask next time: its ETag and Last-Modified."""

    __tablename__ = "url_validators"

    #: The normalised URL.
    url_key: str = Field(primary_key=True)
    etag: str | None = None
    last_modified: str | None = None
    #: The result holding the content these validators stand for; a 304 points to it.
    result_id: int
    job_id: str = Field(max_length=32)
    updated_at: datetime = timestamp(nullable=False)


class RunRecord(SQLModel, table=True):
    """One run of a worker process, a scheduler or maintenance: what it did, and when."""

    __tablename__ = "runs"
    __table_args__ = (sa.Index("ix_runs_started", "started_at"),)

    id: str = Field(primary_key=True, max_length=32)
    #: ``worker``, ``scheduler`` or ``maintenance``.
    kind: str = Field(max_length=16)
    #: The process's name (worker id, scheduler replica).
    name: str
    #: Runs started together (the processes of one ``scanbox worker``) share a group.
    group_id: str | None = Field(default=None, index=True, max_length=32)
    #: ``running``, ``finished`` or ``crashed`` (the process ended on an unexpected error).
    status: str = Field(default="running", max_length=16)
    started_at: datetime = timestamp(nullable=False)
    #: When the counts were last written (the run writes them every few seconds).
    updated_at: datetime = timestamp(nullable=False)
    finished_at: datetime | None = timestamp()
    #: Jobs (or ticks) this run took on, and how each ended.
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    #: Time spent on jobs (or ticks), summed.
    busy_ms: float = 0.0
    #: A drain's limit: the most jobs the run's group may process (``--max-jobs``).
    job_limit: int | None = None
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class ScanLineage(SQLModel, table=True):
    """Where a job stands in a tree of child scans: its parent, its depth, how far it may go.

    Only jobs of a tree have a row: one submitted with ``--depth`` above 0 (its root, without
    a parent), and every child job made for a scan of the tree.
    """

    __tablename__ = "scan_lineage"

    job_id: str = Field(primary_key=True, max_length=32)
    #: The job whose scan made this one; ``None`` for the job submitted with ``--depth``.
    parent_id: str | None = Field(default=None, index=True, max_length=32)
    #: Levels below the submitted job (which is at 0).
    depth: int = 0
    #: The deepest level of the tree: a job at this depth makes no children.
    max_depth: int = 0
    #: Most children each scan of the tree makes (new jobs and links to existing ones).
    max_children: int = 0
    created_at: datetime = timestamp(nullable=False)


class ScanChild(SQLModel, table=True):
    """One thing a completed scan led to, and the job that scans it.

    The job was made for this parent (``created``), or it existed already and is linked
    instead: scanned within the deduplication window, or an ancestor of the parent.
    """

    __tablename__ = "scan_children"

    parent_id: str = Field(primary_key=True, max_length=32)
    job_id: str = Field(primary_key=True, index=True, max_length=32)
    #: The URL the parent's scan led to.
    url: str
    #: What led there: ``redirect``, ``form`` or ``link``.
    via: str = Field(max_length=16)
    #: Whether ``job_id`` was made for this parent (else it is a link to a job that existed).
    created: bool
    #: Order among the parent's children, from 0.
    position: int
    created_at: datetime = timestamp(nullable=False)


#: Typed tables, for statements built by hand.
RESULTS = table_of(ScanResult)
PEERS = table_of(ScanPeer)
VALIDATORS = table_of(UrlValidators)
RUNS = table_of(RunRecord)
LINEAGE = table_of(ScanLineage)
CHILDREN = table_of(ScanChild)

__all__ = [
    "API_KEYS",
    "AUDIT",
    "CHILDREN",
    "DELIVERIES",
    "JOBS",
    "LINEAGE",
    "PEERS",
    "REQUESTS",
    "RESULTS",
    "RUNS",
    "SCHEDULES",
    "TICKS",
    "VALIDATORS",
    "ApiKey",
    "AuditLog",
    "RunRecord",
    "ScanChild",
    "ScanJob",
    "ScanLineage",
    "ScanPeer",
    "ScanResult",
    "Schedule",
    "ScheduleTick",
    "SubmitRequest",
    "UTCDateTime",
    "UrlValidators",
    "WebhookDelivery",
]
