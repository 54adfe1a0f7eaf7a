"""The tables of cron schedules: each schedule, and each tick fired across the replicas."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from statemachine.tables import UTCDateTime, table_of, timestamp


class Schedule(SQLModel, table=True):
    """A URL scanned again and again on a cron expression (UTC), read by ``scanbox scheduler``."""

    __tablename__ = "schedules"

    id: str = Field(primary_key=True, max_length=32)
    url: str
    #: Five fields (minute resolution) or six (a sixth field of seconds), always in UTC.
    cron: str
    #: Inactive schedules are kept but never fire.
    active: bool = True
    #: Queue priority of the scans this schedule submits.
    priority: str = Field(default="normal", max_length=8)
    created_at: datetime = timestamp(nullable=False)
    updated_at: datetime = timestamp(nullable=False)
    #: The tick of the latest scan this schedule submitted, and that scan's job.
    last_run_at: datetime | None = timestamp()
    last_job_id: str | None = Field(default=None, max_length=32)
    #: The next tick the schedulers will fire (informational: ticks follow ``cron``).
    next_run_at: datetime | None = timestamp()
    #: Ticks skipped because the previous scan was not finished yet.
    skipped_ticks: int = 0
    #: Why the schedulers skip this schedule (an invalid cron expression), until it is fixed.
    error: str | None = None
    #: Scans in a row that ended FAILED, TIMED_OUT or DISCARDED; a COMPLETED one resets it.
    consecutive_failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: The latest scan counted in ``consecutive_failures`` (each is counted once).
    counted_job_id: str | None = Field(default=None, max_length=32)
    #: When the schedule was paused for failing ``SCHEDULE_MAX_FAILURES`` times in a row (it
    #: is then inactive), and why; ``schedule enable`` clears both.
    paused_at: datetime | None = timestamp()
    pause_reason: str | None = None
    #: How its scans are made: ``http`` or ``browser``.
    mode: str = Field(default="http", max_length=8, sa_column_kwargs={"server_default": "http"})


class ScheduleTick(SQLModel, table=True):
    """One tick of one schedule, fired once across every scheduler replica (the primary key)."""

    __tablename__ = "schedule_ticks"

    schedule_id: str = Field(primary_key=True, max_length=32)
    tick_at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    #: ``submitted`` (``job_id`` is the scan) or ``skipped`` (the previous scan was running).
    outcome: str = Field(max_length=16)
    job_id: str | None = Field(default=None, max_length=32)
    #: The scheduler replica that fired the tick.
    replica: str
    created_at: datetime = timestamp(nullable=False)


#: Typed tables, for statements built by hand.
SCHEDULES = table_of(Schedule)
TICKS = table_of(ScheduleTick)
