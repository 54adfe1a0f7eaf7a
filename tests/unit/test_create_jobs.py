"""Creating many jobs in one write: the same rows and audit rows as one at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from statemachine.states import State
from statemachine.transitions import NewJob, create_jobs
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob

pytestmark = pytest.mark.backends

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_a_batch_makes_queued_jobs_each_with_its_audit_row(db: Database) -> None:
    jobs = [
        NewJob(job_id=f"{index:032x}", url=f"http://127.0.0.1/{index}", url_key=f"k{index}")
        for index in range(5)
    ]
    db.run_write(
        lambda connection: create_jobs(
            connection, jobs=jobs, priority="high", max_attempts=4, actor="submit", now=NOW
        )
    )
    with db.read() as session:
        rows = list(session.exec(select(ScanJob).order_by(col(ScanJob.id))))
        audit = list(session.exec(select(AuditLog).order_by(col(AuditLog.job_id))))
    assert [(row.id, row.url, row.url_key) for row in rows] == [
        (job.job_id, job.url, job.url_key) for job in jobs
    ]
    for row in rows:
        assert (row.state, row.version, row.attempts, row.max_attempts, row.priority) == (
            State.QUEUED,
            1,
            0,
            4,
            "high",
        )
        assert row.created_at == row.updated_at == NOW
    assert [(entry.job_id, entry.from_state, entry.to_state, entry.version) for entry in audit] == [
        (job.job_id, None, "QUEUED", 1) for job in jobs
    ]
    assert {(entry.actor, entry.at, entry.detail) for entry in audit} == {("submit", NOW, None)}


def test_an_empty_batch_writes_nothing(db: Database) -> None:
    db.run_write(
        lambda connection: create_jobs(
            connection, jobs=[], priority="normal", max_attempts=3, actor="submit", now=NOW
        )
    )
    with db.read() as session:
        assert list(session.exec(select(ScanJob))) == []
        assert list(session.exec(select(AuditLog))) == []
