"""Submitting URLs for scanning: validate, deduplicate, store QUEUED rows, wake the workers.

Producers in Python call :func:`submit_urls` (or :func:`submit_batch` for the details of each
submission, :func:`submit_requests` for a request id or callback URL per URL); they are
re-exported here from :mod:`worker.submit.batch`. Producers in any language add entries to
the submit stream, which workers turn into jobs (:mod:`worker.submit.intake`).
"""

from worker.submit.batch import (
    Request,
    Submission,
    new_job_id,
    submit_batch,
    submit_requests,
    submit_urls,
)
from worker.submit.preview import Preview, preview_requests

__all__ = [
    "Preview",
    "Request",
    "Submission",
    "new_job_id",
    "preview_requests",
    "submit_batch",
    "submit_requests",
    "submit_urls",
]
