"""Reading jobs, results and audit trails for people and programs."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import col, select

from statemachine.states import TERMINAL, State
from worker.errors import UnknownJob, UsageError
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob, ScanResult

#: How often ``wait_for_terminal`` looks at the database.
WAIT_POLL_S = 0.1


def get_job(db: Database, job_id: str) -> ScanJob:
    """The job ``job_id``, or ``UnknownJob``."""
    return db.get(ScanJob, job_id, missing=UnknownJob)


def get_result(db: Database, job_id: str) -> ScanResult | None:
    """The result of ``job_id``, if it has one."""
    with db.read() as session:
        return session.exec(select(ScanResult).where(ScanResult.job_id == job_id)).first()


def get_job_and_result(db: Database, job_id: str) -> tuple[ScanJob, ScanResult | None]:
    """The job ``job_id`` and its result, read in one transaction; ``UnknownJob`` if none."""
    with db.read() as session:
        job = session.get(ScanJob, job_id)
        if job is None:
            raise UnknownJob(job_id)
        result = session.exec(select(ScanResult).where(ScanResult.job_id == job_id)).first()
    return job, result


def get_previous_result(db: Database, result: ScanResult | None) -> ScanResult | None:
    """The result a not-modified ``result`` points to, if it still exists."""
    if result is None or result.previous_result_id is None:
        return None
    with db.read() as session:
        return session.get(ScanResult, result.previous_result_id)


def get_audit(db: Database, job_id: str) -> list[AuditLog]:
    """Every transition of ``job_id``, oldest first."""
    with db.read() as session:
        rows = session.exec(
            select(AuditLog).where(AuditLog.job_id == job_id).order_by(col(AuditLog.id))
        )
        return list(rows)


def list_jobs(db: Database, *, state: str | None = None, limit: int = 50) -> list[ScanJob]:
    """The newest jobs, optionally only those in ``state``."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    query = select(ScanJob)
    if state is not None:
        try:
            query = query.where(ScanJob.state == State(state.upper()).value)
        except ValueError:
            names = ", ".join(member.value for member in State)
            raise UsageError(f"unknown state {state!r} (use one of {names})") from None
    query = query.order_by(col(ScanJob.created_at).desc(), col(ScanJob.id)).limit(limit)
    with db.read() as session:
        return list(session.exec(query))


def count_by_state(db: Database) -> dict[str, int]:
    """How many jobs are in each state."""
    with db.read() as session:
        rows = session.exec(select(ScanJob.state, func.count()).group_by(ScanJob.state))
        counts = {str(state): int(count) for state, count in rows}
    return {member.value: counts.get(member.value, 0) for member in State}


def wait_for_terminal(
    db: Database, job_ids: Sequence[str], *, timeout_s: float
) -> dict[str, ScanJob]:
    """Poll until every job is terminal or ``timeout_s`` passes; return the jobs as last seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        with db.read() as session:
            jobs = {
                job.id: job
                for job in session.exec(select(ScanJob).where(col(ScanJob.id).in_(job_ids)))
            }
        if all(State(job.state) in TERMINAL for job in jobs.values()):
            return jobs
        if time.monotonic() >= deadline:
            return jobs
        time.sleep(WAIT_POLL_S)
