"""Maintenance: retention of old finished jobs, removal of stray containers, database upkeep.

What retention deletes, and why: a *terminal* job whose ``finished_at`` is older than the
cutoff is deleted whole (its ``scan_jobs`` row, its result, every one of its audit rows, its
lineage, the child rows it is in, its producers' requests and its webhook deliveries) in one
transaction per batch. A job that remains therefore always has its complete audit trail, and
no result outlives its job. Jobs that are not terminal are never touched, however old.
Neither is a job whose result holds content that something kept still points to: the URL's
stored validators (``url_validators.result_id``) or a not-modified result
(``previous_result_id``) of a kept job; it goes at a later run, once nothing points to it.
Also deleted past the cutoff: ``schedule_ticks`` rows (a schedule whose last scan was deleted
treats it as finished) and finished run records. Schedules themselves are never deleted.

Upkeep on SQLite: ``PRAGMA optimize`` every run; ``VACUUM`` (which rewrites the whole file and
blocks writers while it runs) only when asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import TERMINAL
from worker.clock import Clock
from worker.logs import get_logger
from worker.store.artifacts import ArtifactStore
from worker.store.database import Database
from worker.store.lineage import forget
from worker.store.models import (
    AUDIT,
    DELIVERIES,
    JOBS,
    PEERS,
    REQUESTS,
    RESULTS,
    RUNS,
    TICKS,
    VALIDATORS,
)
from worker.telemetry.runs import RunKind, RunRecorder

#: Jobs deleted per write transaction, so that workers never wait long for the write lock.
RETENTION_BATCH = 500
#: The ``kind`` of maintenance run records.
MAINTENANCE_KIND: RunKind = "maintenance"

_TERMINAL_NAMES = sorted(state.value for state in TERMINAL)

#: Removes stray fetcher containers; returns what it removed.
ContainerSweep = Callable[[], list[str]]


@dataclass(kw_only=True)
class MaintenanceReport:
    """What one maintenance run did."""

    cutoff: datetime | None = None
    jobs_deleted: int = 0
    results_deleted: int = 0
    audit_rows_deleted: int = 0
    #: Rows of ``scan_lineage`` and ``scan_children`` that named a deleted job.
    lineage_rows_deleted: int = 0
    ticks_deleted: int = 0
    runs_deleted: int = 0
    containers_removed: list[str] = field(default_factory=list)
    #: Artifacts (by sha256) no remaining result names any more, removed from the store.
    artifacts_removed: int = 0
    database: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON."""
        data = asdict(self)
        data["cutoff"] = None if self.cutoff is None else self.cutoff.isoformat()
        data["duration_ms"] = round(self.duration_ms, 1)
        return data


def apply_retention(
    db: Database, *, cutoff: datetime, report: MaintenanceReport, batch: int = RETENTION_BATCH
) -> None:
    """Delete terminal jobs finished before ``cutoff`` (whole), and old ticks and runs."""
    report.cutoff = cutoff

    referenced = sa.union(
        sa.select(RESULTS.c.previous_result_id).where(RESULTS.c.previous_result_id.is_not(None)),
        sa.select(VALIDATORS.c.result_id),
    )
    pointed_to = sa.select(RESULTS.c.job_id).where(RESULTS.c.id.in_(referenced))

    def delete_batch(connection: Connection) -> int:
        old = (
            sa.select(JOBS.c.id)
            .where(
                JOBS.c.state.in_(_TERMINAL_NAMES),
                JOBS.c.finished_at < cutoff,
                JOBS.c.id.not_in(pointed_to),
            )
            .limit(batch)
        )
        ids = list(connection.execute(old).scalars())
        if not ids:
            return 0
        connection.execute(sa.delete(PEERS).where(PEERS.c.job_id.in_(ids)))
        results = connection.execute(sa.delete(RESULTS).where(RESULTS.c.job_id.in_(ids)))
        audit = connection.execute(sa.delete(AUDIT).where(AUDIT.c.job_id.in_(ids)))
        report.lineage_rows_deleted += sum(forget(connection, ids))
        connection.execute(sa.delete(REQUESTS).where(REQUESTS.c.job_id.in_(ids)))
        connection.execute(sa.delete(DELIVERIES).where(DELIVERIES.c.job_id.in_(ids)))
        jobs = connection.execute(sa.delete(JOBS).where(JOBS.c.id.in_(ids)))
        report.results_deleted += results.rowcount
        report.audit_rows_deleted += audit.rowcount
        report.jobs_deleted += jobs.rowcount
        return len(ids)

    while db.run_write(delete_batch) == batch:
        pass

    def delete_history(connection: Connection) -> None:
        ticks = connection.execute(sa.delete(TICKS).where(TICKS.c.tick_at < cutoff))
        runs = connection.execute(
            sa.delete(RUNS).where(RUNS.c.finished_at.is_not(None), RUNS.c.finished_at < cutoff)
        )
        report.ticks_deleted += ticks.rowcount
        report.runs_deleted += runs.rowcount

    db.run_write(delete_history)


def referenced_artifacts(db: Database) -> set[str]:
    """The sha256 of every artifact a result still names."""
    with db.read() as session:
        rows = session.execute(
            sa.select(RESULTS.c.artifacts).where(RESULTS.c.artifacts.is_not(None))
        ).scalars()
        return {
            str(item["sha256"])
            for artifacts in rows
            for item in artifacts or ()
            if isinstance(item, dict) and "sha256" in item
        }


def upkeep(db: Database, *, vacuum: bool) -> list[str]:
    """Run SQLite's ``PRAGMA optimize`` (and ``VACUUM``); return the statements run."""
    if db.engine.dialect.name != "sqlite":
        return []
    statements = ["PRAGMA optimize", *(["VACUUM"] if vacuum else [])]
    db.run_outside_transaction(statements)
    return statements


@dataclass(kw_only=True)
class Maintenance:
    """One deployment's maintenance: retention, stray containers, database upkeep."""

    db: Database
    clock: Clock
    #: How long terminal jobs are kept; ``None``: forever.
    retention: timedelta | None
    sweep: ContainerSweep | None = None
    #: The artifact store whose unreferenced artifacts retention removes.
    artifacts: ArtifactStore | None = None

    def run(self, *, vacuum: bool = False) -> MaintenanceReport:
        """Do every chore once; return what was done."""
        started = time.monotonic()
        report = MaintenanceReport()
        if self.retention is not None:
            apply_retention(self.db, cutoff=self.clock() - self.retention, report=report)
            if self.artifacts is not None:
                report.artifacts_removed = len(self.artifacts.sweep(referenced_artifacts(self.db)))
        if self.sweep is not None:
            report.containers_removed = self.sweep()
        report.database = upkeep(self.db, vacuum=vacuum)
        report.duration_ms = (time.monotonic() - started) * 1000
        get_logger().info("maintenance_done", **report.as_dict())
        return report

    def run_recorded(self, *, name: str, vacuum: bool = False) -> MaintenanceReport:
        """``run``, with a run record of kind ``maintenance`` holding the report."""
        recorder = RunRecorder(
            db=self.db, kind=MAINTENANCE_KIND, name=name, clock=self.clock, flush_every=timedelta()
        ).start()
        return self._finish(recorder, vacuum=vacuum)

    def run_if_due(self, *, name: str, every: timedelta) -> MaintenanceReport | None:
        """Run unless a maintenance run started less than ``every`` ago (across replicas)."""
        recorder = RunRecorder(
            db=self.db, kind=MAINTENANCE_KIND, name=name, clock=self.clock, flush_every=timedelta()
        )
        now = self.clock()

        def claim(connection: Connection) -> bool:
            latest = connection.execute(
                sa.select(sa.func.max(RUNS.c.started_at)).where(RUNS.c.kind == MAINTENANCE_KIND)
            ).scalar_one_or_none()
            if latest is not None and latest > now - every:
                return False
            recorder.insert(connection, now=now)
            return True

        if not self.db.run_write(claim):
            return None
        return self._finish(recorder, vacuum=False)

    def _finish(self, recorder: RunRecorder, *, vacuum: bool) -> MaintenanceReport:
        try:
            report = self.run(vacuum=vacuum)
        except BaseException:
            recorder.finish(crashed=True)
            raise
        recorder.detail.update(report.as_dict())
        recorder.counts.processed = report.jobs_deleted
        recorder.counts.succeeded = report.jobs_deleted
        recorder.counts.busy_ms = report.duration_ms
        recorder.finish()
        return report
