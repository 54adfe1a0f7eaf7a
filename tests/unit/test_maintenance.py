"""Retention removes only old rows of finished jobs, whole; upkeep; one run per interval."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from statemachine.states import State
from statemachine.transitions import create_job, transition
from tests.clocks import ManualClock
from worker.app.scheduler_process import periodic_maintenance
from worker.errors import DatabaseBusy
from worker.ops.maintenance import (
    MAINTENANCE_KIND,
    Maintenance,
    MaintenanceReport,
    apply_retention,
    upkeep,
)
from worker.store.database import Database
from worker.store.models import (
    RESULTS,
    TICKS,
    VALIDATORS,
    AuditLog,
    RunRecord,
    ScanJob,
    ScanResult,
    ScheduleTick,
)
from worker.telemetry.runs import RunRecorder

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
RETENTION = timedelta(days=30)
OLD = NOW - RETENTION - timedelta(days=1)
RECENT = NOW - RETENTION + timedelta(days=1)


def _job(db: Database, job_id: str, *, created: datetime, final: State | None) -> None:
    """A job created at ``created`` that ends in ``final`` a minute later (with a result if
    COMPLETED), or stays QUEUED."""

    def write(connection: sa.Connection) -> None:
        create_job(
            connection,
            job_id=job_id,
            url="http://127.0.0.1/",
            priority="normal",
            max_attempts=3,
            actor="test",
            now=created,
        )
        if final is None:
            return
        later = created + timedelta(minutes=1)
        version = transition(
            connection,
            job_id=job_id,
            source=State.QUEUED,
            target=State.FETCHING,
            version=1,
            actor="test",
            now=later,
        )
        assert version is not None
        if final is State.COMPLETED:
            version = transition(
                connection,
                job_id=job_id,
                source=State.FETCHING,
                target=State.ANALYZING,
                version=version,
                actor="test",
                now=later,
            )
            assert version is not None
            connection.execute(
                RESULTS.insert().values(
                    job_id=job_id, attempt=1, created_at=later, verdict="benign"
                )
            )
            source = State.ANALYZING
        else:
            source = State.FETCHING
        transition(
            connection,
            job_id=job_id,
            source=source,
            target=final,
            version=version,
            actor="test",
            now=later,
        )

    db.run_write(write)


def _ids(db: Database, model: type[ScanJob] | type[ScanResult] | type[AuditLog]) -> list[str]:
    """The job ids that have rows in ``model``'s table."""
    column = ScanJob.id if model is ScanJob else model.job_id  # type: ignore[union-attr]
    with db.read() as session:
        return sorted(set(session.exec(select(column))))


def test_retention_removes_only_old_rows_of_finished_jobs(db: Database) -> None:
    _job(db, "old-completed", created=OLD, final=State.COMPLETED)
    _job(db, "old-failed", created=OLD, final=State.FAILED)
    _job(db, "old-timed-out", created=OLD, final=State.TIMED_OUT)
    _job(db, "old-queued", created=OLD, final=None)  # never finished: kept however old
    _job(db, "recent-completed", created=RECENT, final=State.COMPLETED)
    db.run_write(
        lambda connection: connection.execute(
            TICKS.insert(),
            [
                {
                    "schedule_id": "s1",
                    "tick_at": at,
                    "outcome": "submitted",
                    "replica": "r",
                    "created_at": at,
                }
                for at in (OLD, RECENT)
            ],
        )
    )
    for started, name in ((OLD, "old-run"), (RECENT, "recent-run")):
        RunRecorder(
            db=db, kind="worker", name=name, clock=ManualClock(started), flush_every=timedelta()
        ).start().finish()
    running_since_long = RunRecorder(
        db=db, kind="worker", name="still-running", clock=ManualClock(OLD), flush_every=timedelta()
    ).start()

    report = Maintenance(db=db, clock=ManualClock(NOW), retention=RETENTION).run()

    kept = ["old-queued", "recent-completed"]
    assert _ids(db, ScanJob) == kept
    assert _ids(db, AuditLog) == kept  # every remaining job keeps its whole trail
    assert _ids(db, ScanResult) == ["recent-completed"]
    with db.read() as session:
        trail = session.exec(
            select(AuditLog).where(AuditLog.job_id == "recent-completed").order_by(col(AuditLog.id))
        ).all()
        ticks = [tick.tick_at for tick in session.exec(select(ScheduleTick))]
        runs = sorted(run.name for run in session.exec(select(RunRecord)))
    assert [row.to_state for row in trail] == ["QUEUED", "FETCHING", "ANALYZING", "COMPLETED"]
    assert ticks == [RECENT]
    assert runs == ["recent-run", "still-running"]
    assert running_since_long.id
    assert (report.jobs_deleted, report.results_deleted, report.audit_rows_deleted) == (3, 1, 10)
    assert (report.ticks_deleted, report.runs_deleted) == (1, 1)
    assert report.cutoff == NOW - RETENTION
    assert report.database == ["PRAGMA optimize"]


def test_retention_deletes_in_batches(db: Database) -> None:
    for index in range(7):
        _job(db, f"old-{index}", created=OLD, final=State.FAILED)
    report = MaintenanceReport()
    apply_retention(db, cutoff=NOW - RETENTION, report=report, batch=3)
    assert report.jobs_deleted == 7
    assert _ids(db, ScanJob) == []


def test_no_retention_keeps_everything_and_vacuum_runs_when_asked(db: Database) -> None:
    _job(db, "old-completed", created=OLD, final=State.COMPLETED)
    swept: list[str] = []

    def sweep() -> list[str]:
        swept.append("called")
        return ["c1"]

    report = Maintenance(db=db, clock=ManualClock(NOW), retention=None, sweep=sweep).run(
        vacuum=True
    )
    assert _ids(db, ScanJob) == ["old-completed"]
    assert report.database == ["PRAGMA optimize", "VACUUM"]
    assert (swept, report.containers_removed) == (["called"], ["c1"])


def test_periodic_maintenance_runs_once_per_interval_across_replicas(db: Database) -> None:
    clock = ManualClock(NOW)
    every = timedelta(hours=24)
    first = Maintenance(db=db, clock=clock, retention=RETENTION)
    second = Maintenance(db=db, clock=clock, retention=RETENTION)
    assert first.run_if_due(name="a", every=every) is not None
    assert second.run_if_due(name="b", every=every) is None
    clock.advance(hours=23)
    assert second.run_if_due(name="b", every=every) is None
    clock.advance(hours=1, seconds=1)
    assert second.run_if_due(name="b", every=every) is not None
    with db.read() as session:
        runs = session.exec(
            select(RunRecord)
            .where(RunRecord.kind == MAINTENANCE_KIND)
            .order_by(col(RunRecord.started_at))
        ).all()
    assert [(run.name, run.status) for run in runs] == [("a", "finished"), ("b", "finished")]
    assert runs[0].detail is not None
    assert runs[0].detail["database"] == ["PRAGMA optimize"]


def _result_id(db: Database, job_id: str) -> int:
    with db.read() as session:
        result = session.exec(select(ScanResult).where(ScanResult.job_id == job_id)).one()
    assert result.id is not None
    return result.id


def test_a_result_that_kept_rows_point_to_is_kept_until_nothing_does(db: Database) -> None:
    _job(db, "old-content", created=OLD, final=State.COMPLETED)
    _job(db, "old-not-modified", created=OLD, final=State.COMPLETED)
    _job(db, "recent-not-modified", created=RECENT, final=State.COMPLETED)
    content = _result_id(db, "old-content")

    def point(connection: sa.Connection) -> None:
        for job_id in ("old-not-modified", "recent-not-modified"):
            connection.execute(
                sa.update(RESULTS)
                .where(RESULTS.c.job_id == job_id)
                .values(not_modified=True, previous_result_id=content)
            )
        connection.execute(
            VALIDATORS.insert().values(
                url_key="http://127.0.0.1/",
                etag='"v1"',
                result_id=content,
                job_id="old-content",
                updated_at=OLD,
            )
        )

    db.run_write(point)
    maintenance = Maintenance(db=db, clock=ManualClock(NOW), retention=RETENTION)
    maintenance.run()
    assert _ids(db, ScanJob) == ["old-content", "recent-not-modified"]
    db.run_write(lambda connection: connection.execute(sa.delete(VALIDATORS)))
    maintenance.run()
    assert _ids(db, ScanJob) == ["old-content", "recent-not-modified"]  # still pointed to
    db.run_write(
        lambda connection: connection.execute(sa.update(RESULTS).values(previous_result_id=None))
    )
    maintenance.run()
    assert _ids(db, ScanJob) == ["recent-not-modified"]


def test_the_scheduler_chore_asks_the_database_at_most_once_per_check(db: Database) -> None:
    clock = ManualClock(NOW)
    asked: list[datetime] = []

    class CountingMaintenance(Maintenance):
        def run_if_due(self, *, name: str, every: timedelta) -> MaintenanceReport | None:
            asked.append(self.clock())
            return super().run_if_due(name=name, every=every)

    chore = periodic_maintenance(
        CountingMaintenance(db=db, clock=clock, retention=RETENTION),
        name="s1",
        every=timedelta(hours=1),
        check_every=timedelta(minutes=5),
    )
    for _ in range(30):  # 30 scheduler steps, 30 s apart: 15 minutes
        chore(clock())
        clock.advance(seconds=30)
    assert asked == [NOW, NOW + timedelta(minutes=5), NOW + timedelta(minutes=10)]
    with db.read() as session:
        runs = session.exec(select(RunRecord).where(RunRecord.kind == MAINTENANCE_KIND)).all()
    assert len(runs) == 1


def test_upkeep_runs_again_when_sqlite_refuses_it_as_locked(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reader that must become a writer (ANALYZE under PRAGMA optimize) while another
    # connection commits gets "database is locked" at once, without the busy timeout.
    connect = db.engine.raw_connection
    refused: list[str] = []

    def locked_once() -> Any:
        if not refused:
            refused.append("database is locked")
            raise sqlite3.OperationalError("database is locked")
        return connect()

    monkeypatch.setattr(db.engine, "raw_connection", locked_once)
    assert upkeep(db, vacuum=True) == ["PRAGMA optimize", "VACUUM"]
    assert refused == ["database is locked"]


def test_upkeep_that_stays_locked_is_reported_as_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(url="file::memory:", busy_timeout_ms=200)

    def always_locked() -> Any:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(db.engine, "raw_connection", always_locked)
    with pytest.raises(DatabaseBusy, match="database stayed locked"):
        upkeep(db, vacuum=False)
