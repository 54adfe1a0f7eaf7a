"""The tables the state machine writes: scan jobs and the audit trail of their transitions.

Every other table is the worker's (``worker.store``); these two are here so that the write path
(``statemachine.transitions``) needs nothing outside this package. ``table_of`` gives the typed
SQLAlchemy ``Table`` of a SQLModel class, once per table, for statements built by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import JSON, Column, Field, SQLModel

from statemachine.states import State


def table_of(model: type[SQLModel]) -> sa.Table:
    """The ``Table`` behind a SQLModel table class (SQLModel leaves its type unknown)."""
    table = model.__table__  # type: ignore[attr-defined]
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


#: How a job's URL is scanned: by the fetcher (one HTTP client) or in Chromium.
HTTP_MODE = "http"
BROWSER_MODE = "browser"
MODES = (HTTP_MODE, BROWSER_MODE)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back timezone-aware, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; scanbox stores UTC-aware times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def timestamp(*, nullable: bool = True, index: bool = False) -> Any:
    """A UTC timestamp column (``UTCDateTime``) for a SQLModel field."""
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class ScanJob(SQLModel, table=True):
    """One URL to scan, and where its scan is. Written only through ``statemachine``."""

    __tablename__ = "scan_jobs"
    __table_args__ = (
        # With the id last, a page of one state (or host, or verdict) is read in order from
        # the index alone, however rare the state is.
        sa.Index("ix_scan_jobs_state_created", "state", "created_at", "id"),
        sa.Index("ix_scan_jobs_url_key_created", "url_key", "created_at"),
        # Newest first, for listing and searching every job (the keyset of a page).
        sa.Index("ix_scan_jobs_created_id", "created_at", "id"),
        sa.Index("ix_scan_jobs_host_created", "host", "created_at", "id"),
        sa.Index("ix_scan_jobs_verdict_created_id", "verdict", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    url: str
    #: The normalised URL (``worker.urls.normalise_url``): what deduplication matches on.
    url_key: str | None = None
    state: State = Field(sa_column=Column(sa.String(16), nullable=False))
    #: Bumped by every write; the optimistic lock every transition checks.
    version: int = 1
    #: Attempts claimed so far (the current one included).
    attempts: int = 0
    max_attempts: int = 3
    priority: str = Field(default="normal", max_length=8)
    created_at: datetime = timestamp(nullable=False)
    updated_at: datetime = timestamp(nullable=False)
    #: When the current attempt was claimed.
    started_at: datetime | None = timestamp()
    #: When the job reached its terminal state.
    finished_at: datetime | None = timestamp()
    #: Not to be claimed before this time (retry backoff).
    available_at: datetime | None = timestamp()
    #: A claim whose lease has passed belongs to a worker that is gone.
    lease_expires_at: datetime | None = timestamp()
    worker_id: str | None = None
    container_id: str | None = None
    exit_code: int | None = None
    oom_killed: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: The limits the latest attempt ran under.
    timeout_ms: int | None = None
    memory_limit_mb: int | None = None
    cpu_limit: float | None = None
    pids_limit: int | None = None
    #: The URL's host as per-host limits spell it (``worker.urls.url_host``): what a search by
    #: host matches on.
    host: str | None = None
    #: The verdict of the job's result, set with its COMPLETED move: what a search by verdict
    #: matches on (the result row holds it too).
    verdict: str | None = Field(default=None, max_length=16)
    #: How the job's URL is scanned: ``http`` (the fetcher) or ``browser`` (Chromium).
    mode: str = Field(default="http", max_length=8, sa_column_kwargs={"server_default": "http"})


class AuditLog(SQLModel, table=True):
    """One row per state transition: who moved which job from where to where, and when."""

    __tablename__ = "audit_logs"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(index=True, max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    #: The job's version after this transition.
    version: int
    actor: str
    at: datetime = timestamp(nullable=False)
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


#: The ``scan_jobs`` table, for statements built by hand.
JOBS = table_of(ScanJob)
#: The ``audit_logs`` table.
AUDIT = table_of(AuditLog)
