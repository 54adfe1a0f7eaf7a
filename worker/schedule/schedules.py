"""Recurring scans as rows: adding, listing, enabling, disabling and removing schedules.

The ``schedules`` table is the whole configuration of ``scanbox scheduler``: a row added,
edited, disabled or deleted here (or with plain SQL) takes effect at the schedulers' next
refresh, without a restart.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from statemachine.tables import HTTP_MODE
from worker.clock import Clock, utcnow
from worker.errors import UnknownSchedule, UsageError
from worker.queue.dispatch import PRIORITIES
from worker.schedule.cron import Cron
from worker.store.database import Database
from worker.store.models import SCHEDULES, TICKS, Schedule
from worker.submit.batch import check_mode
from worker.urls import validate_url

#: Random bytes in a schedule id (printed as twice as many hex digits).
SCHEDULE_ID_BYTES = 6


def new_schedule_id() -> str:
    """A fresh schedule id: short enough to type, random enough never to collide in practice."""
    return secrets.token_hex(SCHEDULE_ID_BYTES)


def check_priority(priority: str) -> str:
    """``priority`` if it names a queue priority, else ``UsageError``."""
    if priority not in PRIORITIES:
        raise UsageError(f"unknown priority {priority!r} (use one of {', '.join(PRIORITIES)})")
    return priority


def add_schedule(
    db: Database,
    *,
    url: str,
    cron: str,
    priority: str = "normal",
    active: bool = True,
    mode: str = HTTP_MODE,
    clock: Clock = utcnow,
) -> Schedule:
    """Store a new schedule; bad input raises a ``UsageError`` and stores nothing."""
    checked_url = validate_url(url)
    checked_cron = Cron.parse(cron)
    check_priority(priority)
    check_mode(mode)
    now = clock()
    schedule = Schedule(
        id=new_schedule_id(),
        url=checked_url,
        cron=checked_cron.expression,
        active=active,
        priority=priority,
        mode=mode,
        created_at=now,
        updated_at=now,
        next_run_at=checked_cron.next_after(now) if active else None,
    )

    def store(connection: Connection) -> None:
        connection.execute(SCHEDULES.insert().values(**schedule.model_dump()))

    db.run_write(store)
    return schedule


def list_schedules(db: Database) -> list[Schedule]:
    """Every schedule, oldest first."""
    with db.read() as session:
        return list(
            session.exec(select(Schedule).order_by(col(Schedule.created_at), col(Schedule.id)))
        )


def get_schedule(db: Database, schedule_id: str) -> Schedule:
    """The schedule ``schedule_id``, or ``UnknownSchedule``."""
    return db.get(Schedule, schedule_id, missing=UnknownSchedule)


def set_active(db: Database, schedule_id: str, *, active: bool, clock: Clock = utcnow) -> Schedule:
    """Enable or disable a schedule; return it as stored.

    Enabling clears a pause for failing too often and its count of failed scans in a row
    (``worker.schedule.failures``); the scan that paused it stays counted.
    """
    now = clock()
    schedule = get_schedule(db, schedule_id)
    next_run_at: datetime | None = None
    if active:
        try:
            next_run_at = Cron.parse(schedule.cron).next_after(now)
        except UsageError:
            next_run_at = None  # the scheduler reports the bad expression on the row

    values: dict[str, object] = {"active": active, "updated_at": now, "next_run_at": next_run_at}
    if active:
        values.update(consecutive_failures=0, paused_at=None, pause_reason=None)

    def write(connection: Connection) -> int:
        result = connection.execute(
            SCHEDULES.update().where(SCHEDULES.c.id == schedule_id).values(**values)
        )
        return int(result.rowcount)

    if db.run_write(write) != 1:
        raise UnknownSchedule(schedule_id)
    return get_schedule(db, schedule_id)


def remove_schedule(db: Database, schedule_id: str) -> None:
    """Delete a schedule and its tick history (the scans it submitted stay)."""

    def write(connection: Connection) -> int:
        connection.execute(sa.delete(TICKS).where(TICKS.c.schedule_id == schedule_id))
        result = connection.execute(sa.delete(SCHEDULES).where(SCHEDULES.c.id == schedule_id))
        return int(result.rowcount)

    if db.run_write(write) != 1:
        raise UnknownSchedule(schedule_id)
