"""Firing one tick of one schedule, once across every scheduler replica.

``claim_tick`` is the write transaction described in ``worker.schedule.scheduler``: re-read the
schedule row (gone, disabled or changed means "stale"), insert the ``(schedule_id, tick_at)``
row whose primary key lets one replica fire the tick, then skip the tick while the previous
scan is not terminal, or count its outcome (``worker.schedule.failures``: a last failure
pauses the schedule instead) and create the QUEUED job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import TERMINAL, State
from statemachine.transitions import create_job
from worker.errors import UsageError
from worker.schedule.cron import Cron
from worker.schedule.failures import DEFAULT_MAX_FAILURES, Counted, Outcome, count_outcome
from worker.store.models import JOBS, SCHEDULES, TICKS
from worker.submit.batch import new_job_id
from worker.urls import url_host, validate_url

#: What became of one tick in one replica (``paused``: the previous scan was the last failure
#: the schedule may have, see ``worker.schedule.failures``).
TickOutcome = Literal["submitted", "skipped", "lost", "stale", "failed", "paused"]


def schedule_problem(*, cron: str, url: str) -> str | None:
    """Why a schedule can't fire (a bad cron expression or URL), or ``None``."""
    try:
        Cron.parse(cron)
        validate_url(url)
    except UsageError as error:
        return str(error)
    return None


@dataclass(kw_only=True)
class Plan:
    """What a replica knows of one valid, active schedule: its cron and its next tick."""

    schedule_id: str
    cron: Cron
    next_tick: datetime


@dataclass(frozen=True, kw_only=True)
class Tick:
    """The result of one replica's try at one tick."""

    schedule_id: str
    tick_at: datetime
    outcome: TickOutcome
    job_id: str | None = None
    priority: str = "normal"
    #: The previous scan's outcome, when this tick counted it.
    counted: Counted | None = None


def claim_tick(
    connection: Connection,
    *,
    plan: Plan,
    tick_at: datetime,
    replica: str,
    actor: str,
    max_attempts: int,
    now: datetime,
    max_failures: int = DEFAULT_MAX_FAILURES,
) -> Tick:
    """Try to fire one tick, in the caller's write transaction; say what became of it."""
    counted: Counted | None = None

    def result(outcome: TickOutcome, job_id: str | None = None, priority: str = "normal") -> Tick:
        return Tick(
            schedule_id=plan.schedule_id,
            tick_at=tick_at,
            outcome=outcome,
            job_id=job_id,
            priority=priority,
            counted=counted,
        )

    row = (
        connection.execute(sa.select(SCHEDULES).where(SCHEDULES.c.id == plan.schedule_id))
        .mappings()
        .one_or_none()
    )
    if row is None or not row["active"]:
        return result("stale")
    if schedule_problem(cron=row["cron"], url=row["url"]) is not None:
        return result("stale")
    if Cron.parse(row["cron"]) != plan.cron:
        return result("stale")
    taken = connection.execute(
        sa.select(TICKS.c.outcome).where(
            TICKS.c.schedule_id == plan.schedule_id, TICKS.c.tick_at == tick_at
        )
    ).first()
    if taken is not None:
        return result("lost")
    previous = None
    if row["last_job_id"] is not None:
        last = connection.execute(
            sa.select(JOBS.c.state, JOBS.c.error_code).where(JOBS.c.id == row["last_job_id"])
        ).first()
        previous = None if last is None else last.state
        if last is not None and State(last.state) in TERMINAL:
            if row["counted_job_id"] != row["last_job_id"]:
                counted = count_outcome(
                    connection,
                    Outcome(
                        schedule_id=plan.schedule_id,
                        job_id=row["last_job_id"],
                        state=State(last.state),
                        error_code=last.error_code,
                        failures=row["consecutive_failures"],
                    ),
                    max_failures=max_failures,
                    now=now,
                )
            if counted is not None and counted.paused:
                return result("paused")
    tick_row = {
        "schedule_id": plan.schedule_id,
        "tick_at": tick_at,
        "replica": replica,
        "created_at": now,
    }
    update = SCHEDULES.update().where(SCHEDULES.c.id == plan.schedule_id)
    if previous is not None and State(previous) not in TERMINAL:
        connection.execute(TICKS.insert().values(**tick_row, outcome="skipped"))
        connection.execute(
            update.values(skipped_ticks=SCHEDULES.c.skipped_ticks + 1, next_run_at=plan.next_tick)
        )
        return result("skipped")
    job_id = new_job_id()
    create_job(
        connection,
        job_id=job_id,
        url=row["url"],
        priority=row["priority"],
        max_attempts=max_attempts,
        actor=actor,
        now=now,
        host=url_host(row["url"]),
        mode=row["mode"],
    )
    connection.execute(TICKS.insert().values(**tick_row, outcome="submitted", job_id=job_id))
    connection.execute(
        update.values(last_run_at=tick_at, last_job_id=job_id, next_run_at=plan.next_tick)
    )
    return result("submitted", job_id, row["priority"])
