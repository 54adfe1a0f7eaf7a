"""Schedules that keep failing: each scan's outcome counted once, a pause after too many.

A schedule's latest scan (``last_job_id``) is counted once it is terminal: FAILED, TIMED_OUT
and DISCARDED add one to ``consecutive_failures``, COMPLETED sets it back to 0, and the row
remembers the scan it counted (``counted_job_id``). The count that reaches ``max_failures``
pauses the schedule: it becomes inactive with ``paused_at`` and ``pause_reason`` on its row,
and the replica whose write did it logs one warning. ``schedule enable`` clears the pause and
the count (``worker.schedule.schedules.set_active``).

Counting is a conditional ``UPDATE`` (the row still names that scan as its latest, not yet
counted), so replicas that count the same scan at once count it once. Schedulers count at
every step (``pending_outcomes``, then ``count_outcome`` for each), and in the transaction
that fires a tick (``worker.schedule.ticks``), so a schedule that has just failed for the
last time never submits another scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from worker.logs import get_logger
from worker.store.models import JOBS, SCHEDULES

#: Failed scans in a row that pause a schedule unless the settings say otherwise.
DEFAULT_MAX_FAILURES = 5
#: The terminal states that count as a failed scan.
FAILURES = frozenset({State.FAILED, State.TIMED_OUT, State.DISCARDED})


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A schedule's latest scan, finished and not counted yet."""

    schedule_id: str
    job_id: str
    state: State
    error_code: str | None
    #: The count before this scan.
    failures: int


@dataclass(frozen=True, kw_only=True)
class Counted:
    """What counting one scan did to its schedule."""

    schedule_id: str
    failures: int
    paused: bool
    reason: str | None = None


def pending_outcomes(connection: Connection) -> list[Outcome]:
    """The finished, uncounted latest scans of every active schedule."""
    rows = connection.execute(
        sa.select(
            SCHEDULES.c.id,
            SCHEDULES.c.last_job_id,
            SCHEDULES.c.consecutive_failures,
            JOBS.c.state,
            JOBS.c.error_code,
        )
        .select_from(SCHEDULES.join(JOBS, JOBS.c.id == SCHEDULES.c.last_job_id))
        .where(
            SCHEDULES.c.active.is_(True),
            sa.or_(
                SCHEDULES.c.counted_job_id.is_(None),
                SCHEDULES.c.counted_job_id != SCHEDULES.c.last_job_id,
            ),
            JOBS.c.state.in_([state.value for state in (*FAILURES, State.COMPLETED)]),
        )
    )
    return [
        Outcome(
            schedule_id=row.id,
            job_id=row.last_job_id,
            state=State(row.state),
            error_code=row.error_code,
            failures=row.consecutive_failures,
        )
        for row in rows
    ]


def pause_reason(outcome: Outcome, *, failures: int) -> str:
    """What a paused schedule's row says about why."""
    code = f" ({outcome.error_code})" if outcome.error_code else ""
    return (
        f"paused: {failures} scans in a row failed (FAILED, TIMED_OUT or DISCARDED); "
        f"the last, job {outcome.job_id}, ended {outcome.state.value}{code}"
    )


def count_outcome(
    connection: Connection, outcome: Outcome, *, max_failures: int, now: datetime
) -> Counted | None:
    """Count ``outcome`` on its schedule, pausing it at ``max_failures`` (0: never).

    ``None`` when another replica counted it first (or the schedule moved on); then nothing
    is written.
    """
    failures = outcome.failures + 1 if outcome.state in FAILURES else 0
    paused = max_failures > 0 and failures >= max_failures
    values: dict[str, object] = {"consecutive_failures": failures, "counted_job_id": outcome.job_id}
    reason = None
    if paused:
        reason = pause_reason(outcome, failures=failures)
        values.update(
            active=False, paused_at=now, pause_reason=reason, next_run_at=None, updated_at=now
        )
    result = connection.execute(
        SCHEDULES.update()
        .where(
            SCHEDULES.c.id == outcome.schedule_id,
            SCHEDULES.c.active.is_(True),
            SCHEDULES.c.last_job_id == outcome.job_id,
            sa.or_(
                SCHEDULES.c.counted_job_id.is_(None),
                SCHEDULES.c.counted_job_id != outcome.job_id,
            ),
        )
        .values(**values)
    )
    if result.rowcount != 1:
        return None
    return Counted(schedule_id=outcome.schedule_id, failures=failures, paused=paused, reason=reason)


def report_counted(counted: Counted, *, replica: str) -> None:
    """Log a pause (a warning, once: only the replica whose write paused it gets here)."""
    if counted.paused:
        get_logger(replica=replica, schedule=counted.schedule_id).warning(
            "schedule_paused", failures=counted.failures, reason=counted.reason
        )
