"""``scanbox stats``: jobs per state, recent runs, drain progress and schedules, once or live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import col, select

from worker.clock import Clock, utcnow
from worker.store import queries
from worker.store.database import Database
from worker.store.models import RunRecord, Schedule


@dataclass(frozen=True, kw_only=True)
class DrainProgress:
    """A drain (``scanbox worker --max-jobs N``): its processes' work so far against its limit."""

    group_id: str
    limit: int
    processed: int
    running: bool


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Everything ``scanbox stats`` shows, read at ``at``."""

    at: datetime
    states: dict[str, int]
    runs: list[RunRecord]
    drains: list[DrainProgress]
    schedules: dict[str, int]


def take_snapshot(db: Database, *, limit: int, clock: Clock = utcnow) -> Snapshot:
    """Read the counts, the newest ``limit`` runs, running drains and schedule counts."""
    with db.read() as session:
        runs = list(
            session.exec(
                select(RunRecord)
                .order_by(col(RunRecord.started_at).desc(), col(RunRecord.id))
                .limit(limit)
            )
        )
        running_groups = select(RunRecord.group_id).where(
            col(RunRecord.job_limit).is_not(None), RunRecord.status == "running"
        )
        drain_rows = session.exec(
            select(
                RunRecord.group_id,
                func.max(RunRecord.job_limit),
                func.sum(RunRecord.processed),
                func.sum(case((col(RunRecord.status) == "running", 1), else_=0)),
            )
            .where(col(RunRecord.group_id).in_(running_groups))
            .group_by(col(RunRecord.group_id))
        )
        drains = [
            DrainProgress(
                group_id=str(group),
                limit=int(limit_ or 0),
                processed=int(done or 0),
                running=bool(live),
            )
            for group, limit_, done, live in drain_rows
        ]
        schedule_rows = session.exec(select(Schedule.active, Schedule.error))
        schedules = {"active": 0, "inactive": 0, "invalid": 0}
        for active, error in schedule_rows:
            schedules["active" if active else "inactive"] += 1
            schedules["invalid"] += int(bool(active and error))
    return Snapshot(
        at=clock(),
        states=queries.count_by_state(db),
        runs=runs,
        drains=drains,
        schedules=schedules,
    )


def run_seconds(run: RunRecord, now: datetime) -> float:
    end = run.finished_at or now
    return max((end - run.started_at).total_seconds(), 0.0)
