"""``scanbox scheduler``: submits a scan for every tick of every active schedule.

Each replica re-reads the ``schedules`` table every ``refresh`` and keeps, per valid active
schedule, its next tick on the cron grid (UTC). Ticks are absolute times, so every replica
computes the same ones; when a tick is due each replica tries to fire it, in one write
transaction that

1. re-reads the schedule row: gone, disabled, its cron changed or its URL no longer valid means
   "don't fire, refresh now" (so an edit takes effect at the next tick at the latest);
2. inserts the ``(schedule_id, tick_at)`` row of ``schedule_ticks``, whose primary key lets only
   one replica ever fire a tick (finding the row, or a key conflict, means another won);
3. looks at the schedule's previous scan: still not terminal means the tick is ``skipped``
   (counted on the schedule and in the replica's run record), else it counts the scan's
   outcome and creates the QUEUED job, or pauses the schedule when that scan was one failure
   too many (``worker.schedule.failures``; each step counts finished scans too).

The job is dispatched to the queue after the commit, as ``submit`` does; if that fails the job
stays QUEUED for the reconciler. A scheduler that wakes after several ticks fires only the
latest of them. An invalid cron expression is logged, written to the row's ``error`` and
skipped until it is fixed; the other schedules run on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import redis.exceptions
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import select

from statemachine.states import State
from worker.clock import Clock, utcnow
from worker.errors import ScanboxError
from worker.logs import get_logger
from worker.queue.dispatch import Dispatcher
from worker.schedule.cron import Cron
from worker.schedule.failures import (
    DEFAULT_MAX_FAILURES,
    Counted,
    count_outcome,
    pending_outcomes,
    report_counted,
)
from worker.schedule.ticks import Plan, Tick, claim_tick, schedule_problem
from worker.store.database import Database
from worker.store.models import SCHEDULES, Schedule
from worker.telemetry.metrics import Metrics
from worker.telemetry.runs import RunRecorder

#: Longest the scheduler sleeps at once, so that a clock change is noticed soon.
MAX_SLEEP_S = 60.0
#: Pause before a step that failed (database or Redis unreachable) is tried again.
STEP_RETRY_S = 5.0


@dataclass(kw_only=True)
class Scheduler:
    """One scheduler replica. Drive it with ``step()`` (tests) or ``run()`` (the process)."""

    db: Database
    dispatcher: Dispatcher
    replica: str
    refresh_every: timedelta
    max_attempts: int
    clock: Clock = utcnow
    recorder: RunRecorder | None = None
    metrics: Metrics | None = None
    #: Called once per step with the current time: periodic maintenance, for one.
    chores: Callable[[datetime], None] | None = None
    #: Pause after a step that failed because the database or Redis was unreachable.
    retry_after: timedelta = timedelta(seconds=STEP_RETRY_S)
    #: Failed scans in a row that pause a schedule (``worker.schedule.failures``); 0: never.
    max_failures: int = DEFAULT_MAX_FAILURES
    plans: dict[str, Plan] = field(default_factory=dict)
    #: Expressions already reported as invalid, per schedule, so each is logged once.
    reported: dict[str, str] = field(default_factory=dict)
    next_refresh: datetime | None = None

    @property
    def actor(self) -> str:
        """The audit trail's name for this replica."""
        return f"scheduler:{self.replica}"

    def refresh(self) -> None:
        """Re-read the schedules table: pick up added, changed, disabled and removed rows."""
        now = self.clock()
        log = get_logger(replica=self.replica)
        with self.db.read() as session:
            rows = list(session.exec(select(Schedule)))
        seen: set[str] = set()
        for row in rows:
            if not row.active:
                continue
            schedule_id = row.id
            problem = schedule_problem(cron=row.cron, url=row.url)
            if problem is not None:
                self.plans.pop(schedule_id, None)
                self._report(row, problem)
                continue
            seen.add(schedule_id)
            cron = Cron.parse(row.cron)
            known = self.plans.get(schedule_id)
            if known is not None and known.cron == cron:
                continue
            plan = Plan(schedule_id=schedule_id, cron=cron, next_tick=cron.next_after(now))
            self.plans[schedule_id] = plan
            self.reported.pop(schedule_id, None)
            log.info(
                "schedule_loaded" if known is None else "schedule_changed",
                schedule=schedule_id,
                cron=cron.expression,
                next_tick=plan.next_tick.isoformat(),
            )
            self._publish(row, plan)
        for schedule_id in set(self.plans) - seen:
            del self.plans[schedule_id]
            log.info("schedule_dropped", schedule=schedule_id)
        self.next_refresh = now + self.refresh_every
        if self.recorder is not None:
            self.recorder.note("refreshes")
            self.recorder.flush()
        log.info(
            "schedules_refreshed", active=len(self.plans), rows=len(rows), read_at=now.isoformat()
        )

    def _report(self, row: Schedule, problem: str) -> None:
        schedule_id = row.id
        if self.reported.get(schedule_id) != problem:
            self.reported[schedule_id] = problem
            get_logger(replica=self.replica).warning(
                "schedule_invalid", schedule=schedule_id, error=problem
            )
        if row.error == problem:
            return

        def write(connection: Connection) -> None:
            connection.execute(
                SCHEDULES.update()
                .where(SCHEDULES.c.id == schedule_id, SCHEDULES.c.cron == row.cron)
                .values(error=problem, next_run_at=None)
            )

        self.db.run_write(write)

    def _publish(self, row: Schedule, plan: Plan) -> None:
        """Show the plan on the row (``next_run_at``) and clear an old error, if they differ."""
        if row.next_run_at == plan.next_tick and row.error is None:
            return

        def write(connection: Connection) -> None:
            connection.execute(
                SCHEDULES.update()
                .where(SCHEDULES.c.id == plan.schedule_id, SCHEDULES.c.cron == row.cron)
                .values(error=None, next_run_at=plan.next_tick)
            )

        self.db.run_write(write)

    def fire_due(self) -> list[Tick]:
        """Fire every tick that is due now; return what became of each."""
        now = self.clock()
        ticks = []
        for plan in sorted(self.plans.values(), key=lambda plan: plan.next_tick):
            due = plan.cron.latest_due(plan.next_tick, now)
            if due is None:
                continue
            plan.next_tick = plan.cron.next_after(due)
            ticks.append(self._fire(plan, due))
        if any(tick.outcome in ("stale", "paused") for tick in ticks):
            self.next_refresh = now
        return ticks

    def count_outcomes(self) -> list[Counted]:
        """Count the finished latest scan of every active schedule; pause those failing too
        often (the plan of a paused one is dropped at the refresh this asks for)."""
        with self.db.read() as session:
            pending = pending_outcomes(session.connection())
        done = []
        for outcome in pending:
            counted = self.db.run_write(
                partial(
                    count_outcome, outcome=outcome, max_failures=self.max_failures, now=self.clock()
                )
            )
            if counted is None:
                continue
            report_counted(counted, replica=self.replica)
            done.append(counted)
            if counted.paused:
                self.next_refresh = self.clock()
        return done

    def _fire(self, plan: Plan, tick_at: datetime) -> Tick:
        log = get_logger(replica=self.replica, schedule=plan.schedule_id, tick=tick_at.isoformat())
        started = time.monotonic()
        try:
            tick = self.db.run_write(
                lambda connection: claim_tick(
                    connection,
                    plan=plan,
                    tick_at=tick_at,
                    replica=self.replica,
                    actor=self.actor,
                    max_attempts=self.max_attempts,
                    now=self.clock(),
                    max_failures=self.max_failures,
                )
            )
        except sa.exc.IntegrityError:
            tick = Tick(schedule_id=plan.schedule_id, tick_at=tick_at, outcome="lost")
        except (ScanboxError, sa.exc.SQLAlchemyError) as error:
            log.error("tick_failed", error=str(error))
            tick = Tick(schedule_id=plan.schedule_id, tick_at=tick_at, outcome="failed")
        if tick.counted is not None:
            report_counted(tick.counted, replica=self.replica)
        if tick.outcome == "submitted" and tick.job_id is not None:
            try:
                self.dispatcher.dispatch([tick.job_id], priority=tick.priority)
            except redis.exceptions.RedisError as error:
                log.warning("dispatch_failed", job_id=tick.job_id, error=str(error))
        self._count(tick, busy_ms=(time.monotonic() - started) * 1000)
        if tick.outcome == "submitted":
            log.info("tick_submitted", job_id=tick.job_id, state=State.QUEUED.value)
        elif tick.outcome == "skipped":
            log.info("tick_skipped", reason="the previous scan is not finished")
        elif tick.outcome == "paused":
            log.info("tick_not_fired", reason="the schedule is paused")
        else:
            log.debug(f"tick_{tick.outcome}")
        return tick

    def _count(self, tick: Tick, *, busy_ms: float) -> None:
        if self.metrics is not None:
            self.metrics.ticks.labels(outcome=tick.outcome).inc()
            if tick.outcome == "submitted":
                self.metrics.count_transitions([(None, State.QUEUED.value)])
        if self.recorder is None:
            return
        if tick.outcome == "submitted":
            self.recorder.count("succeeded", busy_ms=busy_ms)
        elif tick.outcome in ("skipped", "failed"):
            self.recorder.count(tick.outcome, busy_ms=busy_ms)
        else:
            self.recorder.note(tick.outcome)

    def step(self) -> float:
        """Refresh if it is time, fire what is due; return seconds until there is more to do."""
        self.count_outcomes()
        if self.next_refresh is None or self.clock() >= self.next_refresh:
            self.refresh()
        self.fire_due()
        if self.chores is not None:
            self.chores(self.clock())
        now = self.clock()
        assert self.next_refresh is not None
        wake = min([self.next_refresh, *(plan.next_tick for plan in self.plans.values())])
        return min(max((wake - now).total_seconds(), 0.0), MAX_SLEEP_S)

    def run(self, *, stop: threading.Event) -> None:
        """Step until ``stop`` is set, sleeping on it in between."""
        get_logger(replica=self.replica).info(
            "scheduler_started", refresh_s=self.refresh_every.total_seconds()
        )
        while not stop.is_set():
            try:
                pause = self.step()
            except (ScanboxError, sa.exc.SQLAlchemyError, redis.exceptions.RedisError) as error:
                # The database or Redis is away: keep the plans, try again shortly.
                get_logger(replica=self.replica).error("scheduler_step_failed", error=str(error))
                pause = self.retry_after.total_seconds()
            stop.wait(pause)
        get_logger(replica=self.replica).info("scheduler_stopped")
