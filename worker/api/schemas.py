"""The bodies the API takes and gives, as pydantic models: they check what comes in and
describe, in the OpenAPI document, what goes out (job documents are built by
``worker.documents``, the same ones ``scanbox status --json`` prints)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Most URLs one submission may carry.
MAX_BATCH = 1000


class ScanRequest(BaseModel):
    """One URL (``url``) or a batch (``urls``) to scan."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="One URL to scan (http or https).")
    urls: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_BATCH, description="A batch of URLs."
    )
    priority: str = Field(default="normal", description="Queue priority: high, normal or low.")
    mode: str = Field(default="http", description="How to scan: http.")
    force: bool = Field(
        default=False,
        description="A new job even if the URL was submitted within DEDUP_WINDOW_MS.",
    )


class SubmittedScan(BaseModel):
    """A submitted URL and the job that scans it."""

    id: str
    url: str
    state: str
    #: The job already existed: the same URL within the deduplication window.
    duplicate: bool


class SubmitResponse(BaseModel):
    """The jobs of a submission, in the order of its URLs."""

    scans: list[SubmittedScan]


class ErrorDocument(BaseModel):
    """Why a job failed."""

    code: str
    message: str | None


class Limits(BaseModel):
    """The container limits of the job's latest attempt."""

    timeout_ms: int | None
    memory_limit_mb: int | None
    cpu_limit: float | None
    pids_limit: int | None


class JobDocument(BaseModel):
    """A scan job, as ``scanbox status --json`` prints it."""

    id: str
    url: str
    state: str
    version: int
    attempts: int
    max_attempts: int
    priority: str
    created_at: str | None
    updated_at: str | None
    started_at: str | None
    finished_at: str | None
    worker_id: str | None
    container_id: str | None
    exit_code: int | None
    oom_killed: bool | None
    error: ErrorDocument | None
    limits: Limits
    result: dict[str, Any] | None = Field(
        description="The result (verdict, score, reasons, final URL, …), null until there is one."
    )


class SearchPage(BaseModel):
    """One page of a search, newest first."""

    items: list[JobDocument]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last.")
    limit: int


class AuditEntry(BaseModel):
    """One state transition."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str
    version: int
    actor: str
    at: str | None
    detail: dict[str, Any] | None


class AuditDocument(BaseModel):
    """A job's audit trail, oldest first."""

    id: str
    audit: list[AuditEntry]


class ArtifactEntry(BaseModel):
    """One artifact of a scan."""

    name: str
    media_type: str
    size: int
    href: str


class ArtifactList(BaseModel):
    """A scan's artifacts."""

    id: str
    artifacts: list[ArtifactEntry]


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
