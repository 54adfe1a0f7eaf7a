"""What a completion webhook says: the job's terminal state, its verdict and a result summary.

The body follows the Standard Webhooks payload shape, ``{"type", "timestamp", "data"}``::

    {"type": "scan.completed", "timestamp": "2026-12-03T10:00:05.120000Z",
     "data": {"job_id": "…", "request_id": "…", "url": "…", "state": "COMPLETED",
              "attempts": 1, "created_at": "…", "finished_at": "…", "error": null,
              "result": {"verdict": "benign", "score": 0, "reasons": […], "status_code": 200,
                         "final_url": "…", "title": "…", "content_type": "text/html",
                         "size": 5120, "sha256": "…", "fetch_error": null,
                         "not_modified": false}}}

``result`` is ``null`` for a job that ended without one (FAILED, TIMED_OUT, DISCARDED), and
``error`` then names why. Everything under ``data`` came from a scanned page or a producer:
receivers treat it as data. The body is written once, with the delivery, and every attempt
sends (and signs) exactly those bytes.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from worker.store.models import JOBS, RESULTS

#: The event type of each terminal state.
EVENTS: dict[State, str] = {
    State.COMPLETED: "scan.completed",
    State.FAILED: "scan.failed",
    State.TIMED_OUT: "scan.timed_out",
    State.DISCARDED: "scan.discarded",
}


def iso(value: datetime | None) -> str | None:
    """A UTC time as RFC 3339 with a ``Z``."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _finite(value: Any) -> Any:
    """``value`` with non-finite numbers (which JSON can't carry) as ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def job_summary(connection: Connection, job_id: str) -> tuple[State, dict[str, Any]]:
    """The terminal state of ``job_id`` and what a webhook says about it (``data``)."""
    job = connection.execute(
        sa.select(
            JOBS.c.id,
            JOBS.c.url,
            JOBS.c.state,
            JOBS.c.attempts,
            JOBS.c.created_at,
            JOBS.c.finished_at,
            JOBS.c.error_code,
            JOBS.c.error_message,
        ).where(JOBS.c.id == job_id)
    ).one()
    result = connection.execute(
        sa.select(
            RESULTS.c.verdict,
            RESULTS.c.score,
            RESULTS.c.reasons,
            RESULTS.c.status_code,
            RESULTS.c.final_url,
            RESULTS.c.title,
            RESULTS.c.content_type,
            RESULTS.c.size,
            RESULTS.c.sha256,
            RESULTS.c.fetch_error,
            RESULTS.c.not_modified,
        ).where(RESULTS.c.job_id == job_id)
    ).one_or_none()
    data: dict[str, Any] = {
        "job_id": job.id,
        "url": job.url,
        "state": job.state,
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
        "error": None
        if job.error_code is None
        else {"code": job.error_code, "message": job.error_message},
        "result": None if result is None else _finite(dict(result._mapping)),
    }
    return State(job.state), data


def event_body(
    *, state: State, data: dict[str, Any], request_id: str | None, now: datetime
) -> tuple[str, str]:
    """The event type and the JSON body of one webhook about a job in ``state``."""
    event = EVENTS[state]
    payload = {
        "type": event,
        "timestamp": iso(now),
        "data": {**data, "request_id": request_id},
    }
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return event, body
