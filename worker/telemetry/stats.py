"""``scanbox stats``: jobs per state, recent runs, drain progress and schedules, once or live."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from sqlalchemy import case, func
from sqlmodel import col, select

from worker.cli.views import _iso, state_text
from worker.clock import Clock, utcnow
from worker.store import queries
from worker.store.database import Database
from worker.store.models import RunRecord, Schedule

#: Runs shown unless asked otherwise.
DEFAULT_RUN_LIMIT = 10


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


def take_snapshot(
    db: Database, *, limit: int = DEFAULT_RUN_LIMIT, clock: Clock = utcnow
) -> Snapshot:
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


def _seconds(run: RunRecord, now: datetime) -> float:
    end = run.finished_at or now
    return max((end - run.started_at).total_seconds(), 0.0)


def run_dict(run: RunRecord, *, now: datetime) -> dict[str, Any]:
    """A run record as JSON."""
    return {
        "id": run.id,
        "kind": run.kind,
        "name": run.name,
        "group_id": run.group_id,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "updated_at": _iso(run.updated_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": round(_seconds(run, now), 3),
        "processed": run.processed,
        "succeeded": run.succeeded,
        "failed": run.failed,
        "skipped": run.skipped,
        "retried": run.retried,
        "busy_ms": run.busy_ms,
        "job_limit": run.job_limit,
        "detail": run.detail,
    }


def snapshot_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as the JSON object ``stats --json`` prints."""
    return {
        "at": _iso(snapshot.at),
        "states": snapshot.states,
        "runs": [run_dict(run, now=snapshot.at) for run in snapshot.runs],
        "drains": [
            {
                "group_id": drain.group_id,
                "limit": drain.limit,
                "processed": drain.processed,
                "running": drain.running,
            }
            for drain in snapshot.drains
        ],
        "schedules": snapshot.schedules,
    }


def render(snapshot: Snapshot) -> RenderableType:
    """The snapshot as tables (and a progress bar per running drain) for a terminal."""
    states = Table(title="jobs by state", title_justify="left")
    for state in snapshot.states:
        states.add_column(state_text(state), justify="right")
    states.add_row(*(str(count) for count in snapshot.states.values()))
    runs = Table(title="recent runs", title_justify="left")
    for name in ("kind", "name", "status", "started", "time s", "done", "ok", "failed"):
        runs.add_column(name, justify="right" if name not in ("kind", "name", "status") else "left")
    for name in ("skipped", "retried", "per s"):
        runs.add_column(name, justify="right")
    for run in snapshot.runs:
        seconds = _seconds(run, snapshot.at)
        runs.add_row(
            run.kind,
            run.name,
            run.status,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{seconds:.1f}",
            str(run.processed),
            str(run.succeeded),
            str(run.failed),
            str(run.skipped),
            str(run.retried),
            f"{run.processed / seconds:.2f}" if seconds > 0 else "-",
        )
    parts: list[RenderableType] = [states, runs]
    for drain in snapshot.drains:
        line = Table.grid(padding=(0, 1))
        line.add_row(
            Text(f"drain {drain.group_id[:12]}"),
            ProgressBar(total=drain.limit, completed=min(drain.processed, drain.limit), width=40),
            Text(f"{drain.processed}/{drain.limit}"),
        )
        parts.append(line)
    schedules = snapshot.schedules
    parts.append(
        Text(
            f"schedules: {schedules['active']} active, {schedules['inactive']} inactive, "
            f"{schedules['invalid']} invalid"
        )
    )
    return Group(*parts)


def watch(
    take: Callable[[], Snapshot],
    *,
    console: Console,
    every_s: float,
    iterations: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Redraw ``render(take())`` every ``every_s`` until interrupted (or ``iterations``)."""
    shown = 0
    with Live(render(take()), console=console, auto_refresh=False) as live:
        shown += 1
        while iterations is None or shown < iterations:
            sleep(every_s)
            live.update(render(take()), refresh=True)
            shown += 1
    return shown
