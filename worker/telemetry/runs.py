"""Run records: what one worker process, scheduler or maintenance run did, kept in ``runs``.

A run counts what it takes on (jobs for a worker, ticks for a scheduler) as ``processed``, and
how each ended: ``succeeded``, ``failed``, ``skipped`` (not this run's to do: another replica
had the job, or a schedule's previous scan was still going) or ``retried`` (put back in the
queue for another attempt). The counts live in memory and are written to the run's row at most
every ``flush_every`` and when the run finishes, so recording costs a running worker one small
write every few seconds, not one per job. A run whose process was killed keeps the status
``running`` and the counts of its last write.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from worker.clock import Clock
from worker.errors import ScanboxError
from worker.logs import get_logger
from worker.store.database import Database
from worker.store.models import RUNS

#: How one piece of work ended, as counted in a run record.
Outcome = Literal["succeeded", "failed", "skipped", "retried"]
#: What kind of process a run record is about.
RunKind = Literal["worker", "scheduler", "maintenance"]

#: The outcome counted for each state a scan attempt ends in (``None``: not this worker's).
SCAN_OUTCOMES: dict[State | None, Outcome] = {
    State.COMPLETED: "succeeded",
    State.FAILED: "failed",
    State.TIMED_OUT: "failed",
    State.DISCARDED: "failed",
    State.QUEUED: "retried",
    None: "skipped",
}


def scan_outcome(state: State | None) -> Outcome:
    """How a scan attempt that ended in ``state`` counts (a state mid-scan counts as failed)."""
    return SCAN_OUTCOMES.get(state, "failed")


@dataclass(kw_only=True)
class RunCounts:
    """What a run has done so far."""

    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    busy_ms: float = 0.0

    def add(self, outcome: Outcome, *, busy_ms: float = 0.0) -> None:
        """Count one piece of work that ended with ``outcome`` after ``busy_ms``."""
        self.processed += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.busy_ms += busy_ms

    def as_dict(self) -> dict[str, Any]:
        """The counts as the JSON object summaries print."""
        data = asdict(self)
        data["busy_ms"] = round(self.busy_ms, 1)
        return data


def new_run_id() -> str:
    """A fresh run id (32 hex digits)."""
    return secrets.token_hex(16)


class RunRecorder:
    """Counts one run's work and keeps its ``runs`` row up to date. Used by one thread."""

    def __init__(
        self,
        *,
        db: Database,
        kind: RunKind,
        name: str,
        clock: Clock,
        flush_every: timedelta,
        group_id: str | None = None,
        job_limit: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.kind = kind
        self.name = name
        self.clock = clock
        self.flush_every = flush_every
        self.group_id = group_id
        self.job_limit = job_limit
        self.detail = dict(detail or {})
        self.id = new_run_id()
        self.counts = RunCounts()
        self._flushed_at = clock()

    def start(self) -> RunRecorder:
        """Insert the run's row, status ``running``."""
        self.db.run_write(lambda connection: self.insert(connection, now=self.clock()))
        return self

    def insert(self, connection: Connection, *, now: datetime) -> None:
        """Insert the run's row in the caller's transaction."""
        values = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "group_id": self.group_id,
            "job_limit": self.job_limit,
            "status": "running",
            "started_at": now,
            "updated_at": now,
            "detail": self.detail or None,
        }
        connection.execute(RUNS.insert().values(**values))
        self._flushed_at = now

    def count(self, outcome: Outcome, *, busy_ms: float = 0.0) -> None:
        """Count one piece of work; write the counts if ``flush_every`` has passed."""
        self.counts.add(outcome, busy_ms=busy_ms)
        if self.clock() - self._flushed_at >= self.flush_every:
            self.flush()

    def note(self, key: str, increment: int = 1) -> None:
        """Add ``increment`` to a counter kept in the run's ``detail`` (written at next flush)."""
        self.detail[key] = int(self.detail.get(key, 0)) + increment

    def flush(self, *, status: str | None = None) -> None:
        """Write the counts now (and ``status``, which also sets ``finished_at``)."""
        now = self.clock()
        values: dict[str, Any] = {
            **self.counts.as_dict(),
            "updated_at": now,
            "detail": self.detail or None,
        }
        if status is not None:
            values.update(status=status, finished_at=now)

        def write(connection: Connection) -> None:
            connection.execute(sa.update(RUNS).where(RUNS.c.id == self.id).values(**values))

        try:
            self.db.run_write(write)
        except (ScanboxError, sa.exc.SQLAlchemyError) as error:
            # Statistics must never stop a scan: keep counting, write them next time.
            get_logger(run=self.id).warning("run_stats_not_written", error=str(error))
            return
        self._flushed_at = now

    def finish(self, *, crashed: bool = False) -> RunCounts:
        """Write the final counts with status ``finished`` (or ``crashed``); return them."""
        self.flush(status="crashed" if crashed else "finished")
        return self.counts


@dataclass(kw_only=True)
class GroupSummary:
    """The runs of one group (the processes of one ``scanbox worker``) added up."""

    processes: int
    counts: RunCounts
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The summary as the JSON object ``scanbox worker --json`` prints."""
        return {
            **self.counts.as_dict(),
            "processes": self.processes,
            "duration_s": round(self.seconds, 3),
        }

    def line(self) -> str:
        """The summary as one line for people."""
        counts = self.counts
        return (
            f"processed {counts.processed} jobs in {self.seconds:.1f} s: "
            f"{counts.succeeded} succeeded, {counts.failed} failed, {counts.skipped} skipped, "
            f"{counts.retried} retried ({self.processes} processes)"
        )


def group_summary(db: Database, group_id: str) -> GroupSummary:
    """Add up the run records of ``group_id``."""
    with db.read() as session:
        rows = list(
            session.connection().execute(sa.select(RUNS).where(RUNS.c.group_id == group_id))
        )
    counts = RunCounts()
    for row in rows:
        counts.processed += row.processed
        counts.succeeded += row.succeeded
        counts.failed += row.failed
        counts.skipped += row.skipped
        counts.retried += row.retried
        counts.busy_ms += row.busy_ms
    seconds = 0.0
    if rows:
        start = min(row.started_at for row in rows)
        end = max(row.finished_at or row.updated_at for row in rows)
        seconds = max((end - start).total_seconds(), 0.0)
    return GroupSummary(processes=len(rows), counts=counts, seconds=seconds)
