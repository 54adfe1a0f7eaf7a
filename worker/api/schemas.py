"""The bodies the API takes and gives, as pydantic models: they check what comes in and
describe, in the OpenAPI document, what goes out (job documents are built by
``worker.documents``, the same ones ``scanbox status --json`` prints)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

#: Most URLs one submission may carry.
MAX_BATCH = 1000


class ScanItem(BaseModel):
    """One URL of a batch, with the callback and request id its producer asks for with it."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The URL to scan (http or https).")
    callback_url: str | None = Field(
        default=None,
        description="POST this job's terminal state here, signed [default: the batch's "
        "callback_url, else WEBHOOK_URL].",
    )
    request_id: str | None = Field(
        default=None,
        description="Idempotency key: submitted again, it returns the job it made the first "
        "time and stores nothing.",
    )


def _entry_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "url"
    if isinstance(value, dict | ScanItem):
        return "item"
    return None


#: An item of a batch: a URL, or an object with one.
BatchEntry = Annotated[
    Annotated[str, Tag("url")] | Annotated[ScanItem, Tag("item")],
    Discriminator(
        _entry_kind,
        custom_error_type="invalid_entry",
        custom_error_message="Input should be a URL or an object with url",
    ),
]


class ScanRequest(BaseModel):
    """One URL (``url``) or a batch (``urls``) to scan."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="One URL to scan (http or https).")
    urls: list[BatchEntry] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BATCH,
        description="A batch: URLs, or objects that give a URL its own callback_url and "
        "request_id.",
    )
    priority: str = Field(default="normal", description="Queue priority: high, normal or low.")
    mode: str = Field(
        default="http",
        max_length=16,
        description="How to scan: http (the fetcher) or browser (Chromium, with a screenshot, "
        "every request and the HAR as artifacts).",
    )
    force: bool = Field(
        default=False,
        description="A new job even if the URL was submitted within DEDUP_WINDOW_MS.",
    )
    callback_url: str | None = Field(
        default=None,
        description="POST each job's terminal state here, signed [default: WEBHOOK_URL]. It "
        "obeys the scans' address rules (FETCHER_ALLOW_NETWORKS, FETCHER_ALLOWED_PORTS).",
    )
    request_id: str | None = Field(
        default=None,
        description="With url: idempotency key (1 to 200 printable ASCII characters, no "
        "spaces); submitted again, it returns the job it made the first time and stores "
        "nothing. For a batch, give each item its own.",
    )
    depth: int = Field(
        default=0,
        strict=True,
        description="Levels of child scans: each completed scan scans the hosts its page led "
        "to (at most MAX_SCAN_DEPTH).",
    )
    max_children: int | None = Field(
        default=None,
        strict=True,
        description="Child scans per scan with depth [default: CHILD_SCANS_DEFAULT; at most "
        "CHILD_SCANS_MAX].",
    )


class SubmittedScan(BaseModel):
    """A submitted URL and the job that scans it."""

    id: str
    url: str
    state: str
    #: The job already existed: the same URL within the deduplication window, or the same
    #: request id.
    duplicate: bool
    #: The request id was submitted before: its first job, and nothing was stored now.
    repeated: bool
    request_id: str | None


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
    request_ids: list[str] = Field(
        description="The request ids of the submissions the job was made by or folded into, "
        "oldest first."
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
