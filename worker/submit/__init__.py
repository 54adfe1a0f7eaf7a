"""Submitting URLs for scanning: validate, deduplicate, store QUEUED rows, wake the workers.

Producers in Python call :func:`submit_urls` (or :func:`submit_batch` for the details of each
submission); both are re-exported here from :mod:`worker.submit.batch`.
"""

from worker.submit.batch import Submission, new_job_id, submit_batch, submit_urls

__all__ = ["Submission", "new_job_id", "submit_batch", "submit_urls"]
