"""Claiming a queued job for one attempt: QUEUED -> FETCHING under the optimistic lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.tables import BROWSER_MODE
from statemachine.transitions import transition
from worker.containers.spec import Limits
from worker.store.database import Database
from worker.store.jobs import DueJob, due_job


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A job this worker now owns for one attempt, at ``version``."""

    job_id: str
    url: str
    attempt: int
    max_attempts: int
    priority: str
    version: int
    #: ``http`` (the fetcher) or ``browser``.
    mode: str = "http"

    @classmethod
    def of(cls, job: DueJob, *, attempt: int, version: int) -> Claim:
        """The claim on ``job``'s attempt number ``attempt``, its row at ``version``."""
        return cls(
            job_id=job.job_id,
            url=job.url,
            attempt=attempt,
            max_attempts=job.max_attempts,
            priority=job.priority,
            version=version,
            mode=job.mode,
        )


def claim_job(
    db: Database,
    *,
    job_id: str,
    worker_id: str,
    limits: Limits,
    lease: timedelta,
    now: datetime,
    browser_limits: Limits | None = None,
) -> Claim | None:
    """Claim ``job_id`` for this worker, or return ``None`` if it is not ours to run.

    "Not ours" is a normal outcome: another replica claimed it first, it is already finished,
    or its retry backoff has not passed yet. The job's row records the limits its attempt runs
    under: ``browser_limits`` for a browser scan (``limits`` if ``None``).
    """

    def claim(connection: Connection) -> Claim | None:
        row = due_job(connection, job_id, now=now)
        if row is None:
            return None
        attempt = row.attempts + 1
        ran = browser_limits if row.mode == BROWSER_MODE and browser_limits else limits
        version = transition(
            connection,
            job_id=job_id,
            source=State.QUEUED,
            target=State.FETCHING,
            version=row.version,
            actor=worker_id,
            now=now,
            changes={
                "attempts": attempt,
                "worker_id": worker_id,
                "started_at": now,
                "lease_expires_at": now + lease,
                "available_at": None,
                "container_id": None,
                "exit_code": None,
                "oom_killed": None,
                "error_code": None,
                "error_message": None,
                "timeout_ms": ran.timeout_ms,
                "memory_limit_mb": ran.memory_limit_mb,
                "cpu_limit": ran.cpu_limit,
                "pids_limit": ran.pids_limit,
            },
            detail={"attempt": attempt},
        )
        if version is None:
            return None
        return Claim.of(row, attempt=attempt, version=version)

    return db.run_write(claim)
