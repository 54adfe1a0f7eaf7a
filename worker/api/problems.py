"""Problem documents (RFC 9457): every 4xx and 5xx answer of the API, as
``application/problem+json``.

A problem has a ``type`` (a relative URI under ``/problems/``, whose page says what it means),
a ``title`` that is the same for every problem of its type, the HTTP ``status``, a ``detail``
about this occurrence (for input errors, the CLI's own one-line message) and the ``instance``
(the request's path). Errors of scanbox's own become problems here (``problem_for``), each in
one place; nothing else in the API turns an exception into an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.errors import (
    DatabaseBusy,
    QueueFull,
    ScanboxError,
    SchemaMismatch,
    UnknownJob,
    UsageError,
)

#: The media type of every problem answer.
PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Where the pages of the problem types are.
PROBLEM_BASE = "/problems/"
#: Seconds a client is told to wait when the queue is full.
QUEUE_FULL_RETRY_S = 30
#: Seconds a client is told to wait when the database or Redis did not answer.
UNAVAILABLE_RETRY_S = 5


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: its status, its title, and what it means."""

    status: int
    title: str
    description: str


#: Every problem type the API answers with, by the last part of its ``type``.
PROBLEM_TYPES: dict[str, ProblemType] = {
    "invalid-request": ProblemType(
        422, "The request is not valid", "A field is missing, has the wrong type, or is unknown."
    ),
    "invalid-submission": ProblemType(
        422,
        "The submission is not valid",
        "A URL, priority, mode, callback URL, request id, depth or max_children that scanbox "
        "won't accept (the CLI refuses it the same way); nothing of the submission was stored.",
    ),
    "invalid-cursor": ProblemType(
        400,
        "The cursor is not valid",
        "A cursor that this API did not make, was changed, belongs to another search, or was "
        "made by an API process with another API_SECRET. Start again from the first page.",
    ),
    "unauthenticated": ProblemType(
        401,
        "An API key is needed",
        "No key, or one that is malformed, unknown or revoked. Send "
        "'Authorization: Bearer sbx_…' (scanbox apikey create).",
    ),
    "forbidden": ProblemType(
        403, "The key's scope does not allow this", "Use a key of a wider scope."
    ),
    "unknown-scan": ProblemType(404, "No such scan", "No scan job has this id."),
    "unknown-artifact": ProblemType(
        404, "No such artifact", "The scan has no artifact of this name (yet)."
    ),
    "not-found": ProblemType(404, "Not found", "Nothing is served at this path."),
    "method-not-allowed": ProblemType(
        405, "Method not allowed", "This path does not answer this method."
    ),
    "too-large": ProblemType(413, "The request is too large", "The body is over the limit."),
    "unsupported-media-type": ProblemType(
        415, "Unsupported media type", "Send the body as application/json."
    ),
    "rate-limited": ProblemType(
        429,
        "Too many requests",
        "The key used up its requests for this window (API_RATE_LIMIT per API_RATE_WINDOW_MS); "
        "Retry-After says when the next one is taken.",
    ),
    "forbidden-origin": ProblemType(
        403, "The form came from another site", "Forms are only taken from scanbox's own pages."
    ),
    "queue-full": ProblemType(
        503,
        "The queue is full",
        "MAX_QUEUED_JOBS jobs are waiting; nothing of the submission was stored. Try again "
        "after Retry-After.",
    ),
    "unavailable": ProblemType(
        503, "A service did not answer", "The database or Redis did not answer in time."
    ),
    "internal-error": ProblemType(
        500, "Internal error", "Something failed inside scanbox; its log has the details."
    ),
}


@dataclass(eq=False)
class Problem(ScanboxError):
    """An answer that is a problem document: raised by the API's own code, answered as is."""

    slug: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)
        if self.slug not in PROBLEM_TYPES:
            raise ValueError(f"unknown problem type {self.slug!r}")

    @property
    def status(self) -> int:
        """The HTTP status of this problem's type."""
        return PROBLEM_TYPES[self.slug].status

    def document(self, *, instance: str) -> dict[str, Any]:
        """The problem as the JSON object of its answer."""
        kind = PROBLEM_TYPES[self.slug]
        return {
            "type": PROBLEM_BASE + self.slug,
            "title": kind.title,
            "status": kind.status,
            "detail": self.detail,
            "instance": instance,
            **self.extra,
        }


def problem_for(error: ScanboxError) -> Problem:
    """The problem an error of scanbox's answers as."""
    if isinstance(error, Problem):
        return error
    if isinstance(error, UnknownJob):
        return Problem("unknown-scan", str(error))
    if isinstance(error, UsageError):
        return Problem("invalid-submission", str(error))
    if isinstance(error, QueueFull):
        return Problem(
            "queue-full",
            str(error),
            headers={"Retry-After": str(QUEUE_FULL_RETRY_S)},
            extra={"queued": error.queued, "limit": error.limit},
        )
    if isinstance(error, DatabaseBusy | SchemaMismatch):
        return Problem("unavailable", str(error), headers={"Retry-After": str(UNAVAILABLE_RETRY_S)})
    return Problem("internal-error", "scanbox failed to answer this request")


def unavailable(what: str) -> Problem:
    """The problem of a service that did not answer."""
    return Problem(
        "unavailable", f"{what} did not answer", headers={"Retry-After": str(UNAVAILABLE_RETRY_S)}
    )
